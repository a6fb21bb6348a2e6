//! The running averages BOINC keeps for credit and quotas, with its exact update rules.
//!
//! Two kinds:
//! - [`RunningAverage`]: the statistics in `host_app_version` (`pfc`, `et`, `turnaround`) and
//!   `app_version.pfc`: a plain mean for the first samples, then an exponential average, with
//!   outlier samples clipped. The variance form also keeps `var` and `q`.
//! - [`decay_average`]: "recent average credit" (`expavg_credit`/`expavg_time` of hosts, users,
//!   teams, app versions), credit per day decaying with a half-life.
//!
//! The numbers stored by the C++ daemons and by us must agree to the last bit for drop-in use,
//! so the arithmetic here follows BOINC's operation order.

/// How a running average takes samples: a plain mean until `threshold` samples, then an
/// exponential average giving each new sample `weight`; samples above `limit` × the average are
/// clipped to it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AverageParams {
    pub threshold: f64,
    pub weight: f64,
    pub limit: f64,
}

/// `host_app_version` statistics.
pub const HAV_AVERAGE: AverageParams = AverageParams {
    threshold: 20.0,
    weight: 0.01,
    limit: 10.0,
};

/// `app_version.pfc` statistics.
pub const AV_AVERAGE: AverageParams = AverageParams {
    threshold: 100.0,
    weight: 0.001,
    limit: 10.0,
};

/// A running average held in its table's columns (`*_n`, `*_avg` and, for the variance form,
/// `*_var`, `*_q`).
#[derive(Debug)]
pub struct RunningAverage<'a> {
    pub n: &'a mut f64,
    pub avg: &'a mut f64,
}

/// A running average with variance.
#[derive(Debug)]
pub struct RunningAverageVar<'a> {
    pub n: &'a mut f64,
    pub avg: &'a mut f64,
    pub var: &'a mut f64,
    pub q: &'a mut f64,
}

/// Clips `sample` as BOINC does; `None` for a negative sample (ignored).
fn clip(sample: f64, n: f64, avg: f64, p: AverageParams) -> Option<f64> {
    if sample < 0.0 {
        return None;
    }
    if n != 0.0 && avg != 0.0 && sample > avg * p.limit {
        return Some(avg * p.limit);
    }
    Some(sample)
}

impl RunningAverage<'_> {
    /// Adds a sample (negative samples are ignored).
    pub fn update(&mut self, sample: f64, p: AverageParams) {
        let Some(sample) = clip(sample, *self.n, *self.avg, p) else {
            return;
        };
        *self.n += 1.0;
        let delta = sample - *self.avg;
        if *self.n < p.threshold {
            *self.avg += delta / *self.n;
        } else {
            *self.avg += p.weight * delta;
        }
    }
}

impl RunningAverageVar<'_> {
    /// Adds a sample (negative samples are ignored).
    pub fn update(&mut self, sample: f64, p: AverageParams) {
        let Some(sample) = clip(sample, *self.n, *self.avg, p) else {
            return;
        };
        *self.n += 1.0;
        let delta = sample - *self.avg;
        if *self.n < p.threshold {
            *self.avg += delta / *self.n;
            *self.q += delta * (sample - *self.avg);
            *self.var = *self.q / *self.n;
        } else {
            *self.avg += p.weight * delta;
            *self.var += p.weight * (delta * delta - *self.var);
        }
    }
}

const SECONDS_PER_DAY: f64 = 86400.0;

/// Adds `work` (credit) done since `work_start` to a recent average (`avg` per day, last computed
/// at `avg_time`), decaying the old average with `half_life` seconds; sets `avg_time = now`.
///
/// With no previous average the work is spread over the time since it started. When `now` is
/// (nearly) `avg_time` the decay formula divides 0 by 0, so its first-order limit is used.
pub fn decay_average(
    now: f64,
    work_start: f64,
    work: f64,
    half_life: f64,
    avg: &mut f64,
    avg_time: &mut f64,
) {
    if *avg_time != 0.0 {
        let diff = (now - *avg_time).max(0.0);
        let diff_days = diff / SECONDS_PER_DAY;
        let weight = (-diff * std::f64::consts::LN_2 / half_life).exp();
        *avg *= weight;
        if 1.0 - weight > 1e-6 {
            *avg += (1.0 - weight) * (work / diff_days);
        } else {
            *avg += std::f64::consts::LN_2 * work * SECONDS_PER_DAY / half_life;
        }
    } else if work != 0.0 {
        let days = (now - work_start) / SECONDS_PER_DAY;
        *avg = work / days;
    }
    *avg_time = now;
}

