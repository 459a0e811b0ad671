//! TCP sockets from the kernel: NETLINK_SOCK_DIAG dumps with tcp_info (netlink-sys +
//! netlink-packet-sock-diag), the /proc/net/tcp fallback under `--root`, socket owners from
//! /proc/PID/fd, reverse DNS with a timeout, and SOCK_DESTROY.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP};
use netlink_packet_sock_diag::inet::{
    nlas::Nla, ExtensionFlags, InetRequest, SocketId, StateFlags,
};
use netlink_packet_sock_diag::{SockDiagDestroy, SockDiagMessage};
use netlink_sys::{protocols::NETLINK_SOCK_DIAG, Socket, SocketAddr as NlAddr};

use crate::domain::tcp::{parse_proc_net_tcp, Sock, TcpInfo, Timer};
use crate::sys::root::Root;

fn timer_of(t: &Option<netlink_packet_sock_diag::inet::Timer>) -> Timer {
    use netlink_packet_sock_diag::inet::Timer as T;
    match t {
        None => Timer::None,
        Some(T::Retransmit(..)) => Timer::Retransmit,
        Some(T::KeepAlive(..)) => Timer::Keepalive,
        Some(T::TimeWait) => Timer::TimeWait,
        Some(T::Probe(..)) => Timer::Probe,
    }
}

fn nl_socket() -> anyhow::Result<Socket> {
    let mut s = Socket::new(NETLINK_SOCK_DIAG).context("opening a NETLINK_SOCK_DIAG socket")?;
    s.bind_auto().context("binding the netlink socket")?;
    s.connect(&NlAddr::new(0, 0))
        .context("connecting the netlink socket")?;
    Ok(s)
}

/// Dump every TCP socket of one family with INET_DIAG_INFO (tcp_info).
fn dump_family(sock: &mut Socket, family: u8, out: &mut Vec<Sock>) -> anyhow::Result<()> {
    let mut hdr = NetlinkHeader::default();
    hdr.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let mut packet = NetlinkMessage::new(
        hdr,
        SockDiagMessage::InetRequest(InetRequest {
            family,
            protocol: IPPROTO_TCP,
            extensions: ExtensionFlags::INFO,
            states: StateFlags::ESTABLISHED | StateFlags::CLOSE_WAIT | StateFlags::LISTEN,
            socket_id: if family == AF_INET {
                SocketId::new_v4()
            } else {
                SocketId::new_v6()
            },
        })
        .into(),
    );
    packet.finalize();
    let mut buf = vec![0u8; packet.buffer_len()];
    packet.serialize(&mut buf[..]);
    sock.send(&buf[..], 0)
        .context("sending the sock_diag dump request")?;
    let mut rx = vec![0u8; 1 << 16];
    loop {
        let n = sock
            .recv(&mut &mut rx[..], 0)
            .context("reading the sock_diag dump")?;
        if n == 0 {
            bail!("sock_diag dump ended without NLMSG_DONE");
        }
        let mut off = 0;
        while off < n {
            let msg = <NetlinkMessage<SockDiagMessage>>::deserialize(&rx[off..n])
                .map_err(|e| anyhow::anyhow!("decoding a sock_diag message: {e}"))?;
            let len = msg.header.length as usize;
            match msg.payload {
                NetlinkPayload::Done(_) => return Ok(()),
                NetlinkPayload::Error(e) => {
                    let code = e.code.map(|c| -c.get()).unwrap_or(0);
                    bail!(
                        "the kernel refused the sock_diag dump: {}",
                        std::io::Error::from_raw_os_error(code)
                    );
                }
                NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(r)) => {
                    let h = &r.header;
                    let info = r.nlas.iter().find_map(|n| match n {
                        Nla::TcpInfo(bytes) => TcpInfo::parse(bytes),
                        _ => None,
                    });
                    let retrans = match &h.timer {
                        Some(netlink_packet_sock_diag::inet::Timer::Retransmit(_, n)) => {
                            u32::from(*n)
                        }
                        _ => 0,
                    };
                    out.push(Sock {
                        local: SocketAddr::new(h.socket_id.source_address, h.socket_id.source_port),
                        remote: SocketAddr::new(
                            h.socket_id.destination_address,
                            h.socket_id.destination_port,
                        ),
                        state: h.state,
                        send_q: h.send_queue,
                        recv_q: h.recv_queue,
                        timer: timer_of(&h.timer),
                        retrans,
                        uid: h.uid,
                        inode: u64::from(h.inode),
                        info,
                        cookie: h.socket_id.cookie,
                    });
                }
                _ => {}
            }
            if len == 0 {
                break;
            }
            off += len;
        }
    }
}

