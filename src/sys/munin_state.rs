//! The munin side of the environment: `$MUNIN_PLUGSTATE` (where a plugin keeps the graphs of
//! its last good run) and `MUNIN_CAP_DIRTYCONFIG`. The bytes are made and checked by
//! `output::munin`; this module only reads and writes them.

use std::path::{Path, PathBuf};

use crate::output::munin::{state_from_bytes, state_to_bytes, Dirty, Graph};
use crate::sys::fsread;

/// A state file is a few KiB; anything far larger is not ours.
const MAX_STATE: u64 = 16 << 20;

/// Whether munin-node asked for values along with `config`.
pub fn dirty() -> Dirty {
    if std::env::var_os("MUNIN_CAP_DIRTYCONFIG").is_some_and(|v| v == "1") {
        Dirty::Yes
    } else {
        Dirty::No
    }
}

/// `$MUNIN_PLUGSTATE/<name>`, when munin gave a state directory.
pub fn state_file(name: &str) -> Option<PathBuf> {
    std::env::var_os("MUNIN_PLUGSTATE")
        .filter(|d| !d.is_empty())
        .map(|d| PathBuf::from(d).join(name))
}

/// The graphs saved by the last good run; `None` when there is no usable file.
pub fn load(path: &Path) -> Option<Vec<Graph>> {
    let bytes = fsread::read_capped(path, MAX_STATE).ok()?;
    state_from_bytes(&bytes)
}

/// Save the graphs (atomically: a temporary file renamed over the old one). Best effort: a
/// plugin must not fail because its state directory is read-only. A path that exists and is
/// not a regular file (`/dev/null`, a FIFO) is left alone.
pub fn save(path: &Path, graphs: &[Graph]) {
    if let Ok(m) = std::fs::symlink_metadata(path) {
        if !m.file_type().is_file() {
            return;
        }
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    if std::fs::write(&tmp, state_to_bytes(graphs)).is_ok() && std::fs::rename(&tmp, path).is_err()
    {
        let _ = std::fs::remove_file(&tmp);
    }
}
