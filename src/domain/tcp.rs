//! TCP sockets for conn-audit: the `/proc/net/tcp{,6}` format, `tcp_info` decoded at fixed
//! offsets from bytes of any length, the staleness rules, grouping, verdicts and the
//! wrap-safe idle bookkeeping. Pure: no I/O.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// TCP states as the kernel numbers them.
pub const ESTABLISHED: u8 = 1;
pub const CLOSE_WAIT: u8 = 8;

pub fn state_name(s: u8) -> &'static str {
    match s {
        1 => "ESTABLISHED",
        2 => "SYN_SENT",
        3 => "SYN_RECV",
        4 => "FIN_WAIT1",
        5 => "FIN_WAIT2",
        6 => "TIME_WAIT",
        7 => "CLOSE",
        8 => "CLOSE_WAIT",
        9 => "LAST_ACK",
        10 => "LISTEN",
        11 => "CLOSING",
        12 => "NEW_SYN_RECV",
        _ => "UNKNOWN",
    }
}

/// The timer a socket has armed (`/proc/net/tcp` `tr`, inet_diag `idiag_timer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Timer {
    None,
    Retransmit,
    Keepalive,
    TimeWait,
    /// Zero-window probe (persist) timer.
    Probe,
}

impl Timer {
    pub fn from_code(c: u8) -> Timer {
        match c {
            1 => Timer::Retransmit,
            2 => Timer::Keepalive,
            3 => Timer::TimeWait,
            4 => Timer::Probe,
            _ => Timer::None,
        }
    }
}

/// The fields of `struct tcp_info` conn-audit uses; `None` where the kernel sent too few bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct TcpInfo {
    pub retransmits: u8,
    pub probes: u8,
    pub backoff: u8,
    pub unacked: Option<u32>,
    pub last_data_sent_ms: Option<u32>,
    pub last_data_recv_ms: Option<u32>,
    pub last_ack_recv_ms: Option<u32>,
    pub rtt_us: Option<u32>,
    pub total_retrans: Option<u32>,
    /// The peer's advertised window (kernel 6.2+; `None` on older kernels).
    pub snd_wnd: Option<u32>,
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

impl TcpInfo {
    /// Decode `struct tcp_info` (linux/tcp.h) from however many bytes the kernel sent: older
    /// kernels send less than newer headers describe, so every field is read only if present.
    pub fn parse(b: &[u8]) -> Option<TcpInfo> {
        if b.len() < 8 {
            return None;
        }
        Some(TcpInfo {
            retransmits: b[2],
            probes: b[3],
            backoff: b[4],
            unacked: u32_at(b, 24),
            last_data_sent_ms: u32_at(b, 44),
            last_data_recv_ms: u32_at(b, 52),
            last_ack_recv_ms: u32_at(b, 56),
            rtt_us: u32_at(b, 68),
            total_retrans: u32_at(b, 100),
            snd_wnd: u32_at(b, 228),
        })
    }
}

/// One TCP socket, from netlink or /proc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sock {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub state: u8,
    pub send_q: u32,
    pub recv_q: u32,
    pub timer: Timer,
    /// Retransmissions of the current segment (procfs `retrnsmt`, inet_diag `idiag_retrans`).
    pub retrans: u32,
    pub uid: u32,
    pub inode: u64,
    pub info: Option<TcpInfo>,
    /// The inet_diag socket id cookie (for SOCK_DESTROY).
    pub cookie: [u8; 8],
}

/// An IPv4-mapped IPv6 address shown as IPv4.
pub fn canonical(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => a,
        },
        v4 => v4,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcNetError {
    pub line: usize,
    pub msg: String,
}

impl fmt::Display for ProcNetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.msg)
    }
}

impl std::error::Error for ProcNetError {}

