//! The one error type of [`crate::config`], with file, line and column.

use std::fmt;
use std::path::PathBuf;

/// A place in a configuration file, 1-based like editors show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: u32,
    pub column: u32,
}

impl Position {
    /// Converts a byte offset into `text` to a line and a column (counted in
    /// characters, not bytes).
    pub fn from_offset(text: &str, offset: usize) -> Self {
        let offset = floor_char_boundary(text, offset.min(text.len()));
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Position {
            line: u32::try_from(line).unwrap_or(u32::MAX),
            column: u32::try_from(column).unwrap_or(u32::MAX),
        }
    }
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Why a `config.xml` (or `config_aux.xml`) could not be used.
///
/// Every variant names the file; those about content also carry the line
/// and column, so the message reads like a compiler's: `path:line:col: …`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The file is not well-formed XML.
    #[error("{}:{at}: malformed XML: {message}", path.display())]
    Malformed {
        path: PathBuf,
        at: Position,
        message: String,
    },

    /// Well-formed XML, but not shaped like a BOINC config file
    /// (wrong root, no `<config>`, a `<daemon>` without `<cmd>`, …).
    #[error("{}:{at}: {message}", path.display())]
    Structure {
        path: PathBuf,
        at: Position,
        message: String,
    },

    /// An element's text is not a valid value for it.
    #[error("{}:{at}: <{element}>: {value:?} is not {expected}", path.display())]
    InvalidValue {
        path: PathBuf,
        at: Position,
        element: String,
        value: String,
        expected: &'static str,
    },

    /// A setting without which nothing can run is absent.
    #[error("{}: <{element}> is missing from <config>", path.display())]
    Missing {
        path: PathBuf,
        element: &'static str,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let text = "ab\ncdé\nf";
        assert_eq!(
            Position::from_offset(text, 0),
            Position { line: 1, column: 1 }
        );
        assert_eq!(
            Position::from_offset(text, 3),
            Position { line: 2, column: 1 }
        );
        // 'é' is two bytes; the offset after it is column 4 (after c, d, é).
        let after_e = text.find('\n').unwrap() + 1 + "cdé".len();
        assert_eq!(
            Position::from_offset(text, after_e),
            Position { line: 2, column: 4 }
        );
        // Offsets inside a multi-byte character or past the end are clamped.
        assert_eq!(
            Position::from_offset(text, 6),
            Position { line: 2, column: 3 }
        );
        assert_eq!(
            Position::from_offset(text, 999),
            Position { line: 3, column: 2 }
        );
    }
}