#[cfg(test)]
mod tests {
    use super::*;
    use rboinc_core::state::CREDIT_HALF_LIFE;

    #[test]
    fn first_samples_are_a_plain_mean() {
        let (mut n, mut avg) = (0.0, 0.0);
        for x in [2.0, 4.0, 6.0] {
            RunningAverage {
                n: &mut n,
                avg: &mut avg,
            }
            .update(x, HAV_AVERAGE);
        }
        assert_eq!((n, avg), (3.0, 4.0));
    }

    #[test]
    fn samples_are_clipped_and_negative_ones_ignored() {
        let (mut n, mut avg) = (1.0, 1.0);
        let mut a = RunningAverage {
            n: &mut n,
            avg: &mut avg,
        };
        a.update(-5.0, HAV_AVERAGE);
        a.update(1000.0, HAV_AVERAGE); // clipped to 10
        assert_eq!((n, avg), (2.0, 5.5));
    }

    #[test]
    fn after_the_threshold_the_average_is_exponential() {
        let (mut n, mut avg) = (19.0, 10.0);
        RunningAverage {
            n: &mut n,
            avg: &mut avg,
        }
        .update(20.0, HAV_AVERAGE);
        assert_eq!(n, 20.0);
        assert!((avg - 10.1).abs() < 1e-12);
    }

    #[test]
    fn variance_of_a_fresh_average() {
        let (mut n, mut avg, mut var, mut q) = (0.0, 0.0, 0.0, 0.0);
        for x in [86400.0, 86400.0] {
            RunningAverageVar {
                n: &mut n,
                avg: &mut avg,
                var: &mut var,
                q: &mut q,
            }
            .update(x, HAV_AVERAGE);
        }
        assert_eq!((n, avg, var, q), (2.0, 86400.0, 0.0, 0.0));
        let (mut n, mut avg, mut var, mut q) = (0.0, 0.0, 0.0, 0.0);
        for x in [1.0, 3.0] {
            RunningAverageVar {
                n: &mut n,
                avg: &mut avg,
                var: &mut var,
                q: &mut q,
            }
            .update(x, HAV_AVERAGE);
        }
        // Population variance of {1, 3}.
        assert_eq!((avg, var, q), (2.0, 1.0, 2.0));
    }

    #[test]
    fn first_credit_is_spread_over_the_time_since_the_work_started() {
        // Oracle scenario 15: 0.7233796296 credit, sent 2 hours ago -> ~8.68 per day.
        let (mut avg, mut t) = (0.0, 0.0);
        decay_average(
            1e9,
            1e9 - 7200.0,
            0.7233796296,
            CREDIT_HALF_LIFE,
            &mut avg,
            &mut t,
        );
        assert!((avg - 8.68055555).abs() < 1e-6, "{avg}");
        assert_eq!(t, 1e9);
    }

    #[test]
    fn an_average_halves_in_a_half_life() {
        let (mut avg, mut t) = (100.0, 1000.0);
        decay_average(
            1000.0 + CREDIT_HALF_LIFE,
            0.0,
            0.0,
            CREDIT_HALF_LIFE,
            &mut avg,
            &mut t,
        );
        assert!((avg - 50.0).abs() < 1e-9);
    }

    #[test]
    fn same_second_uses_the_first_order_limit() {
        let (mut avg, mut t) = (0.0, 1000.0);
        decay_average(1000.0, 0.0, 7.0, CREDIT_HALF_LIFE, &mut avg, &mut t);
        let expected = std::f64::consts::LN_2 * 7.0 * 86400.0 / CREDIT_HALF_LIFE;
        assert_eq!(avg, expected);
    }
}
