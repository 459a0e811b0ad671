//! Whether the TUI can run, and the terminal it reads keys from.
//!
//! Keys come from the controlling terminal (`/dev/tty`), never from whatever stdin is: started
//! as `opskit itop </dev/null` from a wrapper, stdin is always "readable" (EOF) and polling it
//! would spin a core.

use std::fmt;
use std::fs::File;
use std::io::IsTerminal;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

/// The smallest window the table view is drawn in; smaller gets plain samples.
pub(crate) const MIN_WIDTH: u16 = 40;
pub(crate) const MIN_HEIGHT: u16 = 8;

/// The controlling terminal, open for polling.
#[derive(Debug)]
pub(crate) struct Tty {
    file: File,
}

impl Tty {
    pub(crate) fn fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

/// What the process is attached to.
#[derive(Debug)]
#[allow(clippy::enum_variant_names)] // the variants read as sentences: "stdout not a terminal"
pub(crate) enum Terminal {
    Usable(Tty),
    /// stdout is a pipe or a file: plain samples, silently.
    StdoutNotATerminal,
    /// `TERM` is unset, empty or `dumb`.
    Dumb,
    /// No controlling terminal to read keys from.
    NoControllingTerminal,
    TooSmall {
        width: u16,
        height: u16,
    },
}

impl fmt::Display for Terminal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Terminal::Usable(_) => write!(f, "a terminal"),
            Terminal::StdoutNotATerminal => write!(f, "stdout is not a terminal"),
            Terminal::Dumb => write!(f, "TERM is dumb or unset (no cursor control)"),
            Terminal::NoControllingTerminal => {
                write!(f, "no controlling terminal (/dev/tty) to read keys from")
            }
            Terminal::TooSmall { width, height } => write!(
                f,
                "the window ({width}x{height}) is smaller than {MIN_WIDTH}x{MIN_HEIGHT}"
            ),
        }
    }
}

/// Decide whether the TUI can run here.
pub(crate) fn terminal() -> Terminal {
    if !std::io::stdout().is_terminal() {
        return Terminal::StdoutNotATerminal;
    }
    let term = std::env::var("TERM").unwrap_or_default();
    if term.is_empty() || term == "dumb" {
        return Terminal::Dumb;
    }
    let Ok(file) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC)
        .open("/dev/tty")
    else {
        return Terminal::NoControllingTerminal;
    };
    match crossterm::terminal::size() {
        Ok((width, height)) if width < MIN_WIDTH || height < MIN_HEIGHT => {
            Terminal::TooSmall { width, height }
        }
        Err(_) => Terminal::NoControllingTerminal,
        Ok(_) => Terminal::Usable(Tty { file }),
    }
}
