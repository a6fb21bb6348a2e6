//! Calendar dates from Unix time, in UTC, without a date crate.
//!
//! Logs, `status` and the ops page print times as dates; the conversion is the well-known
//! era-based one for the proleptic Gregorian calendar, kept here once.

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
    /// The UTC date and time of `unix` seconds since 1970-01-01 00:00:00.
    pub fn from_unix(unix: i64) -> UtcTime {
        let (year, month, day) = civil_from_days(unix.div_euclid(86_400));
        let rem = unix.rem_euclid(86_400) as u32;
        UtcTime {
            year,
            month,
            day,
            hour: rem / 3600,
            minute: rem / 60 % 60,
            second: rem % 60,
        }
    }

    /// `YYYY{sep}MM{sep}DD HH:MM:SS`.
    pub fn format(&self, date_sep: char) -> String {
        format!(
            "{:04}{date_sep}{:02}{date_sep}{:02} {:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// Days since 1970-01-01 to (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
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
    }
}
