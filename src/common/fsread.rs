//! Reading input files so that no file can hang or exhaust a tool.
//!
//! Every file a tool reads as a whole (`/proc`, `/sys`, `--from`, `--file`, `--state`) goes
//! through here:
//! - it is opened with `O_NONBLOCK`, so opening a FIFO with no writer never blocks, and then
//!   refused unless it is a regular file (procfs and sysfs files are regular files);
//! - it is read with a byte cap: a file larger than the cap is an error naming the file and the
//!   cap, not a 1 GB allocation (`/proc` files report size 0, so the cap is checked while
//!   reading, not from `stat`).
//!
//! Standard input (`--file -`) is streamed with the same cap ([`open_capped`]).

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use anyhow::{bail, Context as _};

/// The default cap for a file read whole: far above any real /proc or /sys file or BIND
/// statistics document, far below what could hurt the machine.
pub(crate) const DEFAULT_MAX: u64 = 64 << 20;

/// What a file turned out to be, for the "not a regular file" error.
fn kind_of(ft: &std::fs::FileType) -> &'static str {
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else {
        "not a regular file"
    }
}

/// Open `path` read-only without blocking (a FIFO with no writer returns at once) and refuse
/// anything but a regular file. The returned file is back in blocking mode.
pub(crate) fn open_regular(path: &Path) -> anyhow::Result<File> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .with_context(|| format!("reading {}", path.display()))?;
    let ft = f
        .metadata()
        .with_context(|| format!("reading {}", path.display()))?
        .file_type();
    if !ft.is_file() {
        bail!(
            "reading {}: {} (a regular file was expected)",
            path.display(),
            kind_of(&ft)
        );
    }
    // back to blocking reads: a regular file never blocks, and some filesystems (fuse, 9p)
    // may return EAGAIN under O_NONBLOCK
    nix::fcntl::fcntl(
        &f,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty()),
    )
    .with_context(|| format!("reading {}", path.display()))?;
    Ok(f)
}

/// Read everything from `r`, at most `max` bytes; more is an error naming `what` and the cap.
fn read_all_capped(
    mut r: impl Read,
    max: u64,
    what: &str,
    buf: &mut Vec<u8>,
) -> anyhow::Result<()> {
    buf.clear();
    let n = r
        .by_ref()
        .take(max.saturating_add(1))
        .read_to_end(buf)
        .with_context(|| format!("reading {what}"))?;
    if n as u64 > max {
        bail!("reading {what}: larger than the {} limit", human_bytes(max));
    }
    Ok(())
}

/// Read a regular file whole, at most `max` bytes.
pub(crate) fn read_capped(path: &Path, max: u64) -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    read_capped_into(path, max, &mut buf)?;
    Ok(buf)
}

/// [`read_capped`] into a reused buffer (itop reads /proc/interrupts every second).
pub(crate) fn read_capped_into(path: &Path, max: u64, buf: &mut Vec<u8>) -> anyhow::Result<()> {
    let f = open_regular(path)?;
    // one allocation of the right size for a regular file (procfs says 0: grows as read)
    if let Ok(m) = f.metadata() {
        buf.clear();
        buf.reserve(
            usize::try_from(m.len().min(max))
                .unwrap_or(0)
                .saturating_add(1),
        );
    }
    read_all_capped(f, max, &path.display().to_string(), buf)
}

/// A reader that fails once more than its cap has been read from it (a file or standard
/// input streamed rather than read whole): the error names the cap; the caller names the file.
pub(crate) struct Capped<R> {
    inner: R,
    left: u64,
    max: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        // one byte past the cap tells a file of exactly `max` bytes from a larger one
        let room = usize::try_from(self.left.saturating_add(1)).unwrap_or(usize::MAX);
        let n = out.len().min(room);
        let got = self.inner.read(&mut out[..n])?;
        if got as u64 > self.left {
            return Err(std::io::Error::other(format!(
                "larger than the {} limit",
                human_bytes(self.max)
            )));
        }
        self.left -= got as u64;
        Ok(got)
    }
}

/// A regular file (or standard input, for `-`) to be streamed, at most `max` bytes.
pub(crate) fn open_capped(path: &Path, max: u64) -> anyhow::Result<Capped<Box<dyn Read>>> {
    let inner: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(open_regular(path)?)
    };
    Ok(Capped {
        inner,
        left: max,
        max,
    })
}

/// Read a regular text file whole, at most `max` bytes; invalid UTF-8 is an error naming the
/// file and the line.
pub(crate) fn read_capped_string(path: &Path, max: u64) -> anyhow::Result<String> {
    let bytes = read_capped(path, max)?;
    utf8(bytes, &path.display().to_string())
}

/// Bytes to a `String`, or an error naming `what` and the line of the first invalid byte.
pub(crate) fn utf8(bytes: Vec<u8>, what: &str) -> anyhow::Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        anyhow::anyhow!("reading {what}: line {line}: not valid UTF-8 (byte offset {at})")
    })
}

/// `65536` -> `64 KiB`, for limits in messages.
fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["bytes", "KiB", "MiB", "GiB"];
    let mut v = n;
    let mut u = 0;
    while v >= 1024 && v % 1024 == 0 && u < UNITS.len() - 1 {
        v /= 1024;
        u += 1;
    }
    format!("{v} {}", UNITS[u])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("opskit-fsread-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&d);
        d
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let p = tmp("fifo");
        nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let e = read_capped(&p, 100).unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains("a FIFO"), "{msg}");
        assert!(msg.contains(&p.display().to_string()), "{msg}");
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn devices_and_directories_are_refused() {
        let e = read_capped(Path::new("/dev/zero"), 100).unwrap_err();
        assert!(format!("{e:#}").contains("/dev/zero: a character device"));
        let e = read_capped(Path::new("/"), 100).unwrap_err();
        assert!(format!("{e:#}").contains("a directory"));
    }

    #[test]
    fn the_cap_is_enforced_and_named() {
        let p = tmp("big");
        std::fs::write(&p, vec![b'x'; 2048]).unwrap();
        assert_eq!(read_capped(&p, 2048).unwrap().len(), 2048);
        let e = read_capped(&p, 1024).unwrap_err();
        assert!(format!("{e:#}").contains("larger than the 1 KiB limit"));
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn a_streamed_file_is_capped_too() {
        let p = tmp("capped");
        std::fs::write(&p, vec![b'x'; 2048]).unwrap();
        let mut v = Vec::new();
        open_capped(&p, 2048).unwrap().read_to_end(&mut v).unwrap();
        assert_eq!(v.len(), 2048);
        let e = open_capped(&p, 1024)
            .unwrap()
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert!(e.to_string().contains("larger than the 1 KiB limit"), "{e}");
        let e = open_capped(Path::new("/dev/zero"), 10).err().unwrap();
        assert!(format!("{e:#}").contains("a character device"));
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn procfs_files_are_read_despite_size_zero() {
        let s = read_capped_string(Path::new("/proc/self/status"), DEFAULT_MAX).unwrap();
        assert!(s.contains("Pid:"));
    }

    #[test]
    fn invalid_utf8_names_the_line() {
        let p = tmp("utf8");
        std::fs::write(&p, b"ok\nstill ok\nbad \xff here\n").unwrap();
        let e = read_capped_string(&p, 100).unwrap_err();
        assert!(
            format!("{e:#}").contains("line 3: not valid UTF-8"),
            "{e:#}"
        );
        std::fs::remove_file(&p).unwrap();
    }
}
