//! Connections that stall are dropped after `<http_idle_timeout>`: headers that never end, a
//! keep-alive connection left idle, a request body that stops sending — on a real socket. An
//! upload cut off that way releases its file, so the client's retry (size query, then the rest
//! from that offset: BOINC's upload protocol) completes it.

mod common;

use std::time::{Duration, Instant};

use common::Harness;
use rboinc_core::daemon::Shutdown;
use rboinc_scheduler::server;
use rboinc_testkit::sim::{SimHost, get_file_size_body, parse_reply, upload_body};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const IDLE: Duration = Duration::from_secs(1);

/// The project's server on a free port, dropping stalled connections after [`IDLE`].
async fn serving() -> (Harness, std::net::SocketAddr) {
    let h = Harness::new().await;
    h.project.set_option("http_idle_timeout", "1").unwrap();
    let h = h.reload();
    assert_eq!(h.state.settings.http_idle_timeout, IDLE);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = h.app.clone();
    tokio::spawn(server::serve(listener, app, Shutdown::new(None), IDLE));
    (h, addr)
}

/// Reads until the server closes the connection; what it sent, and when it closed.
async fn read_until_closed(stream: &mut TcpStream) -> (String, Instant) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(20), stream.read(&mut buf)).await {
            Err(_) => panic!(
                "the connection was still open after 20 s: {}",
                String::from_utf8_lossy(&out)
            ),
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (String::from_utf8_lossy(&out).into_owned(), Instant::now());
            }
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn headers_that_never_end_are_dropped() {
    let (_h, addr) = serving().await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let start = Instant::now();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let (_, closed) = read_until_closed(&mut s).await;
    let after = closed - start;
    assert!(after >= IDLE && after < IDLE * 10, "closed after {after:?}");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_dropped() {
    let (h, addr) = serving().await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let path = h.state.settings.urls.master_path.clone();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let start = Instant::now();
    let (text, closed) = read_until_closed(&mut s).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        closed - start < IDLE * 10,
        "closed after {:?}",
        closed - start
    );
}

#[tokio::test]
async fn a_scheduler_request_whose_body_stalls_gets_a_reply_and_the_connection_ends() {
    let (h, addr) = serving().await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: 5000\r\n\r\n<scheduler_request>\n",
        h.sched_path()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let (text, _) = read_until_closed(&mut s).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("request body stalled"), "{text}");
    // The server still serves others.
    let mut t = TcpStream::connect(addr).await.unwrap();
    t.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (text, _) = read_until_closed(&mut t).await;
    assert!(text.starts_with("HTTP/1.1"), "{text}");
}

#[tokio::test]
async fn an_upload_whose_client_stops_sending_is_answered_within_the_bound() {
    let (h, addr) = serving().await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n<data_server_request>\n",
        h.upload_path()
    );
    let start = Instant::now();
    s.write_all(head.as_bytes()).await.unwrap();
    let (text, closed) = read_until_closed(&mut s).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("<status>"), "{text}");
    assert!(
        closed - start < IDLE * 10,
        "closed after {:?}",
        closed - start
    );
}

#[tokio::test]
async fn a_stalled_upload_releases_its_file_and_the_clients_retry_completes_it() {
    let (h, addr) = serving().await;
    h.project
        .create_mnist_work(
            "wu_stall",
            &rboinc_testkit::mnist::small_job(3),
            Default::default(),
        )
        .await
        .unwrap();
    h.project.run_transitioner().await.unwrap();
    let host = SimHost::new(&h.project.authenticator, "stalling-uploader");
    let reply = parse_reply(&h.rpc(&host.request(1.0, &[])).await);
    let out = reply.jobs[0].outputs[0].clone();
    let max: usize = out.max_nbytes.parse().unwrap();
    let data: Vec<u8> = (0..max.min(40_000))
        .map(|i| b'a' + (i % 26) as u8)
        .collect();
    let half = data.len() / 2;

    // The client sends its header and half the bytes, then goes silent with the socket open.
    let body = upload_body(&out, &data, 0);
    let sent = body.len() - (data.len() - half);
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        h.upload_path(),
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&body[..sent]).await.unwrap();
    let (text, _) = read_until_closed(&mut s).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.contains("<status>1</status>"),
        "a transient error: {text}"
    );

    // The retry: the size query says how much arrived, the rest is sent from there.
    let (_, size) = h
        .post(&h.upload_path(), get_file_size_body(&out.name))
        .await;
    let have: usize = rboinc_core::xml::parse(&size, "file_size").expect(&size);
    assert_eq!(have, half, "the bytes before the stall are kept: {size}");
    let (_, done) = h
        .post(&h.upload_path(), upload_body(&out, &data, have))
        .await;
    assert!(done.contains("<status>0</status>"), "{done}");
    let stored = rboinc_core::hier::dir_hier_path(
        &h.state.settings.upload_dir,
        &out.name,
        h.state.settings.fanout,
    )
    .unwrap();
    assert_eq!(std::fs::read(stored).unwrap(), data);
}
