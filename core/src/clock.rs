//! The wall clock, as BOINC's database columns hold it.
//!
//! BOINC stores times as seconds since the Unix epoch in `int` columns (`create_time`,
//! `transition_time`, `sent_time`, …), in `double` columns for averages and in archive file
//! names; each caller used to read `SystemTime::now()` and convert it its own way. These are the
//! three conversions, once. A clock set before 1970 reads as 0; one past 2038 saturates the `i32`
//! at `i32::MAX`, which BOINC's `time(0)` into an `int` cannot do better.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the epoch with fractions (BOINC's `dtime()`), for credit averages and timings.
pub fn now_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Whole seconds since the epoch, for `BIGINT` values and file names.
pub fn now_i64() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Whole seconds since the epoch as BOINC's `int` time columns hold them.
pub fn now_i32() -> i32 {
    i32::try_from(now_i64()).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_readings_agree() {
        let (a, b, c) = (now_i32(), now_i64(), now_f64());
        // After 2023-11-14 and before the i32 overflow in 2038.
        assert!(a > 1_700_000_000 && i64::from(a) <= b);
        assert!(c >= a as f64 && c - (b as f64) < 5.0);
    }
}
