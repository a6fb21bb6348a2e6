//! Logical file names → physical paths, as a BOINC slot lays them out.
//!
//! For every input and output the client puts a small file in the slot, named by the logical
//! (open) name, whose first line is `<soft_link>../../projects/<project>/<physical name></soft_link>`
//! (relative to the slot). A symbolic link is used as is, and a name with no such file (a
//! standalone run, or a `<copy_file/>` input) is used as a plain path.

use std::io::Read;
use std::path::{Path, PathBuf};

/// Resolves `logical` in directory `dir`.
pub fn resolve(dir: &Path, logical: &str) -> std::io::Result<PathBuf> {
    let path = dir.join(logical);
    let meta = match std::fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(path),
        Err(e) => return Err(e),
    };
    if meta.file_type().is_symlink() || !meta.is_file() {
        return Ok(path);
    }
    // Link files are one short line; a real data file is only peeked at.
    let mut head = Vec::with_capacity(512);
    std::fs::File::open(&path)?
        .take(4096)
        .read_to_end(&mut head)?;
    let text = String::from_utf8_lossy(&head);
    let first_line = text.lines().next().unwrap_or("");
    Ok(match soft_link_target(first_line) {
        Some(target) => dir.join(target),
        None => path,
    })
}

fn soft_link_target(line: &str) -> Option<&str> {
    let start = line.find("<soft_link>")? + "<soft_link>".len();
    let len = line[start..].find("</soft_link>")?;
    let target = line[start..start + len].trim();
    (!target.is_empty()).then_some(target)
}

/// Writes a link file as the client does (used by tests and by tools that lay out slots).
pub fn write_link(dir: &Path, logical: &str, target: &str) -> std::io::Result<()> {
    std::fs::write(
        dir.join(logical),
        format!("<soft_link>{target}</soft_link>\n"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_clients_link_files() {
        let root = tempfile::tempdir().unwrap();
        let slot = root.path().join("slots/0");
        std::fs::create_dir_all(&slot).unwrap();
        // The exact text of a real 7.20.5 link file.
        let fixture = include_str!("../../../fixtures/client-7.20.5/app/link_in.txt");
        std::fs::write(slot.join("in"), fixture).unwrap();
        assert_eq!(
            resolve(&slot, "in").unwrap(),
            slot.join("../../projects/127.0.0.1_18090_proj/wu_1_in")
        );
    }

    #[test]
    fn plain_names_and_plain_files_pass_through() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            resolve(dir.path(), "job.json").unwrap(),
            dir.path().join("job.json")
        );
        std::fs::write(dir.path().join("job.json"), "{\"seed\": 1}").unwrap();
        assert_eq!(
            resolve(dir.path(), "job.json").unwrap(),
            dir.path().join("job.json")
        );
        write_link(dir.path(), "dataset", "../x/ds").unwrap();
        assert_eq!(
            resolve(dir.path(), "dataset").unwrap(),
            dir.path().join("../x/ds")
        );
    }
}
