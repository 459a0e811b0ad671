//! TCP sockets from the kernel: NETLINK_SOCK_DIAG dumps with tcp_info (netlink-sys; the
//! replies are decoded by `model::sock_diag`), the /proc/net/tcp fallback under `--root`,
//! name lookups with a timeout, the network namespace, and SOCK_DESTROY.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP};
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_packet_sock_diag::{SockDiagDestroy, SockDiagMessage};
use netlink_sys::{protocols::NETLINK_SOCK_DIAG, Socket, SocketAddr as NlAddr};

use crate::common::fsread;
use crate::common::root::Root;
use crate::conn_audit::model::sock_diag::{parse_dump, Chunk};
use crate::conn_audit::model::tcp::{check_proc_net_header, parse_proc_net_line, Sock};

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
            states: StateFlags::ESTABLISHED
                | StateFlags::CLOSE_WAIT
                | StateFlags::LISTEN
                | StateFlags::SYN_SENT
                | StateFlags::SYN_RECV
                | StateFlags::FIN_WAIT2,
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
        if parse_dump(&rx[..n.min(rx.len())], out)? == Chunk::Done {
            return Ok(());
        }
    }
}

/// The TCP states the netlink dump asks for (see [`dump_netlink`]).
pub(crate) const NETLINK_STATES: [&str; 6] = [
    "ESTABLISHED",
    "CLOSE_WAIT",
    "SYN_SENT",
    "SYN_RECV",
    "FIN_WAIT2",
    "LISTEN",
];

/// The TCP sockets of the current network namespace over netlink, in the states conn-audit
/// looks at: ESTABLISHED, CLOSE_WAIT, SYN_SENT and SYN_RECV (handshakes that never finish),
/// and LISTEN (to tell inbound connections from outbound ones). The kernel filters out the
/// rest, TIME_WAIT above all, which a busy web server has by the ten thousand.
pub(crate) fn dump_netlink() -> anyhow::Result<Vec<Sock>> {
    let mut s = nl_socket()?;
    let mut out = Vec::new();
    dump_family(&mut s, AF_INET, &mut out)?;
    dump_family(&mut s, AF_INET6, &mut out)?;
    Ok(out)
}

/// All TCP sockets from `/proc/net/tcp` and `/proc/net/tcp6` under the root, streamed line
/// by line (a 64 MiB table is never held whole: only its sockets are).
pub(crate) fn read_procfs(root: &Root) -> anyhow::Result<Vec<Sock>> {
    use std::io::BufRead as _;
    let mut out = Vec::new();
    for rel in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let path = root.path(rel);
        match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if rel.ends_with("tcp") {
                    bail!("{}: not found", path.display());
                }
                continue;
            }
            _ => {}
        }
        let file = fsread::open_capped(&path, fsread::DEFAULT_MAX)?;
        let mut r = std::io::BufReader::with_capacity(1 << 16, file);
        let mut line = String::new();
        let mut n = 0usize;
        loop {
            line.clear();
            let got = r
                .read_line(&mut line)
                .with_context(|| format!("reading {}", path.display()))?;
            if got == 0 {
                break;
            }
            n += 1;
            let parsed = if n == 1 {
                check_proc_net_header(&line).map(|()| None)
            } else {
                parse_proc_net_line(n, line.trim_end_matches('\n'))
            };
            out.extend(parsed.with_context(|| format!("parsing {}", path.display()))?);
        }
        if n == 0 {
            bail!("parsing {}: line 1: empty file", path.display());
        }
    }
    Ok(out)
}

/// Reverse DNS (getnameinfo) of the addresses not yet in `cache`, at most 16 lookups at a
/// time, all within `timeout`; the answers, failures and timeouts (as `None`) go into the
/// cache, which lives as long as the run (across `--watch` reports).
pub(crate) fn reverse_dns(
    ips: &[IpAddr],
    timeout: Duration,
    cache: &mut HashMap<IpAddr, Option<String>>,
) {
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
    // a PTR record is outside text like a process name: escaped before it reaches any output
    Some(crate::common::escape::clean(&s.to_string_lossy()).into_owned())
}

/// What SOCK_DESTROY did to a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Destroyed {
    /// It was closed now.
    Closed,
    /// No socket with that identity exists any more (it closed meanwhile: e.g. its local
    /// peer was just destroyed and it received the reset).
    AlreadyGone,
}

