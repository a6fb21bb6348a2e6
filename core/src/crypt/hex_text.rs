//! BOINC's hex block text: the encoding shared by key files and signatures.
//!
//! Bytes are written as lowercase hex, a newline after every 32 bytes (and after a short last
//! line), then a line holding only `.`. The `.` exists because a reader cannot know the length in
//! advance: BOINC's parser reads hex pairs until the first character that is not hex.

use std::fmt::Write as _;

/// Bytes per output line (64 hex characters).
const BYTES_PER_LINE: usize = 32;

/// Where and why a block of hex text could not be read. Lines and columns count from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexTextError {
    #[error("line {line} ends in CR: the file has CRLF line endings; BOINC needs plain LF")]
    CrLf { line: usize },
    #[error("line {line}, column {column}: {found:?} is not a hex digit")]
    BadHex {
        line: usize,
        column: usize,
        found: char,
    },
    #[error("line {line} has an odd number of hex digits")]
    OddLength { line: usize },
    #[error("line {line} is empty inside the hex data")]
    EmptyLine { line: usize },
    #[error("no line holding only \".\" ends the hex data")]
    MissingTerminator,
    #[error("line {line}: unexpected text after the \".\" that ends the hex data")]
    TrailingData { line: usize },
}

/// Encodes `data` exactly as BOINC's printer does (`sprint_hex_data`).
pub(crate) fn encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len() * 2 + data.len() / BYTES_PER_LINE + 4);
    for line in data.chunks(BYTES_PER_LINE) {
        for b in line {
            // Writing to a String cannot fail.
            let _ = write!(out, "{b:02x}");
        }
        out.push('\n');
    }
    out.push_str(".\n");
    out
}

/// Decodes hex lines starting at line number `first_line` of the enclosing text, up to a line
/// holding only `.`, which may be followed by one final newline and nothing else. Upper-case hex is
/// accepted (BOINC's reader accepts it), a CR anywhere is refused with a message about CRLF.
pub(crate) fn decode_lines(text: &str, first_line: usize) -> Result<Vec<u8>, HexTextError> {
    let mut data = Vec::with_capacity(text.len() / 2);
    let mut lines = text
        .split('\n')
        .enumerate()
        .map(|(i, l)| (first_line + i, l))
        .peekable();
    while let Some((line_no, line)) = lines.next() {
        if line.contains('\r') {
            return Err(HexTextError::CrLf { line: line_no });
        }
        if line.is_empty() {
            return Err(if lines.peek().is_none() {
                HexTextError::MissingTerminator
            } else {
                HexTextError::EmptyLine { line: line_no }
            });
        }
        if line == "." {
            return match lines.next() {
                None => Ok(data),
                Some((_, "")) if lines.next().is_none() => Ok(data),
                Some((n, _)) => Err(HexTextError::TrailingData { line: n }),
            };
        }
        decode_line(line, line_no, &mut data)?;
    }
    Err(HexTextError::MissingTerminator)
}

fn decode_line(line: &str, line_no: usize, out: &mut Vec<u8>) -> Result<(), HexTextError> {
    let mut high: Option<u8> = None;
    for (i, c) in line.chars().enumerate() {
        let Some(v) = c.to_digit(16) else {
            return Err(HexTextError::BadHex {
                line: line_no,
                column: i + 1,
                found: c,
            });
        };
        // to_digit(16) is < 16, so it fits in a u8.
        let v = v as u8;
        match high.take() {
            None => high = Some(v),
            Some(h) => out.push(h << 4 | v),
        }
    }
    if high.is_some() {
        return Err(HexTextError::OddLength { line: line_no });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_wraps_every_32_bytes_and_ends_with_dot() {
        assert_eq!(encode(&[0xab; 2]), "abab\n.\n");
        let s = encode(&[0x01; 32]);
        assert_eq!(s, format!("{}\n.\n", "01".repeat(32)));
        let s = encode(&[0x01; 33]);
        assert_eq!(s, format!("{}\n01\n.\n", "01".repeat(32)));
    }

    #[test]
    fn decode_round_trips_and_reports_positions() {
        let data: Vec<u8> = (0..=255).collect();
        assert_eq!(decode_lines(&encode(&data), 1).unwrap(), data);
        assert_eq!(decode_lines("ABcd\n.", 1).unwrap(), vec![0xab, 0xcd]);
        assert_eq!(
            decode_lines("abcd\r\n.\r\n", 2),
            Err(HexTextError::CrLf { line: 2 })
        );
        assert_eq!(
            decode_lines("ab\nzz\n.\n", 2),
            Err(HexTextError::BadHex {
                line: 3,
                column: 1,
                found: 'z'
            })
        );
        assert_eq!(
            decode_lines("abc\n.\n", 1),
            Err(HexTextError::OddLength { line: 1 })
        );
        assert_eq!(
            decode_lines("ab\n", 1),
            Err(HexTextError::MissingTerminator)
        );
        assert_eq!(
            decode_lines("ab\n.\nmore\n", 1),
            Err(HexTextError::TrailingData { line: 3 })
        );
        assert_eq!(
            decode_lines("ab\n.\n\n", 1),
            Err(HexTextError::TrailingData { line: 3 })
        );
        assert_eq!(
            decode_lines("ab\n\ncd\n.\n", 1),
            Err(HexTextError::EmptyLine { line: 2 })
        );
        assert_eq!(decode_lines("", 1), Err(HexTextError::MissingTerminator));
    }
}