fn hex_addr(s: &str) -> Option<SocketAddr> {
    let (a, p) = s.split_once(':')?;
    let port = u16::from_str_radix(p, 16).ok()?;
    let ip = match a.len() {
        8 => IpAddr::V4(Ipv4Addr::from(
            u32::from_str_radix(a, 16).ok()?.to_le_bytes(),
        )),
        32 => {
            let mut b = [0u8; 16];
            for w in 0..4 {
                let v = u32::from_str_radix(&a[w * 8..w * 8 + 8], 16).ok()?;
                b[w * 4..w * 4 + 4].copy_from_slice(&v.to_le_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Parse `/proc/net/tcp` or `/proc/net/tcp6`. Rejects other tables (udp's header ends with
/// `drops`) instead of mis-decoding them.
pub fn parse_proc_net_tcp(text: &str) -> Result<Vec<Sock>, ProcNetError> {
    let mut lines = text.lines().enumerate();
    let Some((_, header)) = lines.next() else {
        return Err(ProcNetError {
            line: 1,
            msg: "empty file".into(),
        });
    };
    let h: Vec<&str> = header.split_whitespace().collect();
    if h.first() != Some(&"sl") || !h.contains(&"st") || !header.contains("tx_queue") {
        return Err(ProcNetError {
            line: 1,
            msg: "not a /proc/net/tcp header".into(),
        });
    }
    if h.last() == Some(&"drops") {
        return Err(ProcNetError {
            line: 1,
            msg: "this is a UDP table (header ends with 'drops'), not /proc/net/tcp".into(),
        });
    }
    let mut out = Vec::new();
    for (i, line) in lines {
        let lineno = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let err = |msg: &str| ProcNetError {
            line: lineno,
            msg: msg.to_string(),
        };
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 10 || !f[0].ends_with(':') {
            return Err(err("expected at least 10 fields: sl local rem st queues timer retrnsmt uid timeout inode"));
        }
        let local = hex_addr(f[1]).ok_or_else(|| err("bad local address"))?;
        let remote = hex_addr(f[2]).ok_or_else(|| err("bad remote address"))?;
        let state = u8::from_str_radix(f[3], 16).map_err(|_| err("bad state"))?;
        if !(1..=12).contains(&state) {
            return Err(err("state out of range"));
        }
        let (tx, rx) = f[4].split_once(':').ok_or_else(|| err("bad queues"))?;
        let send_q = u32::from_str_radix(tx, 16).map_err(|_| err("bad tx_queue"))?;
        let recv_q = u32::from_str_radix(rx, 16).map_err(|_| err("bad rx_queue"))?;
        let (tr, _when) = f[5].split_once(':').ok_or_else(|| err("bad timer"))?;
        let timer = Timer::from_code(u8::from_str_radix(tr, 16).map_err(|_| err("bad timer"))?);
        let retrans = u32::from_str_radix(f[6], 16).map_err(|_| err("bad retrnsmt"))?;
        let uid = f[7].parse().map_err(|_| err("bad uid"))?;
        let inode = f[9].parse().map_err(|_| err("bad inode"))?;
        out.push(Sock {
            local,
            remote,
            state,
            send_q,
            recv_q,
            timer,
            retrans,
            uid,
            inode,
            info: None,
            cookie: [0; 8],
        });
    }
    Ok(out)
}

/// Why a socket is stale, most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    Retransmitting,
    KeepaliveProbing,
    ZeroWindow,
    Unread,
    CloseWait,
    Idle,
    KeepaliveIdle,
}

impl Reason {
    /// In declaration order (most severe first): `r as usize` indexes it.
    pub const BY_SEVERITY: [Reason; 7] = [
        Reason::Retransmitting,
        Reason::KeepaliveProbing,
        Reason::ZeroWindow,
        Reason::Unread,
        Reason::CloseWait,
        Reason::Idle,
        Reason::KeepaliveIdle,
    ];

    pub const ALL: [Reason; 7] = [
        Reason::Idle,
        Reason::KeepaliveIdle,
        Reason::KeepaliveProbing,
        Reason::Retransmitting,
        Reason::ZeroWindow,
        Reason::Unread,
        Reason::CloseWait,
    ];

    pub fn label(&self) -> &'static str {
        match self {
            Reason::Idle => "idle",
            Reason::KeepaliveIdle => "keepalive-idle",
            Reason::KeepaliveProbing => "keepalive-probing",
            Reason::Retransmitting => "retransmitting",
            Reason::ZeroWindow => "zero-window",
            Reason::Unread => "unread",
            Reason::CloseWait => "close-wait",
        }
    }

    /// 2 = critical-worthy, 1 = warning-worthy (keepalive-idle: the peer still answers).
    pub fn severity(&self) -> u8 {
        match self {
            Reason::KeepaliveIdle => 1,
            _ => 2,
        }
    }

    /// What it usually means, for the one-line verdict.
    pub fn explain(&self, we_are_client: bool) -> &'static str {
        match self {
            Reason::Idle if we_are_client => "the client has no read timeout",
            Reason::Idle => "the peer went quiet and the server has no idle timeout",
            Reason::KeepaliveIdle => "kept open by keepalive; the application never closes it",
            Reason::KeepaliveProbing => "the peer is gone: keepalive probes go unanswered",
            Reason::Retransmitting => "data is not acknowledged: packet loss or a dead peer",
            Reason::ZeroWindow => "the peer stopped reading (zero window)",
            Reason::Unread => "the local program does not read its receive queue",
            Reason::CloseWait => {
                "the peer closed; the local program never called close() (fd leak)"
            }
        }
    }
}

/// Idle time of a socket from tcp_info: since the last data in either direction.
pub fn idle_ms(info: &TcpInfo) -> Option<u64> {
    match (info.last_data_sent_ms, info.last_data_recv_ms) {
        (Some(s), Some(r)) => Some(u64::from(s.min(r))),
        _ => None,
    }
}

/// Classify one socket. `idle` is the `--idle` threshold in ms; `idle_now` the socket's idle
/// time (reconciled with the state file), when known.
pub fn classify(s: &Sock, threshold_ms: u64, idle_now: Option<u64>) -> Option<Reason> {
    let info = s.info.as_ref();
    let idle_enough = idle_now.is_some_and(|i| i >= threshold_ms);
    if s.state == CLOSE_WAIT {
        // procfs gives no idle time: a CLOSE_WAIT socket is reported as soon as it is seen
        return (idle_now.is_none() || idle_enough).then_some(Reason::CloseWait);
    }
    if s.state != ESTABLISHED {
        return None;
    }
    let retrans = info.map(|i| u32::from(i.retransmits)).unwrap_or(s.retrans);
    if s.timer == Timer::Retransmit && retrans > 0 {
        return Some(Reason::Retransmitting);
    }
    if s.timer == Timer::Probe {
        // the persist timer also runs when data cannot be sent at all (no route, blackhole):
        // a peer window that is not zero tells the two apart
        if info.and_then(|i| i.snd_wnd).is_some_and(|w| w > 0) && s.send_q > 0 {
            return Some(Reason::Retransmitting);
        }
        return Some(Reason::ZeroWindow);
    }
    if s.timer == Timer::Keepalive && info.is_some_and(|i| i.probes > 0) {
        return Some(Reason::KeepaliveProbing);
    }
    if s.recv_q > 0 {
        let unread_for = info.and_then(|i| i.last_data_recv_ms).map(u64::from);
        return unread_for
            .is_some_and(|u| u >= threshold_ms)
            .then_some(Reason::Unread);
    }
    if s.send_q == 0 && s.recv_q == 0 && idle_enough {
        return Some(if s.timer == Timer::Keepalive {
            Reason::KeepaliveIdle
        } else {
            Reason::Idle
        });
    }
    None
}

/// Reconcile tcp_info's u32 idle counter (which wraps after ~49.7 days) with the time the
/// socket was first seen stale (`stale_since_ms`, unix ms, from the state file).
/// Returns (idle ms, stale-since ms to store).
pub fn reconcile_idle(stale_since_ms: Option<u64>, now_ms: u64, reported_ms: u64) -> (u64, u64) {
    const WRAP: u64 = 1 << 32;
    const SLACK: u64 = 5_000;
    if let Some(since) = stale_since_ms.filter(|s| *s <= now_ms) {
        let expected = now_ms - since;
        // consistent when the counter equals the elapsed time modulo 2^32 (no activity since)
        let diff = expected.abs_diff(reported_ms % WRAP) % WRAP;
        let diff = diff.min(WRAP - diff);
        if expected + SLACK >= reported_ms && diff <= SLACK {
            return (expected, since);
        }
    }
    (reported_ms, now_ms.saturating_sub(reported_ms))
}

/// A stale socket with what is known of its owner.
#[derive(Debug, Clone, PartialEq)]
pub struct Stale {
    pub sock: Sock,
    pub reason: Reason,
    pub idle_ms: Option<u64>,
    pub pids: Vec<u32>,
    pub process: Option<String>,
}

/// Which side of the connection this host is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// This host connected out (a client): grouped by the remote address and port.
    Outbound,
    /// The peer connected to a local listening port (a server): grouped by the client's
    /// address and the local port, since the client's ephemeral ports say nothing.
    Inbound,
}

/// Stale sockets grouped by remote endpoint and process.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Group {
    pub remote: String,
    /// The remote port (outbound groups); `None` for inbound groups, whose clients use many
    /// ephemeral ports.
    pub port: Option<u16>,
    /// The local listening port the clients connected to (inbound groups).
    pub local_port: Option<u16>,
    pub direction: Direction,
    pub name: Option<String>,
    pub process: Option<String>,
    pub pids: Vec<u32>,
    pub count: usize,
    pub max_idle_s: Option<f64>,
    pub reasons: BTreeMap<&'static str, usize>,
    pub verdict: String,
}

impl Group {
    /// The remote end for people: `crl.example:80 (2001:db8::100)`, `192.0.2.7:443`, or for
    /// inbound groups `192.0.2.7 -> :8080` (the client, and the local port it reached).
    /// Without `with_name`, the addresses only (stable names for munin fields).
    pub fn endpoint(&self, with_name: bool) -> String {
        let name = self.name.as_ref().filter(|_| with_name);
        let ip = self.remote.parse::<IpAddr>();
        match (self.direction, self.port, self.local_port) {
            (Direction::Outbound, Some(p), _) => match (name, ip) {
                (Some(n), _) => format!("{n}:{p} ({})", self.remote),
                (None, Ok(ip)) => fmt_endpoint(ip, p),
                (None, Err(_)) => format!("{}:{p}", self.remote),
            },
            (_, _, lp) => {
                let lp = lp.map_or_else(|| "?".to_string(), |p| p.to_string());
                match name {
                    Some(n) => format!("{n} ({}) -> :{lp}", self.remote),
                    None => format!("{} -> :{lp}", self.remote),
                }
            }
        }
    }
}

#[derive(Default)]
struct Acc<'a> {
    members: Vec<&'a Stale>,
    reasons: [usize; Reason::ALL.len()],
    max_idle: Option<u64>,
}

