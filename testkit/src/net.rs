//! Loopback ports for test servers.

use std::net::TcpListener;

/// A TCP port on 127.0.0.1 that was free a moment ago (bound, then released). A project's
/// `master_url` must name its port before the server starts, hence this small race, which
/// the tests accept.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}
