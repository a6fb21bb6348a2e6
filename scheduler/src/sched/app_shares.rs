//! How the job cache's slots are shared between apps: by `app.weight`, as BOINC's feeder does
//! with `--allapps`.
//!
//! With one enumeration for all apps, a backlog of one app fills every slot and a host that
//! can only run another app (it has a version of that app alone, or chose it in its
//! preferences) finds nothing, however much of its app is waiting. BOINC's feeder with
//! `--allapps` gives each app its own enumeration and a number of slots proportional to its
//! weight (`weighted_interleave` in sched/feeder.cpp; all weights zero count as all one). We
//! always share this way when more than one app is active; with one app it changes nothing.
//!
//! One difference, on purpose: BOINC leaves an app's slots empty while that app has no jobs.
//! Here the slots an app cannot fill go to the apps that filled theirs (see
//! [`crate::sched::job_cache`]), so a short queue of one app does not shrink the cache.

use rboinc_core::db::AppId;

/// The number of slots out of `slots` for each app, BOINC's `weighted_interleave`: slot after
/// slot goes to the app with the largest remaining credit, each slot costing `1 / weight`;
/// so the counts follow the weights and an app of weight 0 gets none (unless all are 0:
/// then all count as 1, as the feeder does).
pub fn shares(apps: &[(AppId, f64)], slots: usize) -> Vec<(AppId, usize)> {
    let all_zero = apps.iter().all(|(_, w)| *w <= 0.0 || !w.is_finite());
    let weight = |w: f64| {
        if all_zero {
            1.0
        } else if w > 0.0 && w.is_finite() {
            w
        } else {
            0.0
        }
    };
    let mut credit = vec![0.0_f64; apps.len()];
    let mut counts = vec![0usize; apps.len()];
    if apps.iter().any(|(_, w)| weight(*w) > 0.0) {
        for _ in 0..slots {
            let mut best: Option<usize> = None;
            for (i, (_, w)) in apps.iter().enumerate() {
                if weight(*w) > 0.0 && best.is_none_or(|b| credit[i] > credit[b]) {
                    best = Some(i);
                }
            }
            let Some(b) = best else { break };
            credit[b] -= 1.0 / weight(apps[b].1);
            counts[b] += 1;
        }
    }
    apps.iter().map(|(id, _)| *id).zip(counts).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(weights: &[f64], slots: usize) -> Vec<usize> {
        let apps: Vec<_> = weights
            .iter()
            .enumerate()
            .map(|(i, w)| (AppId(i as i64 + 1), *w))
            .collect();
        shares(&apps, slots).into_iter().map(|(_, n)| n).collect()
    }

    #[test]
    fn slots_follow_the_weights() {
        assert_eq!(counts(&[1.0], 100), [100]);
        assert_eq!(counts(&[1.0, 1.0], 100), [50, 50]);
        assert_eq!(counts(&[3.0, 1.0], 100), [75, 25]);
        assert_eq!(counts(&[3.0, 1.0], 20), [15, 5]);
        assert_eq!(counts(&[2.0, 1.0, 1.0], 10).iter().sum::<usize>(), 10);
        assert_eq!(counts(&[1.0, 2.0, 1.0], 8), [2, 4, 2]);
    }

    #[test]
    fn weight_zero_gets_no_slot_unless_all_are_zero() {
        assert_eq!(counts(&[1.0, 0.0], 10), [10, 0]);
        assert_eq!(counts(&[0.0, 0.0], 10), [5, 5]);
        assert_eq!(counts(&[], 10), Vec::<usize>::new());
    }
}
