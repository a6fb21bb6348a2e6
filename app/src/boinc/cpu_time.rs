//! CPU time of a process, read from `/proc/<pid>/stat` (no libc call needed).
//!
//! Fields 14 and 15 of that file are user and system time in clock ticks. The kernel reports
//! them in `USER_HZ`, which is 100 on every Linux architecture the app is built for.

const USER_HZ: f64 = 100.0;

/// User + system CPU seconds of process `pid` (`"self"` for this process).
pub fn of(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses; fields resume after the
    // last ')'. Field 3 is then index 0, so utime (14) and stime (15) are indices 11 and 12.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

/// CPU seconds used by this process so far (0 if `/proc` is unavailable).
pub fn this_process() -> f64 {
    of("self").unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn grows_while_computing() {
        let before = super::this_process();
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed().as_millis() < 300 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let after = super::this_process();
        assert!(after > before, "{before} -> {after}");
        assert!(super::of("999999999").is_none());
    }
}