/// Close one socket with SOCK_DESTROY (as `ss -K`), matched by its 4-tuple and cookie, so
/// that only that very socket can be closed. Needs CAP_NET_ADMIN and a kernel with
/// CONFIG_INET_DIAG_DESTROY. An IPv4 address may belong to an IPv6 socket (IPv4-mapped):
/// both families are tried.
pub(crate) fn destroy(s: &Sock) -> anyhow::Result<Destroyed> {
    let what = || format!("SOCK_DESTROY {} -> {}", s.local, s.remote);
    let first = destroy_as(s, if s.local.is_ipv4() { AF_INET } else { AF_INET6 });
    let errno = match first {
        Ok(()) => return Ok(Destroyed::Closed),
        Err(errno) if errno == libc::ENOENT && s.local.is_ipv4() => match destroy_as(s, AF_INET6) {
            Ok(()) => return Ok(Destroyed::Closed),
            Err(e) => e,
        },
        Err(e) => e,
    };
    match errno {
        libc::ENOENT => Ok(Destroyed::AlreadyGone),
        libc::EOPNOTSUPP => bail!(
            "the kernel cannot destroy sockets: it was built without CONFIG_INET_DIAG_DESTROY"
        ),
        e => Err(std::io::Error::from_raw_os_error(e)).with_context(what),
    }
}

fn mapped(a: SocketAddr, family: u8) -> IpAddr {
    match (a.ip(), family) {
        (IpAddr::V4(v4), AF_INET6) => IpAddr::V6(v4.to_ipv6_mapped()),
        (ip, _) => ip,
    }
}

/// One SOCK_DESTROY request; the errno on failure (-1 for a local failure).
fn destroy_as(s: &Sock, family: u8) -> Result<(), i32> {
    let nl = nl_socket().map_err(|_| -1)?;
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
            source_address: mapped(s.local, family),
            destination_address: mapped(s.remote, family),
            interface_id: 0,
            cookie: s.cookie.to_ne_bytes(),
        },
    });
    let mut packet = NetlinkMessage::new(
        hdr,
        netlink_packet_core::NetlinkPayload::InnerMessage(SockDiagDestroy::new(req)),
    );
    packet.finalize();
    let mut buf = vec![0u8; packet.buffer_len()];
    packet.serialize(&mut buf[..]);
    nl.send(&buf[..], 0)
        .map_err(|e| e.raw_os_error().unwrap_or(-1))?;
    let mut rx = vec![0u8; 8192];
    let n = nl
        .recv(&mut &mut rx[..], 0)
        .map_err(|e| e.raw_os_error().unwrap_or(-1))?;
    let msg =
        <NetlinkMessage<SockDiagDestroy>>::deserialize(&rx[..n.min(rx.len())]).map_err(|_| -1)?;
    match msg.payload {
        NetlinkPayload::Error(e) => match e.code {
            Some(code) => Err(code.get().saturating_neg()),
            None => Ok(()),
        },
        _ => Ok(()),
    }
}

/// Resolve a host name (`--peer HOST`) within `timeout`: a resolver that does not answer
/// is an error naming the host, not a hang.
pub(crate) fn resolve_host(host: &str, timeout: Duration) -> anyhow::Result<Vec<IpAddr>> {
    use std::net::ToSocketAddrs as _;
    let (tx, rx) = mpsc::channel();
    let name = host.to_string();
    // not scoped: a lookup that outlives the timeout is left behind, not waited for
    std::thread::spawn(move || {
        let r = (name.as_str(), 0)
            .to_socket_addrs()
            .map(|v| v.map(|a| a.ip()).collect::<Vec<_>>());
        let _ = tx.send(r);
    });
    match rx.recv_timeout(timeout) {
        Ok(Ok(v)) if !v.is_empty() => Ok(v),
        Ok(Ok(_)) => bail!("--peer '{host}': the name has no addresses"),
        Ok(Err(e)) => Err(e).with_context(|| {
            format!("--peer '{host}': not an address or CIDR, and the name does not resolve")
        }),
        Err(_) => bail!(
            "--peer '{host}': the name did not resolve within {} s",
            timeout.as_secs_f64()
        ),
    }
}

