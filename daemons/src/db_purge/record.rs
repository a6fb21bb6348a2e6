//! The text of db_purge's archive records, byte for byte as BOINC's db_purge writes them.
//!
//! Sites read these archives with their own scripts, so the layout is kept exactly: one
//! element per line indented by two spaces, doubles as C's `%.15e` (`1.000000000000000e+12`),
//! `opaque` as `%f`, the XML blobs written raw except `stderr_out`, which is escaped the way
//! BOINC escapes text (see [`boinc_xml_escape`]), and index lines `<id>     <T>    <name>`.

use std::fmt::Write as _;

use rboinc_core::db::result::ResultRow;
use rboinc_core::db::workunit::WorkunitRow;

/// C's `%.<precision>e`: mantissa, `e`, exponent sign, at least two exponent digits.
pub fn c_exp(x: f64, precision: usize) -> String {
    if x.is_nan() {
        return if x.is_sign_negative() { "-nan" } else { "nan" }.to_string();
    }
    if x.is_infinite() {
        return if x < 0.0 { "-inf" } else { "inf" }.to_string();
    }
    let s = format!("{x:.precision$e}");
    let (mantissa, exp) = s.split_once('e').expect("Rust's {:e} has an exponent");
    let exp: i32 = exp.parse().expect("integer exponent");
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.abs())
}

/// C's `%f`.
pub fn c_fixed(x: f64) -> String {
    if x.is_nan() {
        return "nan".to_string();
    }
    if x.is_infinite() {
        return if x < 0.0 { "-inf" } else { "inf" }.to_string();
    }
    format!("{x:.6}")
}

/// BOINC's `xml_escape`: `<` and `&` become entities, bytes above 127 and the control
/// characters tab, newline and carriage return become `&#N;`, other control characters are
/// dropped, `]]>` becomes `]]&gt;`; everything else (including `>`) is kept.
pub fn boinc_xml_escape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'<' => out.push_str("&lt;"),
            b'&' => out.push_str("&amp;"),
            b']' if bytes[i..].starts_with(b"]]>") => {
                out.push_str("]]&gt;");
                i += 2;
            }
            b'\t' | b'\n' | b'\r' => write!(out, "&#{b};").expect("writing to a String"),
            0..=31 => {}
            128..=255 => write!(out, "&#{b};").expect("writing to a String"),
            _ => out.push(char::from(b)),
        }
        i += 1;
    }
    out
}

fn line(out: &mut String, tag: &str, value: impl std::fmt::Display) {
    writeln!(out, "  <{tag}>{value}</{tag}>").expect("writing to a String");
}

/// Appends a `<result_archive>` element.
pub fn result_record(out: &mut String, r: &ResultRow, mod_time: &str) {
    out.push_str("<result_archive>\n");
    line(out, "id", r.id);
    line(out, "create_time", r.create_time);
    line(out, "workunitid", r.workunitid);
    line(out, "server_state", r.server_state as i32);
    line(out, "outcome", r.outcome as i32);
    line(out, "client_state", r.client_state as i32);
    line(out, "hostid", r.hostid);
    line(out, "userid", r.userid);
    line(out, "report_deadline", r.report_deadline);
    line(out, "sent_time", r.sent_time);
    line(out, "received_time", r.received_time);
    line(out, "name", &r.name);
    line(out, "cpu_time", c_exp(r.cpu_time, 15));
    line(out, "xml_doc_in", &r.xml_doc_in);
    line(out, "xml_doc_out", &r.xml_doc_out);
    line(out, "stderr_out", boinc_xml_escape(&r.stderr_out));
    line(out, "batch", r.batch);
    line(out, "file_delete_state", r.file_delete_state as i32);
    line(out, "validate_state", r.validate_state as i32);
    line(out, "claimed_credit", c_exp(r.claimed_credit, 15));
    line(out, "granted_credit", c_exp(r.granted_credit, 15));
    line(out, "opaque", c_fixed(r.opaque));
    line(out, "random", r.random);
    line(out, "app_version_num", r.app_version_num);
    line(out, "app_version_id", r.app_version_id);
    line(out, "appid", r.appid);
    line(out, "exit_status", r.exit_status);
    line(out, "teamid", r.teamid);
    line(out, "priority", r.priority);
    line(out, "mod_time", mod_time);
    out.push_str("</result_archive>\n");
}

