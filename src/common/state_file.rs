//! The one writer of state files (the munin plugins' graphs, conn-audit's first sightings),
//! safe where another user can write: a root run must never be turned into writing a file
//! an attacker chose.
//!
//! - The directory must be controlled by us: owned by this user or root, and not writable by
//!   anyone else unless it is sticky (`/tmp`-like), where only our own file is replaced.
//! - The state file itself is never followed when it is a symlink, for reading or writing.
//! - The new content goes to a temporary file created with `O_CREAT|O_EXCL|O_NOFOLLOW` (mode
//!   0600) beside the target, is fsync'ed, then renamed over the target: a planted symlink or
//!   file at the temporary name makes the create fail instead of being followed; readers see
//!   the old or the new file, never half of one.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{
    DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _,
};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};

use crate::common::fsread;

/// Why a state path is refused; the message names the path and what is wrong with it.
fn refuse(path: &Path, why: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("not using state file {}: {why}", path.display())
}

/// Check that `path`'s directory and the file itself (if present) are safe to trust; the
/// error says which and why.
pub(crate) fn check(path: &Path) -> anyhow::Result<()> {
    let dir = parent(path);
    check_route(path, &dir)?;
    let d =
        std::fs::metadata(&dir).with_context(|| format!("state directory {}", dir.display()))?;
    if !d.is_dir() {
        bail!(refuse(
            path,
            format!("{} is not a directory", dir.display())
        ));
    }
    let me = nix::unistd::geteuid().as_raw();
    if d.uid() != me && d.uid() != 0 {
        bail!(refuse(
            path,
            format!(
                "its directory {} belongs to another user (uid {})",
                dir.display(),
                d.uid()
            )
        ));
    }
    let mode = d.permissions().mode();
    let others_write = mode & 0o022 != 0;
    let sticky = mode & 0o1000 != 0;
    let file = match std::fs::symlink_metadata(path) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("state file {}", path.display())),
    };
    if let Some(m) = &file {
        if m.file_type().is_symlink() {
            bail!(refuse(path, "it is a symbolic link"));
        }
    }
    if others_write {
        if !sticky {
            bail!(refuse(
                path,
                format!(
                    "its directory {} is writable by other users (mode {:04o}) and not sticky",
                    dir.display(),
                    mode & 0o7777
                )
            ));
        }
        if let Some(m) = file.as_ref().filter(|m| m.uid() != me) {
            bail!(refuse(
                path,
                format!(
                    "it belongs to another user (uid {}) in a shared directory",
                    m.uid()
                )
            ));
        }
    }
    Ok(())
}

/// Read the state file (at most `max` bytes, through [`fsread`]): `Ok(None)` when it does not
/// exist yet; an error when it is unsafe to trust (see [`check`]) or unreadable.
pub(crate) fn read(path: &Path, max: u64) -> anyhow::Result<Option<Vec<u8>>> {
    if !path.exists() && std::fs::symlink_metadata(path).is_err() {
        return Ok(None);
    }
    check(path)?;
    fsread::read_capped(path, max).map(Some)
}

/// Every step to `dir` must be ours to trust: each entry on the way (directory or symlink,
/// with the symlinks followed as the kernel does) belongs to root or to this user, and each
/// directory holding one is writable by nobody else unless it is sticky (`/tmp`). Otherwise
/// another user could swap a step for a symlink to a directory of their choosing
/// (`MUNIN_PLUGSTATE=/tmp/x/state`, with `state` a link planted to `/etc`).
fn check_route(path: &Path, dir: &Path) -> anyhow::Result<()> {
    use std::collections::VecDeque;
    use std::path::Component;
    let me = nix::unistd::geteuid().as_raw();
    let abs = if dir.is_absolute() {
        dir.to_path_buf()
    } else {
        std::env::current_dir()
            .context("the current directory")?
            .join(dir)
    };
    let mut todo: VecDeque<std::ffi::OsString> = VecDeque::new();
    let mut cur = PathBuf::from("/");
    let push = |todo: &mut VecDeque<std::ffi::OsString>, p: &Path, front: bool| {
        let parts: Vec<_> = p
            .components()
            .filter_map(|c| match c {
                Component::RootDir => Some("/".into()),
                Component::ParentDir => Some("..".into()),
                Component::Normal(n) => Some(n.to_os_string()),
                _ => None,
            })
            .collect();
        if front {
            for x in parts.into_iter().rev() {
                todo.push_front(x);
            }
        } else {
            todo.extend(parts);
        }
    };
    push(&mut todo, &abs, false);
    let mut links = 0;
    while let Some(part) = todo.pop_front() {
        if part == "/" {
            cur = PathBuf::from("/");
            continue;
        }
        if part == ".." {
            cur.pop();
            continue;
        }
        let next = cur.join(&part);
        let m = std::fs::symlink_metadata(&next)
            .with_context(|| format!("state directory {}", next.display()))?;
        if m.uid() != me && m.uid() != 0 {
            bail!(refuse(
                path,
                format!(
                    "{} on the way to it belongs to another user (uid {})",
                    next.display(),
                    m.uid()
                )
            ));
        }
        let holder = std::fs::metadata(&cur)
            .with_context(|| format!("state directory {}", cur.display()))?;
        let mode = holder.permissions().mode();
        if mode & 0o022 != 0 && mode & 0o1000 == 0 {
            bail!(refuse(
                path,
                format!(
                    "{} on the way to it is writable by other users (mode {:04o}) and not sticky",
                    cur.display(),
                    mode & 0o7777
                )
            ));
        }
        if m.file_type().is_symlink() {
            links += 1;
            if links > 40 {
                bail!(refuse(path, "too many symbolic links on the way to it"));
            }
            let target = std::fs::read_link(&next)
                .with_context(|| format!("reading the link {}", next.display()))?;
            push(&mut todo, &target, true);
            continue;
        }
        cur = next;
    }
    Ok(())
}

