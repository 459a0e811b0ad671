//! `--root DIR`: every reader of /proc and /sys goes through [`Root`].

use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// The directory /proc and /sys are read under (default `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    base: PathBuf,
}

impl Default for Root {
    fn default() -> Self {
        Root::new("/")
    }
}

impl Root {
    pub fn new(base: impl Into<PathBuf>) -> Self {
        Root { base: base.into() }
    }

    /// The base directory (`/` unless `--root` was given).
    pub fn base(&self) -> &Path {
        &self.base
    }

    /// True when reading the live system (`--root /`).
    pub fn is_live(&self) -> bool {
        self.base == Path::new("/")
    }

    /// `rel` (absolute like `/proc/interrupts` or relative) under the root.
    pub fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        let rel = rel.as_ref();
        let rel = rel.strip_prefix("/").unwrap_or(rel);
        self.base.join(rel)
    }

    /// Read a whole text file under the root; the error names the file.
    pub fn read_to_string(&self, rel: impl AsRef<Path>) -> anyhow::Result<String> {
        let p = self.path(rel);
        std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))
    }

    /// Read a file if it exists; `Ok(None)` when it does not (an absent optional file).
    pub fn read_optional(&self, rel: impl AsRef<Path>) -> anyhow::Result<Option<String>> {
        let p = self.path(rel);
        match std::fs::read_to_string(&p) {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
        }
    }

    /// Read a one-value sysfs/procfs file, trimmed; `Ok(None)` when absent.
    pub fn read_value(&self, rel: impl AsRef<Path>) -> anyhow::Result<Option<String>> {
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
}
