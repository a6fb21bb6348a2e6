//! `scripts/scaling.sh`, the clients-versus-time study, run as a user runs it but small:
//! `--clients 1,2` with two short rounds each (plus its one-round warm-up), on the binaries cargo
//! built for the tests and a private mariadbd. Checks the CSV (one line per client count, times
//! that are real positive durations), the picture (a PNG of the drawn size) and the text (a table
//! row per run and the limits section), then stops everything.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{app_binary, bins, processes_in, text};
use rboinc_e2e::workspace_root;

struct StopOnDrop(PathBuf);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = Command::new(workspace_root().join("scripts/scaling.sh"))
            .arg("--stop")
            .arg("--dir")
            .arg(&self.0)
            .arg("--bin-dir")
            .arg(bins())
            .output();
    }
}

#[test]
fn the_scaling_study_runs_one_and_two_clients_and_draws_the_plot() {
    let tmp = tempfile::Builder::new()
        .prefix("rboinc-scaling-")
        .tempdir()
        .unwrap();
    let dir = tmp.path().join("work");
    let guard = StopOnDrop(dir.clone());

    let out = Command::new(workspace_root().join("scripts/scaling.sh"))
        .args(["--clients", "1,2", "--rounds", "2", "--dir"])
        .arg(&dir)
        .arg("--bin-dir")
        .arg(bins())
        .arg("--app-binary")
        .arg(app_binary())
        .args(["--no-install", "--private-db", "--timeout", "400"])
        .args(["--sample-count", "600", "--train-epochs", "2"])
        .args(["--batch-size", "60", "--learning-rate", "0.1"])
        .output()
        .expect("run scripts/scaling.sh");
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let outdir = PathBuf::from(stdout.lines().last().unwrap_or_default().trim());
    assert_eq!(outdir, dir.canonicalize().unwrap().join("scaling"));

    let csv = std::fs::read_to_string(outdir.join("runs.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "clients,rounds,seconds", "{csv}");
    assert_eq!(lines.len(), 3, "{csv}");
    for (line, clients) in lines[1..].iter().zip(["1", "2"]) {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f[..2], [clients, "2"], "{csv}");
        let secs: f64 = f[2].parse().unwrap();
        // A distributed round needs at least a scheduler request and an upload: not 0, and
        // less than the series' timeout.
        assert!(secs > 0.0 && secs < 400.0, "{csv}");
    }

    let png = std::fs::read(outdir.join("scaling.png")).unwrap();
    // The PNG signature, then the IHDR chunk with width and height (big-endian).
    assert_eq!(png[..8], *b"\x89PNG\r\n\x1a\n", "a PNG");
    assert_eq!(&png[12..16], b"IHDR");
    let be = |b: &[u8]| u32::from_be_bytes(b.try_into().unwrap());
    assert_eq!((be(&png[16..20]), be(&png[20..24])), (1200, 520));
    assert!(
        png.len() > 10_000,
        "something is drawn: {} bytes",
        png.len()
    );

    let md = std::fs::read_to_string(outdir.join("scaling.md")).unwrap();
    for clients in ["1", "2"] {
        assert!(md.contains(&format!("\n| {clients} | 2 | ")), "{md}");
    }
    assert!(
        md.contains("What limits the speed-up on one machine"),
        "{md}"
    );

    drop(guard);
    assert_eq!(processes_in(&dir), vec![], "--stop leaves nothing running");
}