/// Appends a `<workunit_archive>` element.
pub fn workunit_record(out: &mut String, w: &WorkunitRow, mod_time: &str) {
    out.push_str("<workunit_archive>\n");
    line(out, "id", w.id);
    line(out, "create_time", w.create_time);
    line(out, "appid", w.appid);
    line(out, "name", &w.name);
    line(out, "xml_doc", &w.xml_doc);
    line(out, "batch", w.batch);
    line(out, "rsc_fpops_est", c_exp(w.rsc_fpops_est, 15));
    line(out, "rsc_fpops_bound", c_exp(w.rsc_fpops_bound, 15));
    line(out, "rsc_memory_bound", c_exp(w.rsc_memory_bound, 15));
    line(out, "rsc_disk_bound", c_exp(w.rsc_disk_bound, 15));
    line(out, "need_validate", w.need_validate);
    line(out, "canonical_resultid", w.canonical_resultid);
    line(out, "canonical_credit", c_exp(w.canonical_credit, 15));
    line(out, "transition_time", w.transition_time);
    line(out, "delay_bound", w.delay_bound);
    line(out, "error_mask", w.error_mask.bits());
    line(out, "file_delete_state", w.file_delete_state as i32);
    line(out, "assimilate_state", w.assimilate_state as i32);
    line(out, "hr_class", w.hr_class);
    line(out, "opaque", c_fixed(w.opaque));
    line(out, "min_quorum", w.min_quorum);
    line(out, "target_nresults", w.target_nresults);
    line(out, "max_error_results", w.max_error_results);
    line(out, "max_total_results", w.max_total_results);
    line(out, "max_success_results", w.max_success_results);
    line(out, "result_template_file", &w.result_template_file);
    line(out, "priority", w.priority);
    line(out, "mod_time", mod_time);
    out.push_str("</workunit_archive>\n");
}

/// Appends an index line: `<id>     <archive time>    <name>`.
pub fn index_line(out: &mut String, id: i64, time: i64, name: &str) {
    writeln!(out, "{id}     {time}    {name}").expect("writing to a String");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponent_form_matches_printf() {
        // Values checked against C's printf("%.15e").
        assert_eq!(c_exp(1e12, 15), "1.000000000000000e+12");
        assert_eq!(c_exp(100.0, 15), "1.000000000000000e+02");
        assert_eq!(c_exp(0.0, 15), "0.000000000000000e+00");
        assert_eq!(c_exp(0.7233796296296297, 15), "7.233796296296297e-01");
        assert_eq!(c_exp(-2.5e-300, 15), "-2.500000000000000e-300");
        assert_eq!(c_exp(1.5, 2), "1.50e+00");
        assert_eq!(c_exp(f64::INFINITY, 15), "inf");
        assert_eq!(c_fixed(0.0), "0.000000");
        assert_eq!(c_fixed(777.0), "777.000000");
        assert_eq!(c_fixed(-0.0000004), "-0.000000");
    }

    #[test]
    fn escaping_is_boincs() {
        // The oracle's scenario 31 stderr_out.
        assert_eq!(
            boinc_xml_escape("<stderr_txt>\na & b < c\n</stderr_txt>\n"),
            "&lt;stderr_txt>&#10;a &amp; b &lt; c&#10;&lt;/stderr_txt>&#10;"
        );
        assert_eq!(boinc_xml_escape("a\tb\rc\u{1}d"), "a&#9;b&#13;cd");
        assert_eq!(boinc_xml_escape("é"), "&#195;&#169;");
        assert_eq!(boinc_xml_escape("x]]>y]]"), "x]]&gt;y]]");
    }

    #[test]
    fn index_lines() {
        let mut s = String::new();
        index_line(&mut s, 1, 1795911069, "p31_0");
        assert_eq!(s, "1     1795911069    p31_0\n");
    }
}
