//! Property tests for the parsers in `config`, `xml` and the daemon flags:
//! whatever the input, they answer (a value or a positioned error) and
//! never panic, and what we write reads back unchanged.

use std::path::Path;

use proptest::prelude::*;
use rboinc_core::config::{Config, ConfigError};
use rboinc_core::daemon::normalize_args;
use rboinc_core::xml;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_str_at(text, Path::new("config.xml"), Path::new("/p"), "host")
}

/// Where an error says it is, if it says.
fn position(e: &ConfigError) -> Option<(u32, u32)> {
    match e {
        ConfigError::Malformed { at, .. }
        | ConfigError::Structure { at, .. }
        | ConfigError::InvalidValue { at, .. } => Some((at.line, at.column)),
        _ => None,
    }
}

/// Text that looks like a config file often enough to reach deep branches.
fn configish() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("<boinc>".to_string()),
        Just("</boinc>".to_string()),
        Just("<config>".to_string()),
        Just("</config>".to_string()),
        Just("<db_name>".to_string()),
        Just("</db_name>".to_string()),
        Just("<max_wus_to_send>".to_string()),
        Just("</max_wus_to_send>".to_string()),
        Just("<send_result_abort/>".to_string()),
        Just("<daemons><daemon><cmd>".to_string()),
        Just("</cmd></daemon></daemons>".to_string()),
        Just("&amp;".to_string()),
        Just("&#x41;".to_string()),
        Just("<!-- c -->".to_string()),
        Just("\n".to_string()),
        "[a-z0-9 <>/&;=\"'!?-]{0,8}",
    ];
    prop::collection::vec(token, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #[test]
    fn any_text_gives_a_config_or_an_error_inside_the_file(text in "\\PC{0,200}") {
        if let Err(e) = parse(&text)
            && let Some((line, column)) = position(&e)
        {
            let lines = text.split('\n').count() as u32;
            prop_assert!(line >= 1 && line <= lines, "{e}");
            prop_assert!(column >= 1, "{e}");
        }
    }

    #[test]
    fn config_shaped_text_never_panics(text in configish()) {
        let _ = parse(&text);
    }

    #[test]
    fn numbers_read_back_in_decimal_and_hex(n in any::<u32>(), hex in any::<bool>(), pad in "[ \n\t]{0,3}") {
        let written = if hex { format!("0x{n:x}") } else { n.to_string() };
        let text = format!(
            "<boinc><config><db_name>d</db_name><max_wus_to_send>{pad}{written}{pad}</max_wus_to_send></config></boinc>"
        );
        prop_assert_eq!(parse(&text).unwrap().sched.max_wus_to_send, n);
    }

    #[test]
    fn escaped_text_reads_back_trimmed(value in "\\PC{0,40}") {
        let text = format!(
            "<boinc><config><db_name>d</db_name><long_name>{}</long_name></config></boinc>",
            xml::escape(&value)
        );
        let expected = value.trim();
        let got = parse(&text).unwrap().long_name;
        prop_assert_eq!(got.as_deref(), (!expected.is_empty()).then_some(expected));
    }

    #[test]
    fn xml_escape_round_trips(value in "\\PC{0,60}") {
        let escaped = xml::escape(&value);
        prop_assert_eq!(xml::unescape(&escaped), value.as_str());
    }

    #[test]
    fn tolerant_extractor_finds_what_push_element_wrote(
        before in "[a-z <>/]{0,20}",
        value in "\\PC{0,30}",
    ) {
        let mut doc = before.replace("<name", "<x");
        xml::push_element(&mut doc, "name", &value);
        prop_assert_eq!(xml::text(&doc, "name"), Some(value.trim().to_string()));
    }

    #[test]
    fn tolerant_extractor_never_panics(doc in "\\PC{0,80}", tag in "[a-z_]{1,6}") {
        let _ = xml::text(&doc, &tag);
        let _ = xml::flag(&doc, &tag);
        let _ = xml::raw_elements(&doc, &tag);
    }

    #[test]
    fn normalising_arguments_is_idempotent(args in prop::collection::vec("-{0,2}[a-z_0-9=]{0,8}", 1..8)) {
        let once = normalize_args(args.clone());
        let twice = normalize_args(once.clone());
        prop_assert_eq!(once.len(), args.len());
        prop_assert_eq!(twice, once);
    }
}
