//! The shared-memory file `boinc_mmap_file` through which a BOINC client and its app talk.
//!
//! The client (for apps with `api_version` ≥ 6) creates the file in the slot directory, 8 channels
//! of 1,024 bytes each. In a channel, byte 0 is the "message pending" flag and the NUL-terminated
//! text starts at byte 1. A sender writes only when the flag is 0, then sets it to 1; the receiver
//! copies the text and clears the flag.
//!
//! The other side of this memory is another process, so every access goes through `AtomicU8`
//! (same size and alignment as `u8`): the flag is set with release ordering after the text is
//! written and read with acquire ordering before the text is read. The one `unsafe` operation in
//! the crate — viewing the mapping as atomics — lives in [`cells`], the smallest scope that works.

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};

use memmap2::MmapRaw;

/// Bytes per channel.
pub const CHANNEL_SIZE: usize = 1024;
/// Channels in the file.
pub const CHANNELS: usize = 8;
/// Size of the whole file.
pub const FILE_SIZE: usize = CHANNEL_SIZE * CHANNELS;
/// The file's name in the slot directory.
pub const FILE_NAME: &str = "boinc_mmap_file";

/// The channels, in file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// Client → app: `<quit/>`, `<suspend/>`, `<resume/>`, `<abort/>`.
    ProcessControlRequest = 0,
    ProcessControlReply = 1,
    GraphicsRequest = 2,
    GraphicsReply = 3,
    /// Client → app: `<heartbeat/>` about once a second.
    Heartbeat = 4,
    /// App → client: CPU time and fraction done.
    AppStatus = 5,
    TrickleUp = 6,
    TrickleDown = 7,
}

/// A mapped `boinc_mmap_file`, usable from either side and from several threads.
#[derive(Debug)]
pub struct SharedMem {
    map: MmapRaw,
}

impl SharedMem {
    /// Maps an existing file; it must be at least [`FILE_SIZE`] bytes.
    pub fn open(path: &Path) -> std::io::Result<SharedMem> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let len = file.metadata()?.len();
        if len < FILE_SIZE as u64 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} is {len} bytes, expected {FILE_SIZE}", path.display()),
            ));
        }
        let map = MmapRaw::map_raw(&file)?;
        Ok(SharedMem { map })
    }

    fn channel(&self, ch: Channel) -> &[AtomicU8] {
        let start = ch as usize * CHANNEL_SIZE;
        &cells(&self.map)[start..start + CHANNEL_SIZE]
    }

    /// Whether a message is waiting in `ch`.
    pub fn has_message(&self, ch: Channel) -> bool {
        self.channel(ch)[0].load(Ordering::Acquire) != 0
    }

    /// Sends `text` unless the previous message is still unread (then returns `false`).
    /// Text longer than the channel is cut to fit.
    pub fn send(&self, ch: Channel, text: &str) -> bool {
        let c = self.channel(ch);
        if c[0].load(Ordering::Acquire) != 0 {
            return false;
        }
        let bytes = text.as_bytes();
        let n = bytes.len().min(CHANNEL_SIZE - 2);
        for (cell, b) in c[1..].iter().zip(&bytes[..n]) {
            cell.store(*b, Ordering::Relaxed);
        }
        c[1 + n].store(0, Ordering::Relaxed);
        c[0].store(1, Ordering::Release);
        true
    }

    /// Takes the waiting message from `ch`, if any.
    pub fn receive(&self, ch: Channel) -> Option<String> {
        let c = self.channel(ch);
        if c[0].load(Ordering::Acquire) == 0 {
            return None;
        }
        let bytes: Vec<u8> = c[1..]
            .iter()
            .map(|cell| cell.load(Ordering::Relaxed))
            .take_while(|b| *b != 0)
            .collect();
        c[0].store(0, Ordering::Release);
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// The mapping as atomic bytes.
#[allow(unsafe_code)]
fn cells(map: &MmapRaw) -> &[AtomicU8] {
    // SAFETY: `map` is a live shared mapping of `map.len()` bytes that stays mapped for as long as
    // the returned borrow of `map` lives. `AtomicU8` has the size and alignment of `u8`, and
    // through this slice every access is atomic, so concurrent writes by the client process or
    // by our own threads are not data races. No `&`/`&mut [u8]` view of the mapping exists.
    unsafe { std::slice::from_raw_parts(map.as_mut_ptr().cast::<AtomicU8>(), map.len()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_mappings_of_one_file_talk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, vec![0u8; FILE_SIZE]).unwrap();
        let app = SharedMem::open(&path).unwrap();
        let client = SharedMem::open(&path).unwrap();

        assert!(client.send(Channel::ProcessControlRequest, "<suspend/>"));
        assert!(
            !client.send(Channel::ProcessControlRequest, "<resume/>"),
            "still unread"
        );
        assert!(app.has_message(Channel::ProcessControlRequest));
        assert_eq!(
            app.receive(Channel::ProcessControlRequest).as_deref(),
            Some("<suspend/>")
        );
        assert_eq!(app.receive(Channel::ProcessControlRequest), None);

        assert!(app.send(Channel::AppStatus, "<fraction_done>0.5</fraction_done>\n"));
        let raw = std::fs::read(&path).unwrap();
        let at = Channel::AppStatus as usize * CHANNEL_SIZE;
        assert_eq!(raw[at], 1);
        assert!(raw[at + 1..].starts_with(b"<fraction_done>0.5"));
        assert_eq!(
            client.receive(Channel::AppStatus).unwrap(),
            "<fraction_done>0.5</fraction_done>\n"
        );

        let long = "x".repeat(5000);
        assert!(app.send(Channel::TrickleUp, &long));
        assert_eq!(
            client.receive(Channel::TrickleUp).unwrap().len(),
            CHANNEL_SIZE - 2
        );
    }

    #[test]
    fn short_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, vec![0u8; 100]).unwrap();
        assert!(SharedMem::open(&path).is_err());
    }
}