/// Group stale sockets, oldest idle first. `listening` holds the local ports with a LISTEN
/// socket: a connection on one of them is inbound (this host is the server) and is grouped
/// by (client address, local port, process); any other is outbound and grouped by
/// (remote address, remote port, process).
pub fn group(
    stale: &[Stale],
    threshold_ms: u64,
    names: &BTreeMap<IpAddr, String>,
    listening: &std::collections::HashSet<u16>,
) -> Vec<Group> {
    type Key<'a> = (Direction, IpAddr, u16, Option<&'a str>);
    let mut index: std::collections::HashMap<Key<'_>, usize> = std::collections::HashMap::new();
    let mut accs: Vec<(Key<'_>, Acc<'_>)> = Vec::new();
    for s in stale {
        let key = if listening.contains(&s.sock.local.port()) {
            (
                Direction::Inbound,
                s.sock.remote.ip(),
                s.sock.local.port(),
                s.process.as_deref(),
            )
        } else {
            (
                Direction::Outbound,
                s.sock.remote.ip(),
                s.sock.remote.port(),
                s.process.as_deref(),
            )
        };
        let i = *index.entry(key).or_insert_with(|| {
            accs.push((key, Acc::default()));
            accs.len() - 1
        });
        let a = &mut accs[i].1;
        a.members.push(s);
        a.reasons[s.reason as usize] += 1;
        a.max_idle = a.max_idle.max(s.idle_ms);
    }
    let mut groups: Vec<Group> = accs
        .into_iter()
        .map(|((direction, ip, port, process), a)| {
            let n = a.members.len();
            let mut pids: Vec<u32> = a
                .members
                .iter()
                .flat_map(|s| s.pids.iter().copied())
                .collect();
            pids.sort_unstable();
            pids.dedup();
            let reasons: BTreeMap<&'static str, usize> = Reason::BY_SEVERITY
                .iter()
                .filter(|r| a.reasons[**r as usize] > 0)
                .map(|r| (r.label(), a.reasons[*r as usize]))
                .collect();
            // the most common reason; ties go to the more severe one
            let main = Reason::BY_SEVERITY
                .iter()
                .copied()
                .max_by_key(|r| (a.reasons[*r as usize], std::cmp::Reverse(*r)))
                .unwrap_or(Reason::Idle);
            let name = names.get(&ip).cloned();
            let unit = match (&process, pids.len() > 1, n == 1) {
                (Some(_), true, true) => "worker",
                (Some(_), true, false) => "workers",
                (_, _, true) => "socket",
                (_, _, false) => "sockets",
            };
            let who = match process {
                Some(p) => format!("{n} {p} {unit}"),
                None => format!("{n} {unit} of an unknown process"),
            };
            let what = match main {
                Reason::Idle | Reason::KeepaliveIdle => format!("idle > {} s", threshold_ms / 1000),
                r => r.label().to_string(),
            };
            let peer = match &name {
                Some(n) => format!("{n}:{port} ({ip})"),
                None => fmt_endpoint(ip, port),
            };
            let verdict = match direction {
                Direction::Outbound => format!("{who} {what} on {peer} - {}", main.explain(true)),
                Direction::Inbound => {
                    let from = match &name {
                        Some(n) => format!("{n} ({ip})"),
                        None => ip.to_string(),
                    };
                    format!(
                        "{who} {what} from {from} on local port {port} - {}",
                        main.explain(false)
                    )
                }
            };
            let (port, local_port) = match direction {
                Direction::Outbound => (Some(port), None),
                Direction::Inbound => (None, Some(port)),
            };
            Group {
                remote: ip.to_string(),
                port,
                local_port,
                direction,
                name,
                process: process.map(str::to_string),
                pids,
                count: n,
                max_idle_s: a.max_idle.map(|m| m as f64 / 1000.0),
                reasons,
                verdict,
            }
        })
        .collect();
    groups.sort_by(|a, b| {
        b.max_idle_s
            .unwrap_or(-1.0)
            .total_cmp(&a.max_idle_s.unwrap_or(-1.0))
            .then(b.count.cmp(&a.count))
            .then_with(|| a.direction.cmp(&b.direction))
            .then_with(|| a.remote.cmp(&b.remote))
            .then_with(|| a.port.cmp(&b.port).then(a.local_port.cmp(&b.local_port)))
    });
    groups
}

