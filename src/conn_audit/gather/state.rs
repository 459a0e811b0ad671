//! conn-audit's state file: when each stale (or connecting) socket was first seen, so that
//! idle times survive the kernel's 49.7-day counter wrap and handshakes get an age.
//!
//! - keyed by the socket's inode and cookie (stable across runs and Rust releases);
//! - one section per network namespace (`ip netns exec A` and `B` can share a file);
//! - read through `sys::fsread` (a FIFO, a device or a huge file never hangs or exhausts
//!   memory); `/dev/null` (or any non-regular file) turns it off, never replaced;
//! - written through the one safe writer ([`state_file`]): a unique temporary name renamed
//!   over the file, never through a symlink or into a directory another user controls.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::common::{fsread, state_file};
use crate::conn_audit::judge::{Memory, SockKey};

/// More than a million remembered sockets: not a state file this tool wrote.
const MAX_BYTES: u64 = 64 << 20;

/// The file: namespace inode -> [[inode, cookie, since_ms], ...].
#[derive(Debug, Default, Serialize, Deserialize)]
struct Doc {
    version: u32,
    netns: BTreeMap<String, Vec<(u64, u64, u64)>>,
}

/// The state file of one run.
#[derive(Debug)]
pub(crate) struct StateFile {
    path: PathBuf,
    netns: String,
}

/// What loading found.
#[derive(Debug)]
pub(crate) enum Loaded {
    /// Usable (empty when the file does not exist yet); a warning if its content was unusable.
    Ready(StateFile, Memory, Option<String>),
    /// Not a regular file (`/dev/null` turns the state off): never read or replaced; a
    /// warning unless it is /dev/null.
    Off(Option<String>),
}

/// The default path: `--state`, else `$MUNIN_PLUGSTATE/opskit-conn-audit.json` under
/// munin-node, else `$XDG_STATE_HOME/opskit/conn-audit.json` (or `~/.local/state/...`).
pub(crate) fn path(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    if let Some(p) = crate::common::munin_state::state_file("opskit-conn-audit.json") {
        return Some(p);
    }
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
    Some(base.join("opskit/conn-audit.json"))
}

fn read_doc(path: &Path) -> anyhow::Result<Option<Doc>> {
    let Some(bytes) = state_file::read(path, MAX_BYTES)? else {
        return Ok(None);
    };
    if bytes.is_empty() {
        return Ok(None);
    }
    // an older or foreign format starts afresh
    Ok(serde_json::from_slice::<Doc>(&bytes)
        .ok()
        .filter(|d| d.version == 2))
}

/// Load this namespace's entries from `path`.
pub(crate) fn load(path: &Path, netns: u64) -> Loaded {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            return Loaded::Off(Some(format!(
                "state file not used: {} is a symbolic link",
                path.display()
            )))
        }
        Err(_) => {} // absent (or unreachable: saving says why)
        Ok(m) if m.is_file() => {}
        Ok(_) if path == Path::new("/dev/null") => return Loaded::Off(None),
        Ok(_) => {
            let e = fsread::open_regular(path).err().map(|e| format!("{e:#}"));
            return Loaded::Off(Some(format!(
                "state file not used: {}",
                e.unwrap_or_else(|| path.display().to_string())
            )));
        }
    }
    let file = StateFile {
        path: path.to_path_buf(),
        netns: netns.to_string(),
    };
    let (doc, warning) = match read_doc(path) {
        Ok(d) => (d.unwrap_or_default(), None),
        Err(_) if !path.exists() => (Doc::default(), None),
        Err(e) => (Doc::default(), Some(format!("state file ignored: {e:#}"))),
    };
    let memory = doc
        .netns
        .get(&file.netns)
        .map(|v| {
            v.iter()
                .map(|(inode, cookie, since)| {
                    (
                        SockKey {
                            inode: *inode,
                            cookie: *cookie,
                        },
                        *since,
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Loaded::Ready(file, memory, warning)
}

impl StateFile {
    /// Replace this namespace's entries (other namespaces' stay, as read just now).
    pub(crate) fn save(&self, memory: &Memory) -> anyhow::Result<()> {
        let mut doc = read_doc(&self.path).ok().flatten().unwrap_or_default();
        doc.version = 2;
        let mut entries: Vec<(u64, u64, u64)> = memory
            .iter()
            .map(|(k, since)| (k.inode, k.cookie, *since))
            .collect();
        entries.sort_unstable();
        doc.netns.insert(self.netns.clone(), entries);
        doc.netns.retain(|_, v| !v.is_empty());
        state_file::write(&self.path, &serde_json::to_vec(&doc)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u64) -> SockKey {
        SockKey {
            inode: i,
            cookie: i * 10,
        }
    }

    #[test]
    fn namespaces_keep_their_own_entries() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("st.json");
        let Loaded::Ready(a, m, None) = load(&p, 1) else {
            panic!()
        };
        assert!(m.is_empty());
        a.save(&[(key(1), 100)].into_iter().collect()).unwrap();
        let Loaded::Ready(b, m, None) = load(&p, 2) else {
            panic!()
        };
        assert!(m.is_empty());
        b.save(&[(key(2), 200)].into_iter().collect()).unwrap();
        let Loaded::Ready(_, m, None) = load(&p, 1) else {
            panic!()
        };
        assert_eq!(m, [(key(1), 100)].into_iter().collect());
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(
            text,
            r#"{"version":2,"netns":{"1":[[1,10,100]],"2":[[2,20,200]]}}"#
        );
        // no temporary file left behind
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn fifos_devices_and_garbage_never_hang_or_fail() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let Loaded::Off(Some(w)) = load(&fifo, 1) else {
            panic!()
        };
        assert!(w.contains("a FIFO"), "{w}");
        assert!(matches!(load(Path::new("/dev/null"), 1), Loaded::Off(None)));
        let Loaded::Off(Some(w)) = load(Path::new("/dev/zero"), 1) else {
            panic!()
        };
        assert!(w.contains("character device"), "{w}");
        let junk = dir.path().join("junk");
        std::fs::write(&junk, b"[[1,2]]").unwrap();
        let Loaded::Ready(_, m, None) = load(&junk, 1) else {
            panic!()
        };
        assert!(m.is_empty());
    }
}
