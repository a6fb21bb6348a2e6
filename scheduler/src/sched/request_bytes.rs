//! A request body as text, byte by byte, the way BOINC's C++ scheduler reads it.
//!
//! BOINC's parser (`lib/parse.cpp`'s `parse_str`, used by `sched/sched_types.cpp`) copies the
//! bytes between a tag's start and end into a `char` buffer without looking at their encoding,
//! and `escape_string` (`db/db_base.cpp`) passes every byte but quotes and backslashes to MySQL.
//! So a client whose host name or CPU model is in a legacy 8-bit code page (a Windows client's
//! `domain_name` in cp1252, say) is served like any other, and the stray byte lands in the
//! column. Refusing the whole request over one byte would drop that volunteer's reports.
//!
//! Our columns are `utf8mb4`, which cannot hold a lone byte that is not UTF-8, so each such byte
//! is read as the Latin-1 character of the same value (0xE9 → `é`): the request is served, the
//! byte's value is kept (a Latin-1 or cp1252 host name reads as its owner wrote it), and every
//! valid UTF-8 sequence is left as it is.

use std::borrow::Cow;

/// `body` as text: valid UTF-8 as is; each byte of an invalid sequence as the Latin-1
/// character of its value. See the module docs.
pub fn text_of(body: &[u8]) -> Cow<'_, str> {
    let mut rest = match std::str::from_utf8(body) {
        Ok(text) => return Cow::Borrowed(text),
        Err(_) => body,
    };
    let mut out = String::with_capacity(body.len() + 16);
    loop {
        match std::str::from_utf8(rest) {
            Ok(text) => {
                out.push_str(text);
                return Cow::Owned(out);
            }
            Err(e) => {
                let (valid, after) = rest.split_at(e.valid_up_to());
                // Checked by `from_utf8` just above.
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                let bad = e.error_len().unwrap_or(after.len());
                out.extend(after[..bad].iter().map(|&b| char::from(b)));
                rest = &after[bad..];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_is_borrowed_unchanged() {
        let s = "<domain_name>café</domain_name>";
        assert!(matches!(text_of(s.as_bytes()), Cow::Borrowed(t) if t == s));
    }

    #[test]
    fn stray_bytes_read_as_latin1_and_utf8_around_them_kept() {
        assert_eq!(text_of(b"caf\xe9-pc"), "café-pc");
        assert_eq!(text_of(b"\xff"), "ÿ");
        assert_eq!(text_of("é\u{80}".as_bytes()), "é\u{80}");
        // A cut multi-byte sequence at the end, and one in the middle followed by ASCII.
        assert_eq!(text_of(b"ab\xc3"), "abÃ");
        assert_eq!(text_of(b"\xe2\x82x\xc3\xa9"), "â\u{82}xé");
    }
}
