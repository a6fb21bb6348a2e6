//! Printing a command's output without panicking when its reader goes away.
//!
//! Rust programs ignore SIGPIPE, so when standard output is a pipe whose reader has exited
//! (`status --json | head`), a write fails with EPIPE — and `println!` panics on a failed
//! write. A reader that stops early has all it wanted, so these functions write to the locked
//! stream and treat a broken pipe as done; the command goes on and exits as it would have.

use std::fmt::Display;
use std::io::{self, Write};

/// Writes `text` to standard output; a closed pipe is success, any other failure (a full disk
/// behind a redirection) an error.
pub fn print(text: impl Display) -> io::Result<()> {
    quiet_on_broken_pipe(write_to(&mut io::stdout().lock(), text))
}

/// [`print`] and a newline.
pub fn println(text: impl Display) -> io::Result<()> {
    print(format_args!("{text}\n"))
}

/// Writes `text` and a newline to standard error (progress, warnings): there is nowhere left
/// to report a failure to, so none is.
pub fn eprintln(text: impl Display) {
    let _ = write_to(&mut io::stderr().lock(), format_args!("{text}\n"));
}

/// [`eprintln`] without the newline (a terminal redrawn in place).
pub fn eprint(text: impl Display) {
    let _ = write_to(&mut io::stderr().lock(), text);
}

fn write_to(w: &mut impl Write, text: impl Display) -> io::Result<()> {
    write!(w, "{text}")?;
    w.flush()
}

fn quiet_on_broken_pipe(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_pipe_is_success_and_other_errors_are_not() {
        assert!(quiet_on_broken_pipe(Err(io::ErrorKind::BrokenPipe.into())).is_ok());
        let full = quiet_on_broken_pipe(Err(io::Error::from_raw_os_error(28)));
        assert_eq!(full.unwrap_err().raw_os_error(), Some(28));
    }
}
