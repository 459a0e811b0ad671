//! `--root DIR`: every reader of /proc and /sys goes through [`Root`].

use std::path::{Path, PathBuf};

use super::fsread;

/// The directory /proc and /sys are read under (default `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Root {
    base: PathBuf,
}

impl Default for Root {
    fn default() -> Self {
        Root::new("/")
    }
}

impl Root {
    pub(crate) fn new(base: impl Into<PathBuf>) -> Self {
        Root { base: base.into() }
    }

    /// The base directory (`/` unless `--root` was given).
    pub(crate) fn base(&self) -> &Path {
        &self.base
    }

    /// True when reading the live system (`--root /`).
    pub(crate) fn is_live(&self) -> bool {
        self.base == Path::new("/")
    }

    /// `rel` (absolute like `/proc/interrupts` or relative) under the root.
    pub(crate) fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        let rel = rel.as_ref();
        let rel = rel.strip_prefix("/").unwrap_or(rel);
        self.base.join(rel)
    }

    /// Read a whole text file under the root (a regular file, never blocking on a FIFO, at
    /// most [`fsread::DEFAULT_MAX`] bytes); the error names the file.
    #[cfg(test)]
    fn read_to_string(&self, rel: impl AsRef<Path>) -> anyhow::Result<String> {
        fsread::read_capped_string(&self.path(rel), fsread::DEFAULT_MAX)
    }

    /// Read a file if it exists; `Ok(None)` when it does not (an absent optional file).
    pub(crate) fn read_optional(&self, rel: impl AsRef<Path>) -> anyhow::Result<Option<String>> {
        let p = self.path(rel);
        match std::fs::symlink_metadata(&p) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            _ => fsread::read_capped_string(&p, fsread::DEFAULT_MAX).map(Some),
        }
    }

    /// Read a one-value sysfs/procfs file, trimmed; `Ok(None)` when absent.
    pub(crate) fn read_value(&self, rel: impl AsRef<Path>) -> anyhow::Result<Option<String>> {
        Ok(self.read_optional(rel)?.map(|s| s.trim().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_go_under_the_root() {
        let r = Root::new("/tmp/capture");
        assert_eq!(
            r.path("/proc/interrupts"),
            Path::new("/tmp/capture/proc/interrupts")
        );
        assert_eq!(r.path("sys/block"), Path::new("/tmp/capture/sys/block"));
        assert_eq!(
            Root::default().path("/proc/net/tcp"),
            Path::new("/proc/net/tcp")
        );
        assert!(Root::default().is_live());
    }

    #[test]
    fn read_errors_name_the_file() {
        let r = Root::new("/nonexistent-opskit-root");
        let e = r.read_to_string("/proc/interrupts").unwrap_err();
        assert!(format!("{e:#}").contains("/nonexistent-opskit-root/proc/interrupts"));
        assert_eq!(r.read_optional("/proc/nothing").unwrap(), None);
    }

    #[test]
    fn a_fifo_under_the_root_is_an_error_not_a_hang() {
        let dir = std::env::temp_dir().join(format!("opskit-root-fifo-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("proc")).unwrap();
        let fifo = dir.join("proc/interrupts");
        let _ = std::fs::remove_file(&fifo);
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let r = Root::new(&dir);
        let e = r.read_to_string("/proc/interrupts").unwrap_err();
        assert!(format!("{e:#}").contains("a FIFO"), "{e:#}");
        assert!(r.read_optional("/proc/interrupts").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
