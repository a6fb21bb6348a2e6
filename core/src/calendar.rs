//! Calendar dates from Unix time, in UTC, through the `time` crate.
//!
//! Logs, `status`, the ops page and db_purge's daily archive directories print times as
//! dates; [`UtcTime`] is the one conversion they share, with BOINC's layouts
//! (`YYYY-MM-DD HH:MM:SS` in logs, `YYYY_MM_DD` for archive directories).

use time::OffsetDateTime;

/// A moment split into UTC calendar fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl UtcTime {
    /// The UTC date and time of `unix` seconds since 1970-01-01 00:00:00. Times beyond the
    /// years ±9999 (no clock or database column holds them) are clamped to that range.
    pub fn from_unix(unix: i64) -> UtcTime {
        let t = OffsetDateTime::from_unix_timestamp(unix).unwrap_or(if unix < 0 {
            time::PrimitiveDateTime::MIN.assume_utc()
        } else {
            time::PrimitiveDateTime::MAX.assume_utc()
        });
        UtcTime {
            year: i64::from(t.year()),
            month: u32::from(u8::from(t.month())),
            day: u32::from(t.day()),
            hour: u32::from(t.hour()),
            minute: u32::from(t.minute()),
            second: u32::from(t.second()),
        }
    }

    /// `YYYY{sep}MM{sep}DD HH:MM:SS`.
    pub fn format(&self, date_sep: char) -> String {
        format!(
            "{} {:02}:{:02}:{:02}",
            self.format_date(date_sep),
            self.hour,
            self.minute,
            self.second
        )
    }

    /// `YYYY{sep}MM{sep}DD`.
    pub fn format_date(&self, sep: char) -> String {
        format!("{:04}{sep}{:02}{sep}{:02}", self.year, self.month, self.day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(UtcTime::from_unix(0).format('-'), "1970-01-01 00:00:00");
        // 2000-02-29 (a leap day in a century year divisible by 400).
        assert_eq!(
            UtcTime::from_unix(951_782_400).format('-'),
            "2000-02-29 00:00:00"
        );
        assert_eq!(
            UtcTime::from_unix(1_700_000_000).format('/'),
            "2023/11/14 22:13:20"
        );
        assert_eq!(UtcTime::from_unix(-1).format('-'), "1969-12-31 23:59:59");
        assert_eq!(
            UtcTime::from_unix(1_704_067_199).format_date('_'),
            "2023_12_31"
        );
    }

    #[test]
    fn out_of_range_times_are_clamped() {
        assert_eq!(UtcTime::from_unix(i64::MAX).year, 9999);
        assert_eq!(UtcTime::from_unix(i64::MIN).year, -9999);
    }
}
