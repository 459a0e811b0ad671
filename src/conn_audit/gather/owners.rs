//! Socket owners from /proc/PID/fd (under `--root`): list every process's fds (which can run
//! beside the socket dump), then resolve the links on all cores until every wanted inode has
//! an owner. Process names are escaped here, where they enter the program: any user can name a
//! process `"\x1b[2J..."`, and the name reaches tables, Nagios lines and metric labels.

use std::collections::HashSet;
use std::path::Path;

use crate::common::escape::clean;
use crate::common::fsread;
use crate::common::root::Root;
use crate::conn_audit::judge::Owners;

/// A process's name (`comm`), escaped for display; `None` when it exited meanwhile.
fn comm(p: &Path) -> Option<String> {
    let b = fsread::read_capped(p, 4096).ok()?;
    Some(clean(String::from_utf8_lossy(&b).trim_end_matches('\n')).into_owned())
}

/// One process's open fds, listed but not yet resolved.
struct ProcFds {
    pid: u32,
    dir: std::path::PathBuf,
    dirfd: std::fs::File,
    /// The fd numbers (4 bytes each: a proxy can hold tens of thousands).
    fds: Vec<u32>,
}

/// The fd directories of every process (under the root), listed: the cheap half of the
/// owner walk, which can run while the socket dump is still being read.
#[derive(Default)]
pub(crate) struct FdTable {
    procs: Vec<ProcFds>,
    /// Processes whose fds could not be read (permission).
    denied: Vec<u32>,
}

/// List /proc/PID/fd of every process, skipping the pids in `skip`.
fn list_procs(root: &Root, skip: &HashSet<u32>) -> FdTable {
    let mut t = FdTable::default();
    let Ok(rd) = std::fs::read_dir(root.path("/proc")) else {
        return t;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if skip.contains(&pid) {
            continue;
        }
        let fd_dir = e.path().join("fd");
        let dirfd = match std::fs::File::open(&fd_dir) {
            Ok(f) => f,
            Err(err) if err.kind() == std::io::ErrorKind::PermissionDenied => {
                t.denied.push(pid);
                continue;
            }
            Err(_) => continue, // the process exited
        };
        let Ok(fds) = std::fs::read_dir(&fd_dir) else {
            continue;
        };
        let fds: Vec<u32> = fds
            .flatten()
            .filter_map(|f| f.file_name().to_str()?.parse().ok())
            .collect();
        t.procs.push(ProcFds {
            pid,
            dir: e.path(),
            dirfd,
            fds,
        });
    }
    t
}

/// List the fd directories of every process (see [`find_owners_in`]).
pub(crate) fn list_fds(root: &Root) -> FdTable {
    list_procs(root, &HashSet::new())
}

/// Walk /proc/PID/fd (under the root) until every inode in `wanted` has an owner.
pub(crate) fn find_owners(root: &Root, wanted: &HashSet<u64>) -> Owners {
    if wanted.is_empty() {
        return Owners::default();
    }
    find_owners_in(root, list_fds(root), wanted)
}

/// Resolve the fds of a listed table until every inode in `wanted` has an owner. A process
/// started after the table was listed (a fork that inherited a socket) is looked at in a
/// second pass, for the inodes still missing.
///
/// The links are resolved on all cores (a prefork server or a proxy can hold tens of
/// thousands of fds in one process), relative to each fd directory (readlinkat); the walk
/// stops as soon as no wanted inode is missing.
pub(crate) fn find_owners_in(root: &Root, table: FdTable, wanted: &HashSet<u64>) -> Owners {
    let mut o = Owners::default();
    if wanted.is_empty() {
        return o;
    }
    let missing = resolve(&table, wanted, &mut o);
    o.denied = table.denied.len();
    if !missing.is_empty() {
        let seen: HashSet<u32> = table
            .procs
            .iter()
            .map(|p| p.pid)
            .chain(table.denied.iter().copied())
            .collect();
        let late = list_procs(root, &seen);
        resolve(&late, &missing, &mut o);
        o.denied += late.denied.len();
    }
    // `Pids::add` keeps each list sorted
    o
}

/// Resolve `table`'s fds into `o` for the inodes in `wanted`; returns those not found.
fn resolve(table: &FdTable, wanted: &HashSet<u64>, o: &mut Owners) -> HashSet<u64> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;
    let procs = &table.procs;
    let work: Vec<(u32, u32)> = procs
        .iter()
        .enumerate()
        .flat_map(|(i, p)| (0..p.fds.len()).map(move |j| (i as u32, j as u32)))
        .collect();
    let missing = Mutex::new(wanted.clone());
    let done = AtomicBool::new(false);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4);
    let chunk = work.len().div_ceil(threads).max(1);
    let found: Vec<Vec<(u64, u32, usize)>> = std::thread::scope(|sc| {
        let handles: Vec<_> = work
            .chunks(chunk)
            .map(|part| {
                let (procs, missing, done) = (&procs, &missing, &done);
                sc.spawn(move || {
                    let mut out = Vec::new();
                    for (k, &(i, j)) in part.iter().enumerate() {
                        if k % 512 == 0 && done.load(Ordering::Relaxed) {
                            break;
                        }
                        let p = &procs[i as usize];
                        let Some(inode) = socket_inode(&p.dirfd, p.fds[j as usize]) else {
                            continue;
                        };
                        if wanted.contains(&inode) {
                            out.push((inode, p.pid, i as usize));
                            if let Ok(mut m) = missing.lock() {
                                m.remove(&inode);
                                if m.is_empty() {
                                    done.store(true, Ordering::Relaxed);
                                }
                            }
                        }
                    }
                    out
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    for (inode, pid, i) in found.into_iter().flatten() {
        o.by_inode.entry(inode).or_default().add(pid);
        if let std::collections::hash_map::Entry::Vacant(e) = o.comm.entry(pid) {
            if let Some(name) = comm(&procs[i].dir.join("comm")) {
                e.insert(name.into());
            }
        }
    }
    missing.into_inner().unwrap_or_default()
}

/// The inode of the socket an fd (a number in an open /proc/PID/fd directory) points to,
/// from its link text `socket:[12345]`; `None` for other files and vanished fds.
#[allow(unsafe_code)]
fn socket_inode(dir: &std::fs::File, fd: u32) -> Option<u64> {
    use std::io::Write as _;
    use std::os::fd::AsRawFd as _;
    // the fd's name, decimal, NUL-terminated, on the stack
    let mut cname = [0u8; 16];
    let _ = write!(&mut cname[..15], "{fd}");
    // "socket:[" + 20 digits + "]" fits; anything longer is not a socket
    let mut buf = [0u8; 40];
    // SAFETY: `cname` is NUL-terminated, `buf` is writable for its length, and readlinkat
    // writes at most that many bytes; `dir` is an open directory fd.
    let n = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            cname.as_ptr().cast(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    let n = usize::try_from(n).ok().filter(|n| *n < buf.len())?;
    let num = buf[..n].strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    std::str::from_utf8(num).ok()?.parse().ok()
}
