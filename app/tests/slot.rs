//! The app in a slot directory laid out like the stock client's (see
//! `fixtures/client-7.20.5/app/`: link files, the client's `init_data.xml`, an 8,192-byte
//! `boinc_mmap_file`), with this test playing the client's side of the shared memory.

mod common;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use mnist_app::boinc::control::parse_status;
use mnist_app::boinc::cpu_time;
use mnist_app::boinc::links::write_link;
use mnist_app::boinc::markers::FINISH_FILE;
use mnist_app::boinc::shmem::{Channel, FILE_SIZE, SharedMem};

const PROJECT: &str = "127.0.0.1_18090_proj";

/// Long enough to suspend and quit mid-run with a wide margin: the test quits after about 3 s of
/// computing, and the job needs 6 s or more even on an idle machine (noise makes epochs slow).
const JOB: &str = r#"{"seed": 910552, "sample_count": 2000, "train_epochs": 120, "batch_size": 50,
    "learning_rate": 0.05, "noise_std": 0.1, "export_weights": true}"#;

struct Slot {
    _root: tempfile::TempDir,
    slot: PathBuf,
    project: PathBuf,
}

impl Slot {
    /// `slots/0` and `projects/<proj>` under a temp dir, with the inputs staged in the project
    /// dir and linked from the slot as the client does.
    fn new(job: &str) -> Slot {
        let root = tempfile::tempdir().unwrap();
        let slot = root.path().join("slots/0");
        let project = root.path().join("projects").join(PROJECT);
        std::fs::create_dir_all(&slot).unwrap();
        std::fs::create_dir_all(&project).unwrap();
        std::fs::write(project.join("wu_1_job"), job).unwrap();
        mnist_app::dataset::bundle::write(&common::mnist_10k(), &project.join("mnist10k_ds"))
            .unwrap();
        let link = |logical: &str, physical: &str| {
            write_link(
                &slot,
                logical,
                &format!("../../projects/{PROJECT}/{physical}"),
            )
            .unwrap();
        };
        link("job.json", "wu_1_job");
        link("dataset", "mnist10k_ds");
        link("metrics.json", "wu_1_0_r0");
        link("weights.npy", "wu_1_0_r1");
        // The real client's init_data.xml, pointing at this test process as the client.
        let init =
            std::fs::read_to_string(common::fixtures().join("client-7.20.5/app/init_data.xml"))
                .unwrap()
                .replace(
                    "<client_pid>12321</client_pid>",
                    &format!("<client_pid>{}</client_pid>", std::process::id()),
                );
        std::fs::write(slot.join("init_data.xml"), init).unwrap();
        std::fs::write(slot.join("boinc_mmap_file"), vec![0u8; FILE_SIZE]).unwrap();
        Slot {
            _root: root,
            slot,
            project,
        }
    }

    /// Starts the app as the client does: cwd = slot, stderr appended to `stderr.txt`.
    fn start(&self) -> Child {
        let stderr = File::options()
            .create(true)
            .append(true)
            .open(self.slot.join("stderr.txt"))
            .unwrap();
        Command::new(common::bin())
            .current_dir(&self.slot)
            .stdin(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap()
    }

    fn shm(&self) -> SharedMem {
        SharedMem::open(&self.slot.join("boinc_mmap_file")).unwrap()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.slot.join("stderr.txt")).unwrap_or_default()
    }

    fn output(&self, name: &str) -> PathBuf {
        self.project.join(name)
    }
}

