//! Uploads against the disk, on a real socket (issue 16, point 6): an upload cut off half way
//! resumes at its offset (BOINC's `<get_file_size>`, then `<file_upload>` with `<offset>`), and
//! a full upload file system refuses uploads with BOINC's transient statuses ("Server is out of
//! disk space" for a size query below `FUH_MIN_FREE_SPACE`, "No space left on server" for a
//! write), keeping nothing partial. The full file system is a 1 MiB tmpfs mounted on the
//! project's upload directory; where mounting is not permitted, that test says so and skips.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::Harness;
use rboinc_core::daemon::Shutdown;
use rboinc_scheduler::server;
use rboinc_scheduler::upload::request::data_start;
use rboinc_testkit::mnist::small_job;
use rboinc_testkit::sim::{OutputFile, SimHost, get_file_size_body, parse_reply, upload_body};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A project with one job sent, served on a free port.
async fn serving() -> (Harness, SocketAddr, OutputFile) {
    let h = Harness::new().await;
    h.project
        .create_mnist_work("wu_upload_disk", &small_job(3), Default::default())
        .await
        .unwrap();
    h.project.run_transitioner().await.unwrap();
    let host = SimHost::new(&h.project.authenticator, "uploading-host");
    let out = parse_reply(&h.rpc(&host.request(1.0, &[])).await).jobs[0].outputs[0].clone();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(server::serve(
        listener,
        h.app.clone(),
        Shutdown::new(None),
        Duration::from_secs(5),
    ));
    (h, addr, out)
}

/// The request line and headers of a POST of `len` bytes to the upload handler.
fn post_head(h: &Harness, len: usize) -> String {
    format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {len}\r\nConnection: close\r\n\r\n",
        h.upload_path()
    )
}

/// Reads the response until the server closes; its body.
async fn response(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut out))
        .await
        .expect("a reply within 30 s")
        .unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    text.split_once("\r\n\r\n").unwrap().1.to_string()
}

/// One complete request to the upload handler over its own connection; the reply.
async fn post(h: &Harness, addr: SocketAddr, body: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(post_head(h, body.len()).as_bytes())
        .await
        .unwrap();
    s.write_all(body).await.unwrap();
    response(&mut s).await
}

fn file_size(reply: &str) -> Option<u64> {
    rboinc_core::xml::text(reply, "file_size").and_then(|t| t.trim().parse().ok())
}

/// Every file under `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn stored(h: &Harness, out: &OutputFile) -> PathBuf {
    rboinc_core::hier::dir_hier_path(
        &h.state.settings.upload_dir,
        &out.name,
        h.state.settings.fanout,
    )
    .unwrap()
}

/// Polls until `check` holds (the server works on its own time), at most 20 s.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not within 20 s: {what}");
}

#[tokio::test]
async fn an_upload_cut_off_on_the_socket_resumes_at_the_offset_get_file_size_reports() {
    let (h, addr, out) = serving().await;
    let data: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
    // The client dies after sending 150,000 of 400,000 bytes: the connection just closes.
    let body = upload_body(&out, &data, 0);
    let sent = data_start(&body).unwrap() + 150_000;
    {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(post_head(&h, body.len()).as_bytes())
            .await
            .unwrap();
        s.write_all(&body[..sent]).await.unwrap();
        s.shutdown().await.unwrap();
    }
    // The handler keeps what arrived, outside the hierarchy.
    let partial = h
        .state
        .settings
        .upload_dir
        .join(".incoming")
        .join(&out.name);
    eventually("the partial file holds what was sent", || {
        std::fs::metadata(&partial).is_ok_and(|m| m.len() == 150_000)
    })
    .await;
    assert!(
        !stored(&h, &out).exists(),
        "nothing in place before it is complete"
    );
    // The client's retry asks how much the server has, and sends the rest from there.
    let size = post(&h, addr, &get_file_size_body(&out.name)).await;
    assert!(size.contains("<status>0</status>"), "{size}");
    let offset = file_size(&size).expect("a file size");
    assert_eq!(offset, 150_000, "{size}");
    let reply = post(&h, addr, &upload_body(&out, &data, offset as usize)).await;
    assert!(reply.contains("<status>0</status>"), "{reply}");
    assert_eq!(std::fs::read(stored(&h, &out)).unwrap(), data);
    assert!(!partial.exists(), "the partial file became the stored one");
}

/// A tmpfs mounted on a directory for the test's life.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` (mount's syntax) on `dir`; `None` (having said why) where the
    /// machine does not permit it.
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs(dir.to_path_buf())),
            Ok(o) => {
                eprintln!(
                    "SKIPPED: cannot mount a tmpfs here (root and CAP_SYS_ADMIN are needed): {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("SKIPPED: cannot run mount: {e}");
                None
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test]
async fn a_full_upload_file_system_refuses_uploads_with_a_transient_status_and_keeps_nothing() {
    let (h, addr, out) = serving().await;
    let upload_dir = h.state.settings.upload_dir.clone();
    std::fs::create_dir_all(&upload_dir).unwrap();
    let Some(_tmpfs) = Tmpfs::mount(&upload_dir, "1m") else {
        return;
    };

    // BOINC's handle_get_file_size: under FUH_MIN_FREE_SPACE free, the client is told to come
    // back later before it starts a transfer.
    let size = post(&h, addr, &get_file_size_body(&out.name)).await;
    assert!(
        size.contains("<status>1</status>") && size.contains("Server is out of disk space"),
        "{size}"
    );

    // An upload larger than the room left: refused, transient, nothing written.
    let big: Vec<u8> = vec![7u8; 2_000_000];
    let reply = post(&h, addr, &upload_body(&out, &big, 0)).await;
    assert!(
        reply.contains("<status>1</status>")
            && reply.contains(&format!("write file {}: No space left on server", out.name)),
        "{reply}"
    );
    assert!(files(&upload_dir).is_empty(), "{:?}", files(&upload_dir));

    // An upload that fits when it starts but meets a full disk half way (another writer took
    // the room): ENOSPC, the same transient status, and its partial file is gone.
    let data: Vec<u8> = vec![9u8; 600_000];
    let body = upload_body(&out, &data, 0);
    let first = data_start(&body).unwrap() + 300_000;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(post_head(&h, body.len()).as_bytes())
        .await
        .unwrap();
    s.write_all(&body[..first]).await.unwrap();
    let partial = upload_dir.join(".incoming").join(&out.name);
    eventually("the first half written", || {
        std::fs::metadata(&partial).is_ok_and(|m| m.len() == 300_000)
    })
    .await;
    let filler = upload_dir.join("filler");
    std::fs::write(&filler, vec![0u8; 600_000]).unwrap();
    // The rest may not all be read once the server has answered.
    let _ = s.write_all(&body[first..]).await;
    let reply = response(&mut s).await;
    assert!(
        reply.contains("<status>1</status>") && reply.contains("No space left on server"),
        "{reply}"
    );
    assert!(!partial.exists(), "the partial upload was dropped");
    assert!(!stored(&h, &out).exists());
    assert_eq!(files(&upload_dir), vec![filler.clone()]);

    // With room again, the client's retry goes through (the refusals were about room only).
    std::fs::remove_file(&filler).unwrap();
    let small: Vec<u8> = b"{\"val_acc\": 0.5}\n".to_vec();
    let reply = post(&h, addr, &upload_body(&out, &small, 0)).await;
    assert!(reply.contains("<status>0</status>"), "{reply}");
    assert_eq!(std::fs::read(stored(&h, &out)).unwrap(), small);
}