/// The TCP states the netlink dump asks for (see [`dump_netlink`]).
pub const NETLINK_STATES: [&str; 3] = ["ESTABLISHED", "CLOSE_WAIT", "LISTEN"];

/// The TCP sockets of the current network namespace over netlink, in the states conn-audit
/// looks at: ESTABLISHED, CLOSE_WAIT, and LISTEN (to tell inbound connections from
/// outbound ones). The kernel filters out the rest, TIME_WAIT above all, which a busy web
/// server has by the ten thousand.
pub fn dump_netlink() -> anyhow::Result<Vec<Sock>> {
    let mut s = nl_socket()?;
    let mut out = Vec::new();
    dump_family(&mut s, AF_INET, &mut out)?;
    dump_family(&mut s, AF_INET6, &mut out)?;
    Ok(out)
}

/// All TCP sockets from `/proc/net/tcp` and `/proc/net/tcp6` under the root.
pub fn read_procfs(root: &Root) -> anyhow::Result<Vec<Sock>> {
    let mut out = Vec::new();
    for rel in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Some(text) = root.read_optional(rel)? else {
            if rel.ends_with("tcp") {
                bail!("{}: not found", root.path(rel).display());
            }
            continue;
        };
        let v = parse_proc_net_tcp(&text)
            .with_context(|| format!("parsing {}", root.path(rel).display()))?;
        out.extend(v);
    }
    Ok(out)
}

/// Owners of socket inodes, found through /proc/PID/fd.
#[derive(Debug, Default)]
pub struct Owners {
    pub by_inode: HashMap<u64, Vec<u32>>,
    pub comm: HashMap<u32, String>,
    /// Processes whose fds could not be read (permission).
    pub denied: usize,
}

/// One process's open fds, listed but not yet resolved.
struct ProcFds {
    pid: u32,
    dir: std::path::PathBuf,
    dirfd: std::fs::File,
    fds: Vec<std::ffi::OsString>,
}

