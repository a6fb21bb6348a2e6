//! Times as the ops page shows them: UTC dates and "5 min ago".

use std::time::Duration;

use time::OffsetDateTime;
use time::macros::format_description;

/// `YYYY-MM-DD HH:MM:SS` in UTC (times outside the calendar's range show as the epoch).
pub fn utc(unix: i64) -> String {
    let at = OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    at.format(format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second]"
    ))
    .unwrap_or_default()
}

/// A span of seconds in the largest fitting unit: `42 s`, `5 min`, `3 h 05 min`, `2 d`.
pub fn span(secs: i64) -> String {
    let d = time::Duration::seconds(secs.max(0));
    if d < time::Duration::MINUTE {
        format!("{} s", d.whole_seconds())
    } else if d < time::Duration::HOUR {
        format!("{} min", d.whole_minutes())
    } else if d < time::Duration::days(2) {
        format!("{} h {:02} min", d.whole_hours(), d.whole_minutes() % 60)
    } else {
        format!("{} d", d.whole_days())
    }
}

/// An uptime as `span` writes it.
pub fn uptime(d: Duration) -> String {
    span(d.as_secs() as i64)
}

/// "5 min ago" for a past time, "never" for 0.
pub fn ago(now: i64, then: i64) -> String {
    if then <= 0 {
        "never".into()
    } else if then > now {
        "just now".into()
    } else {
        format!("{} ago", span(now - then))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_spans() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13:20");
        assert_eq!(span(59), "59 s");
        assert_eq!(span(61), "1 min");
        assert_eq!(span(3 * 3600 + 5 * 60), "3 h 05 min");
        assert_eq!(span(47 * 3600 + 59 * 60), "47 h 59 min");
        assert_eq!(span(5 * 86_400), "5 d");
        assert_eq!(span(-5), "0 s");
        assert_eq!(ago(100, 0), "never");
        assert_eq!(ago(100, 40), "1 min ago");
        assert_eq!(ago(100, 200), "just now");
    }
}