/// Replace `path` with `bytes` atomically (see the module doc). The directory is created
/// (mode 0700) when missing.
pub(crate) fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = parent(path);
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    check(path)?;
    let (tmp, mut f) = create_tmp(path)?;
    let written = f.write_all(bytes).and_then(|()| f.sync_all());
    drop(f);
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing {}", tmp.display()));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        anyhow::Error::new(e).context(format!("renaming to {}", path.display()))
    })?;
    // the rename itself survives a crash once the directory is synced (best effort)
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// A new temporary file beside `path`, created exclusively and never through a symlink.
fn create_tmp(path: &Path) -> anyhow::Result<(PathBuf, File)> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".into());
    let mut last = None;
    for attempt in 0..16u32 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let tmp = path.with_file_name(format!(
            ".{name}.{}.{nanos}.{attempt}.tmp",
            std::process::id()
        ));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
        {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e).with_context(|| format!("creating {}", tmp.display())),
        }
    }
    Err(last.map_or_else(|| anyhow::anyhow!("no temporary name"), anyhow::Error::new))
        .with_context(|| format!("creating a temporary file beside {}", path.display()))
}

/// The directory holding `path` (`.` for a bare file name).
fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path, m: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    }

    #[test]
    fn writes_replace_atomically_and_leave_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.json");
        write(&p, b"one").unwrap();
        write(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn a_planted_symlink_is_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let p = dir.path().join("s.json");
        std::os::unix::fs::symlink(&victim, &p).unwrap();
        let e = write(&p, b"state").unwrap_err();
        assert!(format!("{e:#}").contains("symbolic link"), "{e:#}");
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    }

    #[test]
    fn a_directory_others_can_write_is_refused_unless_sticky() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.json");
        mode(dir.path(), 0o777);
        let e = write(&p, b"x").unwrap_err();
        assert!(
            format!("{e:#}").contains("writable by other users (mode 0777)"),
            "{e:#}"
        );
        assert!(!p.exists());
        // the healthy twin: a sticky shared directory (/tmp-like) with our own file
        mode(dir.path(), 0o1777);
        write(&p, b"x").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"x");
        // and a private directory
        mode(dir.path(), 0o700);
        write(&p, b"y").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"y");
    }

    #[test]
    fn a_route_through_another_users_link_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::create_dir(&victim).unwrap();
        let shared = dir.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        let link = shared.join("state");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        // the healthy twin: our own link in our own directory is followed
        write(&link.join("s.json"), b"ok").unwrap();
        assert_eq!(std::fs::read(victim.join("s.json")).unwrap(), b"ok");
        // a directory on the way that others can write (not sticky): refused, nothing written
        mode(&shared, 0o777);
        let e = write(&link.join("t.json"), b"x").unwrap_err();
        assert!(
            format!("{e:#}").contains("on the way to it is writable"),
            "{e:#}"
        );
        assert!(!victim.join("t.json").exists());
        mode(&shared, 0o755);
        // a link that another user owns (root only: lchown needs it)
        if nix::unistd::geteuid().is_root() {
            std::os::unix::fs::lchown(&link, Some(65534), None).unwrap();
            let e = write(&link.join("u.json"), b"x").unwrap_err();
            assert!(
                format!("{e:#}").contains("belongs to another user (uid 65534)"),
                "{e:#}"
            );
            assert!(!victim.join("u.json").exists());
        }
    }

    #[test]
    fn a_missing_directory_is_created_private() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b/s.json");
        write(&p, b"x").unwrap();
        let m = std::fs::metadata(dir.path().join("a/b")).unwrap();
        assert_eq!(m.permissions().mode() & 0o777, 0o700);
    }
}
