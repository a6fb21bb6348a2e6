//! Disk space a host lets this project's new jobs use (BOINC's `max_allowable_disk`).
//!
//! The client reports its disk (`d_total`, `d_free`), what BOINC already uses on it
//! (`d_boinc_used_total`) and its preferences (`disk_max_used_gb`, `disk_max_used_pct`,
//! `disk_min_free_gb`, the last raised to the project's `<default_disk_min_free_gb>`, 1 GB by
//! default). The room for new jobs is the smallest of: free space minus the minimum to keep
//! free; the used-percentage limit minus what BOINC uses; the used-GB limit minus what BOINC
//! uses. A client that does not report BOINC's own usage is held only to the minimum free
//! space. Each job sent takes its workunit's `rsc_disk_bound` from the room; a job that does
//! not fit is not sent, with BOINC's message.

use crate::sched::request::SchedRequest;

const GIGA: f64 = 1e9;

/// Bytes of disk new jobs may use on the requesting host (may be negative: none).
pub fn max_allowable_disk(req: &SchedRequest, default_min_free_gb: f64) -> f64 {
    let h = &req.host;
    let p = &req.disk_prefs;
    let min_free_gb = p.min_free_gb.max(default_min_free_gb);
    let mut room = h.d_free - min_free_gb * GIGA;
    if h.d_boinc_used_total > 0.0 {
        if p.max_used_pct > 0.0 {
            room = room.min(h.d_total * p.max_used_pct / 100.0 - h.d_boinc_used_total);
        }
        if p.max_used_gb > 0.0 {
            room = room.min(p.max_used_gb * GIGA - h.d_boinc_used_total);
        }
    }
    room
}

/// BOINC's message for a job that needs more disk than the host allows.
pub fn shortage_message(app: &str, needed: f64, available: f64) -> String {
    const MEGA: f64 = 1048576.0;
    format!(
        "{app} needs {:.2}MB more disk space.  You currently have {:.2} MB available and it needs {:.2} MB.",
        (needed - available) / MEGA,
        available / MEGA,
        needed / MEGA
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(d_total: f64, d_free: f64, used: f64, gb: f64, pct: f64, min_free: f64) -> SchedRequest {
        let mut r = SchedRequest::default();
        r.host.d_total = d_total;
        r.host.d_free = d_free;
        r.host.d_boinc_used_total = used;
        r.disk_prefs.max_used_gb = gb;
        r.disk_prefs.max_used_pct = pct;
        r.disk_prefs.min_free_gb = min_free;
        r
    }

    #[test]
    fn the_most_stringent_bound_wins() {
        // 100 GB disk, 50 GB free, BOINC uses 2 GB.
        let g = GIGA;
        // Minimum free 10 GB: 40 GB of room.
        assert_eq!(
            max_allowable_disk(&req(100.0 * g, 50.0 * g, 2.0 * g, 0.0, 0.0, 10.0), 1.0),
            40.0 * g
        );
        // At most 5 GB for BOINC: 3 GB left.
        assert_eq!(
            max_allowable_disk(&req(100.0 * g, 50.0 * g, 2.0 * g, 5.0, 0.0, 10.0), 1.0),
            3.0 * g
        );
        // At most 4 % of the disk: 2 GB left.
        assert_eq!(
            max_allowable_disk(&req(100.0 * g, 50.0 * g, 2.0 * g, 5.0, 4.0, 10.0), 1.0),
            2.0 * g
        );
        // The project's minimum free space applies when the preference asks less.
        assert_eq!(
            max_allowable_disk(&req(100.0 * g, 50.0 * g, 2.0 * g, 0.0, 0.0, 0.0), 45.0),
            5.0 * g
        );
        // Without BOINC's usage only the free-space bound holds.
        assert_eq!(
            max_allowable_disk(&req(100.0 * g, 50.0 * g, 0.0, 1.0, 1.0, 0.0), 1.0),
            49.0 * g
        );
        // A full disk: negative room.
        assert!(max_allowable_disk(&req(100.0 * g, 0.5 * g, 2.0 * g, 0.0, 0.0, 0.0), 1.0) < 0.0);
    }

    #[test]
    fn the_message_is_boincs() {
        assert_eq!(
            shortage_message("MNIST", 3.0 * 1048576.0, 1048576.0),
            "MNIST needs 2.00MB more disk space.  You currently have 1.00 MB available and it needs 3.00 MB."
        );
    }
}
