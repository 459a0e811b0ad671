//! The munin side of the environment: `$MUNIN_PLUGSTATE` (where a plugin keeps the graphs of
//! its last good run) and `MUNIN_CAP_DIRTYCONFIG`. The bytes are made and checked by
//! `format::munin`; this module only reads and writes them, through the one safe
//! [`state_file`] writer.

use std::path::{Path, PathBuf};

use crate::common::state_file;
use crate::format::munin::{state_from_bytes, state_to_bytes, Dirty, Graph};

/// A state file is a few KiB; anything far larger is not ours.
const MAX_STATE: u64 = 16 << 20;

/// Whether munin-node asked for values along with `config`.
pub(crate) fn dirty() -> Dirty {
    if std::env::var_os("MUNIN_CAP_DIRTYCONFIG").is_some_and(|v| v == "1") {
        Dirty::Yes
    } else {
        Dirty::No
    }
}

/// `$MUNIN_PLUGSTATE/<name>`, when munin gave a state directory.
pub(crate) fn state_file(name: &str) -> Option<PathBuf> {
    std::env::var_os("MUNIN_PLUGSTATE")
        .filter(|d| !d.is_empty())
        .map(|d| PathBuf::from(d).join(name))
}

/// The graphs saved by the last good run: `Ok(None)` when there is no file, an error naming
/// the file when it is there and cannot be used (truncated, not ours, unreadable).
pub(crate) fn load(path: &Path) -> anyhow::Result<Option<Vec<Graph>>> {
    // a path that is not a regular file (`/dev/null`, a FIFO) is left alone, as by [`save`]
    if std::fs::symlink_metadata(path)
        .is_ok_and(|m| !m.file_type().is_file() && !m.file_type().is_symlink())
    {
        return Ok(None);
    }
    let Some(bytes) = state_file::read(path, MAX_STATE)? else {
        return Ok(None);
    };
    match state_from_bytes(&bytes) {
        Some(g) => Ok(Some(g)),
        None => anyhow::bail!(
            "{}: not a usable state file ({} bytes, truncated or corrupt): ignored, rewritten \
             by the next good run",
            path.display(),
            bytes.len()
        ),
    }
}

/// Save the graphs (atomically, never through a symlink or into a directory another user
/// controls: [`state_file::write`]). The caller reports an error as a warning: a plugin must
/// not fail because its state directory is read-only. A path that exists and is not a
/// regular file or a symlink (`/dev/null`, a FIFO) is left alone.
pub(crate) fn save(path: &Path, graphs: &[Graph]) -> anyhow::Result<()> {
    if let Ok(m) = std::fs::symlink_metadata(path) {
        let t = m.file_type();
        if !t.is_file() && !t.is_symlink() {
            return Ok(());
        }
    }
    state_file::write(path, &state_to_bytes(graphs))
}