/// The fd directories of every process (under the root), listed: the cheap half of the
/// owner walk, which can run while the socket dump is still being read.
#[derive(Default)]
pub struct FdTable {
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
        let fds: Vec<_> = fds.flatten().map(|f| f.file_name()).collect();
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
pub fn list_fds(root: &Root) -> FdTable {
    list_procs(root, &HashSet::new())
}

/// Walk /proc/PID/fd (under the root) until every inode in `wanted` has an owner.
pub fn find_owners(root: &Root, wanted: &HashSet<u64>) -> Owners {
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
pub fn find_owners_in(root: &Root, table: FdTable, wanted: &HashSet<u64>) -> Owners {
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
    for v in o.by_inode.values_mut() {
        v.sort_unstable();
    }
    o
}

/// Resolve `table`'s fds into `o` for the inodes in `wanted`; returns those not found.
fn resolve(table: &FdTable, wanted: &HashSet<u64>, o: &mut Owners) -> HashSet<u64> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;
    let procs = &table.procs;
    let work: Vec<(usize, usize)> = procs
        .iter()
        .enumerate()
        .flat_map(|(i, p)| (0..p.fds.len()).map(move |j| (i, j)))
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
                        let p = &procs[i];
                        let Some(inode) = socket_inode(&p.dirfd, &p.fds[j]) else {
                            continue;
                        };
                        if wanted.contains(&inode) {
                            out.push((inode, p.pid, i));
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
        let pids = o.by_inode.entry(inode).or_default();
        if !pids.contains(&pid) {
            pids.push(pid);
        }
        o.comm.entry(pid).or_insert_with(|| {
            std::fs::read_to_string(procs[i].dir.join("comm"))
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        });
    }
    missing.into_inner().unwrap_or_default()
}

/// The inode of the socket an fd (a name in an open /proc/PID/fd directory) points to,
/// from its link text `socket:[12345]`; `None` for other files and vanished fds.
#[allow(unsafe_code)]
fn socket_inode(dir: &std::fs::File, fd: &std::ffi::OsStr) -> Option<u64> {
    use std::os::fd::AsRawFd as _;
    use std::os::unix::ffi::OsStrExt as _;
    // fd names are decimal numbers: a small NUL-terminated copy on the stack
    let name = fd.as_bytes();
    let mut cname = [0u8; 24];
    if name.len() >= cname.len() {
        return None;
    }
    cname[..name.len()].copy_from_slice(name);
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

/// Reverse DNS (getnameinfo) of the addresses not yet in `cache`, at most 16 lookups at a
/// time, all within `timeout`; the answers, failures and timeouts (as `None`) go into the
/// cache, which lives as long as the run (across `--watch` reports).
pub fn reverse_dns(ips: &[IpAddr], timeout: Duration, cache: &mut HashMap<IpAddr, Option<String>>) {
    use std::sync::{Arc, Mutex};
    let todo: Vec<IpAddr> = ips
        .iter()
        .copied()
        .filter(|ip| !cache.contains_key(ip))
        .collect();
    if todo.is_empty() {
        return;
    }
    let queue = Arc::new(Mutex::new(todo.clone()));
    let (tx, rx) = mpsc::channel();
    for _ in 0..todo.len().min(16) {
        let (tx, queue) = (tx.clone(), Arc::clone(&queue));
        // not scoped: a lookup that outlives the timeout is left behind, not waited for
        std::thread::spawn(move || loop {
            let next = queue.lock().ok().and_then(|mut q| q.pop());
            let Some(ip) = next else { break };
            if tx.send((ip, lookup(ip))).is_err() {
                break;
            }
        });
    }
    drop(tx);
    let deadline = std::time::Instant::now() + timeout;
    while let Ok((ip, name)) =
        rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
    {
        cache.insert(ip, name);
    }
    for ip in todo {
        cache.entry(ip).or_insert(None);
    }
}

fn lookup(ip: IpAddr) -> Option<String> {
    use nix::sys::socket::{SockaddrIn, SockaddrIn6};
    match ip {
        IpAddr::V4(v4) => name_of(&SockaddrIn::from(std::net::SocketAddrV4::new(v4, 0))),
        IpAddr::V6(v6) => name_of(&SockaddrIn6::from(std::net::SocketAddrV6::new(v6, 0, 0, 0))),
    }
}

#[allow(unsafe_code)]
fn name_of(sa: &dyn nix::sys::socket::SockaddrLike) -> Option<String> {
    let mut host = [0 as libc::c_char; 1025];
    // SAFETY: `sa` is a valid sockaddr of `sa.len()` bytes; `host` is a writable buffer of the
    // length passed; no service buffer is requested.
    let rc = unsafe {
        libc::getnameinfo(
            sa.as_ptr(),
            sa.len(),
            host.as_mut_ptr(),
            host.len() as libc::socklen_t,
            std::ptr::null_mut(),
            0,
            libc::NI_NAMEREQD,
        )
    };
    if rc != 0 {
        return None;
    }
    // SAFETY: getnameinfo NUL-terminates `host` on success.
    let s = unsafe { std::ffi::CStr::from_ptr(host.as_ptr()) };
    Some(s.to_string_lossy().into_owned())
}

/// Close one socket with SOCK_DESTROY (as `ss -K`). Needs CAP_NET_ADMIN and a kernel with
/// CONFIG_INET_DIAG_DESTROY.
pub fn destroy(s: &Sock) -> anyhow::Result<()> {
    let nl = nl_socket()?;
    let family = if s.local.is_ipv4() { AF_INET } else { AF_INET6 };
    let mut hdr = NetlinkHeader::default();
    hdr.flags = NLM_F_REQUEST | NLM_F_ACK;
    let req = SockDiagMessage::InetRequest(InetRequest {
        family,
        protocol: IPPROTO_TCP,
        extensions: ExtensionFlags::empty(),
        states: StateFlags::all(),
        socket_id: SocketId {
            source_port: s.local.port(),
            destination_port: s.remote.port(),
            source_address: s.local.ip(),
            destination_address: s.remote.ip(),
            interface_id: 0,
            cookie: s.cookie,
        },
    });
    let mut packet = NetlinkMessage::new(
        hdr,
        netlink_packet_core::NetlinkPayload::InnerMessage(SockDiagDestroy::new(req)),
    );
    packet.finalize();
    let mut buf = vec![0u8; packet.buffer_len()];
    packet.serialize(&mut buf[..]);
    nl.send(&buf[..], 0).context("sending SOCK_DESTROY")?;
    let mut rx = vec![0u8; 8192];
    let n = nl
        .recv(&mut &mut rx[..], 0)
        .context("reading the SOCK_DESTROY answer")?;
    let msg = <NetlinkMessage<SockDiagDestroy>>::deserialize(&rx[..n])
        .map_err(|e| anyhow::anyhow!("decoding the SOCK_DESTROY answer: {e}"))?;
    if let NetlinkPayload::Error(e) = msg.payload {
        if let Some(code) = e.code {
            let errno = -code.get();
            if errno == libc::EOPNOTSUPP {
                bail!("the kernel cannot destroy sockets: it was built without CONFIG_INET_DIAG_DESTROY");
            }
            return Err(std::io::Error::from_raw_os_error(errno))
                .context(format!("SOCK_DESTROY {} -> {}", s.local, s.remote));
        }
    }
    Ok(())
}

/// The network namespace of this process (`net:[4026531840]`), for the report.
pub fn netns(root: &Root) -> Option<String> {
    std::fs::read_link(root.path("/proc/self/ns/net"))
        .ok()
        .map(|p| p.display().to_string())
}