/// Reads app-status messages until `want` accepts one; returns (cpu, checkpoint cpu, fraction).
fn status_until(
    shm: &SharedMem,
    child: &mut Child,
    mut want: impl FnMut(f64, f64, f64) -> bool,
) -> (f64, f64, f64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(msg) = shm.receive(Channel::AppStatus) {
            let (cpu, cp, fraction) =
                parse_status(&msg).unwrap_or_else(|| panic!("malformed status {msg:?}"));
            if want(cpu, cp, fraction) {
                return (cpu, cp, fraction);
            }
        }
        assert!(child.try_wait().unwrap().is_none(), "app exited early");
        assert!(Instant::now() < deadline, "no matching status report");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends a control message and waits until the app has taken it.
fn control(shm: &SharedMem, msg: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !shm.send(Channel::ProcessControlRequest, msg) {
        assert!(Instant::now() < deadline, "channel busy");
        std::thread::sleep(Duration::from_millis(10));
    }
    while shm.has_message(Channel::ProcessControlRequest) {
        assert!(Instant::now() < deadline, "{msg} not read");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits for exit, reading status reports meanwhile as a client would.
fn wait_exit(shm: &SharedMem, child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        shm.receive(Channel::AppStatus);
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("app did not exit in {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn pid_of(child: &Child) -> String {
    child.id().to_string()
}

#[test]
fn progress_suspend_resume_quit_restart_and_finish() {
    let slot = Slot::new(JOB);
    let shm = slot.shm();
    // The uninterrupted standalone reference, on the IDX directory, runs alongside.
    let dir = tempfile::tempdir().unwrap();
    let job = common::write_job(dir.path(), "job.json", JOB);
    let reference = dir.path().join("m.json");
    let mut reference_run = Command::new(common::bin())
        .arg("--job")
        .arg(&job)
        .arg("--dataset")
        .arg(common::mnist_10k())
        .arg("--out")
        .arg(&reference)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = slot.start();

    // Progress: fraction done and CPU time climb in the app-status channel.
    let (_, _, first) = status_until(&shm, &mut child, |_, _, f| f > 0.0);
    let (cpu, _, second) = status_until(&shm, &mut child, |_, _, f| f > first);
    assert!(second <= 1.0);
    assert!(cpu > 0.0, "CPU time reported");
    // A checkpoint is reported once one is written.
    let (_, checkpoint_cpu, _) = status_until(&shm, &mut child, |_, cp, _| cp > 0.0);
    assert!(checkpoint_cpu > 0.0);
    assert!(slot.slot.join("mnist_checkpoint.bin").exists());

    // Suspend: no CPU used and no status reports until resumed.
    control(&shm, "<suspend/>");
    std::thread::sleep(Duration::from_millis(500));
    shm.receive(Channel::AppStatus);
    let cpu_before = cpu_time::of(&pid_of(&child)).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let cpu_after = cpu_time::of(&pid_of(&child)).unwrap();
    assert!(
        cpu_after - cpu_before < 0.1,
        "used CPU while suspended: {cpu_before} -> {cpu_after}"
    );
    assert!(
        !shm.has_message(Channel::AppStatus),
        "reported status while suspended"
    );
    control(&shm, "<resume/>");
    let (_, _, before_quit) = status_until(&shm, &mut child, |_, _, _| true);
    assert!(before_quit >= second, "progress resumed from where it was");

    // Quit: exit 0 promptly, no finish marker, no outputs; the checkpoint stays.
    control(&shm, "<quit/>");
    let status = wait_exit(&shm, &mut child, Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
    assert!(!slot.slot.join(FINISH_FILE).exists());
    assert!(!slot.output("wu_1_0_r0").exists());
    assert!(before_quit < 1.0, "quit arrived before the end");

    // Restart in the same slot: resumes from the checkpoint and finishes.
    let mut child = slot.start();
    let status = wait_exit(&shm, &mut child, Duration::from_secs(120));
    assert_eq!(status.code(), Some(0), "stderr:\n{}", slot.stderr());
    assert_eq!(
        std::fs::read_to_string(slot.slot.join(FINISH_FILE)).unwrap(),
        "0\n"
    );
    let stderr = slot.stderr();
    assert!(
        stderr.contains("resuming from checkpoint after epoch"),
        "{stderr}"
    );
    assert!(stderr.contains("client request <suspend/>"), "{stderr}");

    let metrics = slot.output("wu_1_0_r0");
    let host = common::host(&metrics);
    assert_eq!(host["mode"], "boinc");
    assert_eq!(host["dataset_format"], "bundle");
    assert_eq!(host["boinc"]["result_name"], "wu_1_0");
    assert!(host["resumed_from_epoch"].as_u64().unwrap() >= 1);
    assert!(slot.output("wu_1_0_r1").exists(), "weights exported");

    // Same bytes as the uninterrupted standalone run on the IDX directory.
    assert!(reference_run.wait().unwrap().success());
    assert_eq!(
        common::bytes_before_host(&reference),
        common::bytes_before_host(&metrics)
    );
    assert_eq!(
        std::fs::read(dir.path().join("weights.npy")).unwrap(),
        std::fs::read(slot.output("wu_1_0_r1")).unwrap()
    );
}

#[test]
fn abort_exits_with_the_clients_abort_status() {
    let slot = Slot::new(JOB);
    let shm = slot.shm();
    let mut child = slot.start();
    status_until(&shm, &mut child, |_, _, f| f > 0.0);
    control(&shm, "<abort/>");
    let status = wait_exit(&shm, &mut child, Duration::from_secs(10));
    assert_eq!(status.code(), Some(194));
    assert!(!slot.slot.join(FINISH_FILE).exists());
    assert!(!slot.output("wu_1_0_r0").exists());
}

#[test]
fn a_bad_job_fails_the_task_with_a_message() {
    let slot =
        Slot::new(r#"{"seed": 1, "sample_count": 100, "train_epochs": 1, "learning_rate": 0.1}"#);
    let shm = slot.shm();
    let mut child = slot.start();
    let status = wait_exit(&shm, &mut child, Duration::from_secs(30));
    assert_eq!(status.code(), Some(3));
    let marker = std::fs::read_to_string(slot.slot.join(FINISH_FILE)).unwrap();
    assert!(
        marker.starts_with("3\n") && marker.contains("batch_size"),
        "{marker:?}"
    );
    assert!(slot.stderr().contains("`batch_size` is missing"));
    assert!(!slot.output("wu_1_0_r0").exists());
}

#[test]
fn without_client_files_logical_names_are_plain_paths() {
    let dir = tempfile::tempdir().unwrap();
    let d: &Path = dir.path();
    std::fs::write(
        d.join("job.json"),
        r#"{"seed": 3, "sample_count": 50, "train_epochs": 1, "batch_size": 10, "learning_rate": 0.1}"#,
    )
    .unwrap();
    mnist_app::dataset::bundle::write(&common::data("mnist-tiny.npz"), &d.join("dataset")).unwrap();
    let out = Command::new(common::bin()).current_dir(d).output().unwrap();
    common::assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no init_data.xml"));
    assert_eq!(
        common::deterministic(&d.join("metrics.json"))["split"]["train"],
        50
    );
    assert!(d.join(FINISH_FILE).exists());
    assert!(!d.join("weights.npy").exists(), "not exported unless asked");
}