/// The network namespace of this process: (`net:[4026531840]`, its inode), for the report
/// and the state file's key.
pub(crate) fn netns_id(root: &Root) -> Option<(String, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    let p = root.path("/proc/self/ns/net");
    let link = std::fs::read_link(&p).ok()?.display().to_string();
    let ino = std::fs::metadata(&p).ok()?.ino();
    Some((link, ino))
}

/// A network namespace to audit: how it is named to people, the file that enters it, and
/// its inode (the state file's key).
#[derive(Debug, Clone)]
pub(crate) struct Netns {
    /// `net:[4026532281]`, with ` (NAME)` for a named one or ` (pid PID)`.
    pub(crate) label: String,
    pub(crate) path: std::path::PathBuf,
    pub(crate) inode: u64,
}

fn ns_inode(p: &std::path::Path) -> anyhow::Result<u64> {
    use std::os::unix::fs::MetadataExt as _;
    Ok(std::fs::metadata(p)
        .with_context(|| format!("{}: not a network namespace", p.display()))?
        .ino())
}

/// The namespace `--netns NAME|PID` names: `/run/netns/NAME` (as `ip netns` makes them) or
/// `/proc/PID/ns/net`.
pub(crate) fn netns_named(arg: &str) -> anyhow::Result<Netns> {
    let (path, how) = match arg.parse::<u32>() {
        Ok(pid) => (
            std::path::PathBuf::from(format!("/proc/{pid}/ns/net")),
            format!("pid {pid}"),
        ),
        Err(_) if arg.contains('/') || arg.starts_with('.') => {
            bail!("--netns '{arg}': expected a name from `ip netns list` or a PID")
        }
        Err(_) => (
            std::path::PathBuf::from("/run/netns").join(arg),
            arg.to_string(),
        ),
    };
    let inode = ns_inode(&path).with_context(|| format!("--netns '{arg}'"))?;
    Ok(Netns {
        label: format!("net:[{inode}] ({how})"),
        path,
        inode,
    })
}

/// Every network namespace of the host: the named ones (`/run/netns`), then those only a
/// process holds (`/proc/PID/ns/net`), each once; this process's own first.
pub(crate) fn all_netns() -> Vec<Netns> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    let mut add = |path: std::path::PathBuf, how: String| {
        if let Ok(inode) = ns_inode(&path) {
            if seen.insert(inode) {
                out.push(Netns {
                    label: format!("net:[{inode}] ({how})"),
                    path,
                    inode,
                });
            }
        }
    };
    add("/proc/self/ns/net".into(), "this process's own".into());
    let mut named: Vec<_> = std::fs::read_dir("/run/netns")
        .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    named.sort();
    for n in named {
        add(
            std::path::Path::new("/run/netns").join(&n),
            n.to_string_lossy().into_owned(),
        );
    }
    let mut pids: Vec<u32> = std::fs::read_dir("/proc")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    pids.sort_unstable();
    for pid in pids {
        add(format!("/proc/{pid}/ns/net").into(), format!("pid {pid}"));
    }
    out
}

/// The TCP sockets of another network namespace: a thread enters it (setns, which needs
/// CAP_SYS_ADMIN) and dumps them over netlink there; the process stays where it is.
#[allow(unsafe_code)]
pub(crate) fn dump_netlink_in(ns: &Netns) -> anyhow::Result<Vec<Sock>> {
    use std::os::fd::AsRawFd as _;
    let f =
        std::fs::File::open(&ns.path).with_context(|| format!("opening {}", ns.path.display()))?;
    let label = ns.label.clone();
    std::thread::spawn(move || {
        // SAFETY: `f` is an open namespace file; setns changes this thread only.
        let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            bail!("entering network namespace {label}: {e} (--netns and --all-netns need root)");
        }
        dump_netlink().with_context(|| format!("in network namespace {label}"))
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the namespace thread panicked"))?
}

/// The processes named `name` (or with pid `name`) and the network namespace each lives in:
/// where `--process` finds its sockets.
pub(crate) fn process_netns(name: &str) -> Vec<(u32, u64)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let matches = name.parse::<u32>().map_or_else(
            |_| {
                crate::common::fsread::read_capped(&e.path().join("comm"), 4096)
                    .is_ok_and(|c| String::from_utf8_lossy(&c).trim_end() == name)
            },
            |p| p == pid,
        );
        if matches {
            if let Ok(inode) = ns_inode(&e.path().join("ns/net")) {
                out.push((pid, inode));
            }
        }
    }
    out.sort_unstable();
    out
}