/// `1.2.3.4:80` or `[2001:db8::1]:80`.
pub fn fmt_endpoint(ip: IpAddr, port: u16) -> String {
    SocketAddr::new(ip, port).to_string()
}

/// A `--peer` filter: an address, or a CIDR block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let err = || {
            format!(
                "invalid address or CIDR '{s}': expected 192.0.2.1, 192.0.2.0/24, 2001:db8::/32"
            )
        };
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| err())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(err)?,
            None => max,
        };
        // an IPv4-mapped block (::ffff:192.0.2.0/120, as ss shows them) is the IPv4 block:
        // sockets are compared in their IPv4 form
        if let IpAddr::V6(v6) = addr {
            if let (Some(v4), true) = (v6.to_ipv4_mapped(), prefix >= 96) {
                return Ok(Cidr {
                    addr: IpAddr::V4(v4),
                    prefix: prefix - 96,
                });
            }
        }
        Ok(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let m = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(self.prefix))
                };
                u32::from(a) & m == u32::from(b) & m
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                let m = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(self.prefix))
                };
                u128::from(a) & m == u128::from(b) & m
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sock(state: u8, timer: Timer, sq: u32, rq: u32, info: Option<TcpInfo>) -> Sock {
        Sock {
            local: "127.0.0.1:40000".parse().unwrap(),
            remote: "127.0.0.1:80".parse().unwrap(),
            state,
            send_q: sq,
            recv_q: rq,
            timer,
            retrans: 0,
            uid: 0,
            inode: 1,
            info,
            cookie: [0; 8],
        }
    }

    fn info(sent: u32, recv: u32) -> TcpInfo {
        TcpInfo {
            last_data_sent_ms: Some(sent),
            last_data_recv_ms: Some(recv),
            last_ack_recv_ms: Some(recv),
            unacked: Some(0),
            ..Default::default()
        }
    }

    #[test]
    fn tcp_info_of_any_length() {
        assert_eq!(TcpInfo::parse(&[0; 4]), None);
        let mut b = vec![0u8; 104];
        b[2] = 3;
        b[3] = 1;
        b[44..48].copy_from_slice(&1500u32.to_ne_bytes());
        b[52..56].copy_from_slice(&2500u32.to_ne_bytes());
        let i = TcpInfo::parse(&b).unwrap();
        assert_eq!(
            (
                i.retransmits,
                i.probes,
                i.last_data_sent_ms,
                i.last_data_recv_ms
            ),
            (3, 1, Some(1500), Some(2500))
        );
        assert_eq!(i.total_retrans, Some(0));
        let short = TcpInfo::parse(&b[..50]).unwrap();
        assert_eq!(
            (
                short.last_data_sent_ms,
                short.last_data_recv_ms,
                short.total_retrans
            ),
            (Some(1500), None, None)
        );
    }

    #[test]
    fn classification() {
        let t = 60_000;
        let idle = info(70_000, 70_000);
        assert_eq!(
            classify(&sock(1, Timer::None, 0, 0, Some(idle)), t, Some(70_000)),
            Some(Reason::Idle)
        );
        assert_eq!(
            classify(
                &sock(1, Timer::Keepalive, 0, 0, Some(idle)),
                t,
                Some(70_000)
            ),
            Some(Reason::KeepaliveIdle)
        );
        let probing = TcpInfo { probes: 2, ..idle };
        assert_eq!(
            classify(
                &sock(1, Timer::Keepalive, 0, 0, Some(probing)),
                t,
                Some(70_000)
            ),
            Some(Reason::KeepaliveProbing)
        );
        let retr = TcpInfo {
            retransmits: 4,
            ..idle
        };
        assert_eq!(
            classify(
                &sock(1, Timer::Retransmit, 100, 0, Some(retr)),
                t,
                Some(70_000)
            ),
            Some(Reason::Retransmitting)
        );
        assert_eq!(
            classify(&sock(1, Timer::Probe, 5000, 0, Some(idle)), t, Some(70_000)),
            Some(Reason::ZeroWindow)
        );
        assert_eq!(
            classify(&sock(1, Timer::None, 0, 10, Some(idle)), t, Some(70_000)),
            Some(Reason::Unread)
        );
        assert_eq!(
            classify(&sock(8, Timer::None, 0, 0, Some(idle)), t, Some(70_000)),
            Some(Reason::CloseWait)
        );
        // busy: data a moment ago, or in flight without retransmissions
        let busy = info(10, 20);
        assert_eq!(
            classify(&sock(1, Timer::None, 0, 0, Some(busy)), t, Some(10)),
            None
        );
        assert_eq!(
            classify(&sock(1, Timer::Retransmit, 500, 0, Some(busy)), t, Some(10)),
            None
        );
        assert_eq!(
            classify(&sock(1, Timer::None, 0, 10, Some(busy)), t, Some(10)),
            None
        );
        assert_eq!(classify(&sock(10, Timer::None, 0, 0, None), t, None), None);
        // procfs: no idle time; only what timers and states show
        assert_eq!(
            classify(&sock(8, Timer::None, 0, 0, None), t, None),
            Some(Reason::CloseWait)
        );
        let mut s = sock(1, Timer::Retransmit, 100, 0, None);
        s.retrans = 3;
        assert_eq!(classify(&s, t, None), Some(Reason::Retransmitting));
        assert_eq!(classify(&sock(1, Timer::None, 0, 0, None), t, None), None);
    }

    #[test]
    fn idle_survives_the_u32_wrap() {
        let day = 86_400_000u64;
        // first sighting: stale since now - reported
        assert_eq!(
            reconcile_idle(None, 100 * day, 70_000),
            (70_000, 100 * day - 70_000)
        );
        // 60 days later the u32 counter has wrapped: trust the state file
        let since = 100 * day - 70_000;
        let now = 160 * day;
        let reported = (now - since) % (1 << 32);
        assert_eq!(
            reconcile_idle(Some(since), now, reported),
            (now - since, since)
        );
        // activity in between: the counter is small again, start over
        assert_eq!(
            reconcile_idle(Some(since), now, 1_000),
            (1_000, now - 1_000)
        );
    }

    #[test]
    fn proc_net_tcp_rows() {
        let t = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:0050 0100007F:9C40 01 00000010:00000002 02:000AC99B 00000003  1000        0 4242 1 0000000000000000 20 4 30 10 -1\n";
        let v = parse_proc_net_tcp(t).unwrap();
        assert_eq!(v.len(), 1);
        let s = &v[0];
        assert_eq!(s.local, "127.0.0.1:80".parse().unwrap());
        assert_eq!(s.remote, "127.0.0.1:40000".parse().unwrap());
        assert_eq!(
            (s.state, s.send_q, s.recv_q, s.timer, s.retrans, s.uid, s.inode),
            (1, 16, 2, Timer::Keepalive, 3, 1000, 4242)
        );
        let t6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000100007F:A000 01 00000000:00000000 00:00000000 00000000     0        0 99 1 0000000000000000 20 4 30 10 -1\n";
        let v = parse_proc_net_tcp(t6).unwrap();
        assert_eq!(canonical(v[0].local), "127.0.0.1:8080".parse().unwrap());
        let udp = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n";
        assert!(parse_proc_net_tcp(udp).unwrap_err().msg.contains("UDP"));
        assert!(parse_proc_net_tcp("").is_err());
        assert_eq!(
            parse_proc_net_tcp("  sl  local_address rem_address   st tx_queue rx_queue tr\n 0: zz")
                .unwrap_err()
                .line,
            2
        );
    }

    #[test]
    fn cidr() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains("10.1.2.3".parse().unwrap()));
        assert!(c.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!c.contains("11.1.2.3".parse().unwrap()));
        let c = Cidr::parse("2001:db8::/32").unwrap();
        assert!(c.contains("2001:db8::100".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("nonsense").is_err());
        // IPv4-mapped filters match the IPv4 form the sockets are shown in
        let mapped = Cidr::parse("::ffff:127.0.0.0/104").unwrap();
        assert_eq!(mapped, Cidr::parse("127.0.0.0/8").unwrap());
        assert!(mapped.contains("127.0.0.1".parse().unwrap()));
        assert!(Cidr::parse("::ffff:127.0.0.1")
            .unwrap()
            .contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(Cidr::parse("2001:db8::100")
            .unwrap()
            .contains("2001:db8::100".parse().unwrap()));
    }

    #[test]
    fn groups_and_verdicts() {
        let mut v = Vec::new();
        for (i, pid) in (0..3).zip([11, 12, 13]) {
            let mut s = sock(1, Timer::None, 0, 0, Some(info(70_000 + i, 70_000)));
            s.remote = "[2001:db8::100]:80".parse().unwrap();
            s.local = format!("[2001:db8::1]:{}", 40000 + i).parse().unwrap();
            v.push(Stale {
                sock: s,
                reason: Reason::Idle,
                idle_ms: Some(70_000 + u64::from(i)),
                pids: vec![pid],
                process: Some("apache2".into()),
            });
        }
        let mut names = BTreeMap::new();
        names.insert("2001:db8::100".parse().unwrap(), "crl.example".to_string());
        let g = group(&v, 60_000, &names, &Default::default());
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].count, 3);
        assert_eq!(g[0].pids, [11, 12, 13]);
        assert_eq!(g[0].verdict, "3 apache2 workers idle > 60 s on crl.example:80 (2001:db8::100) - the client has no read timeout");
        assert_eq!(g[0].max_idle_s, Some(70.002));
        assert_eq!(g[0].direction, Direction::Outbound);
        assert_eq!((g[0].port, g[0].local_port), (Some(80), None));
        assert_eq!(g[0].endpoint(true), "crl.example:80 (2001:db8::100)");
        assert_eq!(g[0].endpoint(false), "[2001:db8::100]:80");
    }

    #[test]
    fn by_severity_is_indexed_by_the_discriminant() {
        for (i, r) in Reason::BY_SEVERITY.iter().enumerate() {
            assert_eq!(*r as usize, i, "{r:?}");
        }
        let mut all = Reason::ALL.to_vec();
        all.sort();
        assert_eq!(all, Reason::BY_SEVERITY);
    }

    #[test]
    fn inbound_groups_by_client_address_and_local_port() {
        // a server on :8080 holding connections from two clients, each from many ephemeral
        // ports, one of them unread: one group per client address, not one per socket
        let mut v = Vec::new();
        for (i, client) in [
            (0u16, "192.0.2.7"),
            (1, "192.0.2.7"),
            (2, "192.0.2.7"),
            (3, "192.0.2.9"),
        ] {
            let mut s = sock(1, Timer::None, 0, 0, Some(info(90_000, 90_000)));
            s.local = "10.0.0.1:8080".parse().unwrap();
            s.remote = format!("{client}:{}", 50000 + i).parse().unwrap();
            v.push(Stale {
                sock: s,
                reason: if i == 2 { Reason::Unread } else { Reason::Idle },
                idle_ms: Some(90_000),
                pids: vec![7],
                process: Some("nginx".into()),
            });
        }
        let listening = [8080u16].into_iter().collect();
        let g = group(&v, 60_000, &BTreeMap::new(), &listening);
        assert_eq!(g.len(), 2, "{g:?}");
        assert_eq!(g[0].remote, "192.0.2.7");
        assert_eq!(g[0].direction, Direction::Inbound);
        assert_eq!((g[0].port, g[0].local_port), (None, Some(8080)));
        assert_eq!(g[0].count, 3);
        assert_eq!(g[0].reasons.get("idle"), Some(&2));
        assert_eq!(g[0].reasons.get("unread"), Some(&1));
        assert_eq!(
            g[0].verdict,
            "3 nginx sockets idle > 60 s from 192.0.2.7 on local port 8080 - the peer went quiet and the server has no idle timeout"
        );
        assert_eq!(g[0].endpoint(true), "192.0.2.7 -> :8080");
        assert_eq!(g[1].remote, "192.0.2.9");
        assert_eq!(g[1].count, 1);
        assert!(
            g[1].verdict.starts_with("1 nginx socket idle"),
            "{}",
            g[1].verdict
        );
    }
}
