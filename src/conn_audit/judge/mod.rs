//! conn-audit's judgement, from gathered sockets to a typed report: which side of each
//! connection this host is (from the listening table), which connections are stale and why
//! (every label means "for at least --idle"), and the sockets the run remembers (first-seen
//! times keyed by inode and cookie). Grouping, causes and verdicts are in
//! [`crate::conn_audit::judge::verdict`]. Pure: the clock, the state file and the owners are inputs.

pub(crate) mod verdict;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use serde::Serialize;

use crate::conn_audit::model::tcp::{canonical, Cidr, Sock, TcpState, Timer};

/// Where the sockets came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Source {
    /// NETLINK_SOCK_DIAG with tcp_info: idle times, ACK times, probes.
    Netlink,
    /// /proc/net/tcp{,6}: states, queues and timers only.
    Procfs,
}

impl Source {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Source::Netlink => "netlink",
            Source::Procfs => "procfs",
        }
    }
}

/// Why a socket is stale, most severe first (the declaration order is the severity order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Reason {
    /// SYN_SENT for --idle: the peer drops SYNs, the client has no connect timeout.
    Connecting,
    /// SYN_RECV for --idle: the handshake's last ACK never came.
    HalfOpen,
    Retransmitting,
    KeepaliveProbing,
    ZeroWindow,
    Unread,
    CloseWait,
    /// FIN_WAIT2 held by a process: it shut down its sending half and waits for the answer.
    HalfClosed,
    Idle,
    /// Idle, and keepalive probes were sent and answered (the peer is alive).
    KeepaliveIdle,
}

impl Reason {
    /// Every reason, most severe first: `r as usize` indexes it.
    pub(crate) const COUNT: usize = 10;
    pub(crate) const ALL: [Reason; Reason::COUNT] = [
        Reason::Connecting,
        Reason::HalfOpen,
        Reason::Retransmitting,
        Reason::KeepaliveProbing,
        Reason::ZeroWindow,
        Reason::Unread,
        Reason::CloseWait,
        Reason::HalfClosed,
        Reason::Idle,
        Reason::KeepaliveIdle,
    ];

    pub(crate) fn label(self) -> &'static str {
        match self {
            Reason::Connecting => "connecting",
            Reason::HalfOpen => "half-open",
            Reason::Idle => "idle",
            Reason::KeepaliveIdle => "keepalive-idle",
            Reason::KeepaliveProbing => "keepalive-probing",
            Reason::Retransmitting => "retransmitting",
            Reason::ZeroWindow => "zero-window",
            Reason::Unread => "unread",
            Reason::CloseWait => "close-wait",
            Reason::HalfClosed => "half-closed",
        }
    }

    /// 2 = critical-worthy, 1 = warning-worthy (keepalive-idle: the peer still answers).
    pub(crate) fn severity(self) -> u8 {
        match self {
            Reason::KeepaliveIdle => 1,
            _ => 2,
        }
    }
}

/// Which side of the connection this host is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Direction {
    /// This host connected out (a client): grouped by the remote address and port.
    Outbound,
    /// The peer connected to a local LISTEN socket (a server): grouped by the client's
    /// address and the listening port.
    Inbound,
}

/// The LISTEN sockets of the namespace: what makes a connection inbound.
#[derive(Debug, Default)]
struct Listeners {
    /// address:port -> the listener's inode
    exact: HashMap<SocketAddr, u64>,
    any_v4: HashMap<u16, u64>,
    /// `[::]` listeners; dual-stack unless IPV6_V6ONLY (which the dump does not tell), so
    /// they also take IPv4 connections
    any_v6: HashMap<u16, u64>,
}

impl Listeners {
    fn from_socks<'a>(socks: impl IntoIterator<Item = &'a Sock>) -> Listeners {
        let mut l = Listeners::default();
        for s in socks.into_iter().filter(|s| s.state == TcpState::Listen) {
            let a = canonical(s.local);
            match a.ip() {
                IpAddr::V4(v4) if v4.is_unspecified() => l.any_v4.insert(a.port(), s.inode),
                IpAddr::V6(v6) if v6.is_unspecified() => l.any_v6.insert(a.port(), s.inode),
                _ => l.exact.insert(a, s.inode),
            };
        }
        l
    }

    /// The inode of the LISTEN socket a connection with this (canonical) local address was
    /// accepted from, if any: the exact address, else a wildcard listener on the port.
    fn listener_of(&self, local: SocketAddr) -> Option<u64> {
        if let Some(i) = self.exact.get(&local) {
            return Some(*i);
        }
        let v4 = match local.ip() {
            IpAddr::V4(_) => self.any_v4.get(&local.port()),
            IpAddr::V6(_) => None,
        };
        v4.or_else(|| self.any_v6.get(&local.port())).copied()
    }

    fn direction(&self, local: SocketAddr) -> Direction {
        match self.listener_of(local) {
            Some(_) => Direction::Inbound,
            None => Direction::Outbound,
        }
    }
}

/// Peers to keep: a CIDR block, or the addresses a host name resolved to.
#[derive(Debug, Clone)]
pub(crate) enum PeerFilter {
    Cidr(Cidr),
    Addrs(Vec<IpAddr>),
}

impl PeerFilter {
    pub(crate) fn matches(&self, ip: IpAddr) -> bool {
        match self {
            PeerFilter::Cidr(c) => c.contains(ip),
            PeerFilter::Addrs(v) => v
                .iter()
                .any(|a| canonical(SocketAddr::new(*a, 0)).ip() == ip),
        }
    }
}

/// Owners to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProcessFilter {
    Pid(u32),
    Name(String),
}

impl ProcessFilter {
    pub(crate) fn parse(s: &str) -> ProcessFilter {
        match s.parse() {
            Ok(pid) => ProcessFilter::Pid(pid),
            Err(_) => ProcessFilter::Name(s.to_string()),
        }
    }
}

/// Port filters, as ss names them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PortFilter {
    /// The service port: the remote port of outbound connections, the listening port of
    /// inbound ones (never a client's ephemeral port).
    pub(crate) port: Option<u16>,
    /// The local port, whatever the direction (`ss sport`).
    pub(crate) sport: Option<u16>,
    /// The remote port, whatever the direction (`ss dport`).
    pub(crate) dport: Option<u16>,
}

impl PortFilter {
    fn matches(&self, s: &Sock, dir: Direction) -> bool {
        let service = match dir {
            Direction::Outbound => s.remote.port(),
            Direction::Inbound => s.local.port(),
        };
        self.port.is_none_or(|p| p == service)
            && self.sport.is_none_or(|p| p == s.local.port())
            && self.dport.is_none_or(|p| p == s.remote.port())
    }
}

/// What the audit looks for.
#[derive(Debug, Clone, Default)]
pub(crate) struct Options {
    /// `--idle` in ms: how long any condition must last before it counts.
    pub(crate) idle_ms: u64,
    pub(crate) ports: PortFilter,
    pub(crate) peer: Option<PeerFilter>,
    pub(crate) process: Option<ProcessFilter>,
}

/// A socket's identity in the state file: stable across runs and Rust releases (the kernel's
/// inode and socket cookie, not a hash).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct SockKey {
    pub(crate) inode: u64,
    pub(crate) cookie: u64,
}

impl SockKey {
    fn of(s: &Sock) -> SockKey {
        SockKey {
            inode: s.inode,
            cookie: s.cookie,
        }
    }
}

/// When each remembered socket's condition started (unix ms): a stale socket's idle start,
/// or when a socket in a handshake state was first seen.
pub(crate) type Memory = HashMap<SockKey, u64>;

/// The pids holding a socket: almost always one, kept without an allocation (a proxy can
/// hold tens of thousands of sockets).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum Pids {
    #[default]
    None,
    One(u32),
    Many(Box<[u32]>),
}

impl std::ops::Deref for Pids {
    type Target = [u32];
    fn deref(&self) -> &[u32] {
        match self {
            Pids::None => &[],
            Pids::One(p) => std::slice::from_ref(p),
            Pids::Many(v) => v,
        }
    }
}

impl From<Vec<u32>> for Pids {
    fn from(v: Vec<u32>) -> Pids {
        match v.as_slice() {
            [] => Pids::None,
            [p] => Pids::One(*p),
            _ => Pids::Many(v.into_boxed_slice()),
        }
    }
}

impl Pids {
    /// Add a pid (kept sorted, once).
    pub(crate) fn add(&mut self, pid: u32) {
        if self.contains(&pid) {
            return;
        }
        let mut v = self.to_vec();
        v.push(pid);
        v.sort_unstable();
        *self = v.into();
    }
}

/// A stale socket with what is known of its owner.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stale {
    pub(crate) sock: Sock,
    pub(crate) reason: Reason,
    pub(crate) direction: Direction,
    /// How long the condition has lasted, when known.
    pub(crate) idle_ms: Option<u64>,
    /// The listening port (inbound), for grouping.
    pub(crate) listener: Option<u64>,
    pub(crate) pids: Pids,
    /// Shared by every socket of the process (tens of thousands for a proxy).
    pub(crate) process: Option<Arc<str>>,
    /// What the socket proves about its peer.
    pub(crate) evidence: SockEvidence,
    /// The network namespace it lives in (an index into the report's `namespaces`).
    pub(crate) netns: u32,
    /// tcp_info's times since data was last sent and received (kept when tcp_info itself
    /// is dropped): without owners, they link a request that arrived to the one the same
    /// user's process sent upstream right after.
    pub(crate) sent_ago_ms: Option<u32>,
    pub(crate) recv_ago_ms: Option<u32>,
}

impl Stale {
    /// A connection completed by the kernel that no process has accepted yet: inbound,
    /// ESTABLISHED, and no file (inode 0).
    pub(crate) fn in_accept_queue(&self) -> bool {
        self.direction == Direction::Inbound
            && self.sock.inode == 0
            && self.sock.state == TcpState::Established
    }

    /// No process can own it yet: a queued connection, or the server's half of a handshake
    /// (its listener's process is the one to look at).
    pub(crate) fn before_accept(&self) -> bool {
        self.direction == Direction::Inbound && self.sock.inode == 0
    }
}

/// Socket counts, after the filters: `connections` are the judged states (ESTABLISHED,
/// CLOSE_WAIT, SYN_SENT, SYN_RECV); `scanned` is every socket read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Counts {
    pub(crate) scanned: usize,
    pub(crate) connections: usize,
    pub(crate) established: usize,
    pub(crate) close_wait: usize,
    pub(crate) syn_sent: usize,
    pub(crate) syn_recv: usize,
    /// FIN_WAIT2: half-closed by this side (netlink dumps only those a process holds
    /// besides orphans; procfs has every one).
    pub(crate) fin_wait2: usize,
}

impl Counts {
    /// Another namespace's counts added.
    pub(crate) fn add(&mut self, o: &Counts) {
        self.scanned += o.scanned;
        self.connections += o.connections;
        self.established += o.established;
        self.close_wait += o.close_wait;
        self.syn_sent += o.syn_sent;
        self.syn_recv += o.syn_recv;
        self.fin_wait2 += o.fin_wait2;
    }
}

/// The first pass: every socket judged, before owners are known.
#[derive(Debug, Default)]
pub(crate) struct Judged {
    pub(crate) stale: Vec<Stale>,
    /// Stale sockets outside the filters: not reported or counted, but outbound ones are a
    /// cause when the processes of a reported group are blocked on them, and inbound ones
    /// make a reported group the cause their clients wait on.
    pub(crate) context: Vec<Stale>,
    pub(crate) counts: Counts,
    /// What the state file should hold for this namespace after the run.
    pub(crate) memory: Memory,
    /// The listeners' inodes by port (for the accept-queue verdict's owner).
    pub(crate) listener_inodes: HashSet<u64>,
    /// Each listener's accept queue: (inode, connections queued, backlog).
    pub(crate) queues: Vec<(u64, u32, u32)>,
    /// With `--process`: every connection kept by the other filters (inode, state), to be
    /// counted once its owner is known.
    pub(crate) kept: Vec<(u64, TcpState)>,
}

impl Judged {
    /// Another namespace's judgement added (`--all-netns`).
    pub(crate) fn merge(&mut self, o: Judged) {
        self.stale.extend(o.stale);
        self.context.extend(o.context);
        self.counts.add(&o.counts);
        self.listener_inodes.extend(o.listener_inodes);
        self.queues.extend(o.queues);
        self.kept.extend(o.kept);
    }

    /// The counts of `--process`'s connections only (the others are not its).
    pub(crate) fn counts_of_process(&self, owners: &Owners, p: &ProcessFilter) -> Counts {
        let mut c = Counts {
            scanned: self.counts.scanned,
            ..Counts::default()
        };
        for (inode, state) in &self.kept {
            let (pids, name) = owners.of(*inode);
            let mine = match p {
                ProcessFilter::Pid(pid) => pids.contains(pid),
                ProcessFilter::Name(n) => name.as_deref() == Some(n),
            };
            if mine {
                count(&mut c, *state);
            }
        }
        c
    }
}

/// Idle time from tcp_info: since the last data in either direction.
fn data_idle_ms(s: &Sock) -> Option<u64> {
    let i = s.info.as_ref()?;
    Some(u64::from(i.last_data_sent_ms?.min(i.last_data_recv_ms?)))
}

/// The least time `retransmits` exponential backoffs from `initial_ms` can have taken.
fn backoff_ms(initial_ms: u64, retransmits: u32) -> u64 {
    initial_ms.saturating_mul((1u64 << retransmits.min(40)) - 1)
}

/// The kernel's initial SYN timeout (TCP_TIMEOUT_INIT) and minimum RTO (TCP_RTO_MIN).
const SYN_TIMEOUT_MS: u64 = 1_000;
const RTO_MIN_MS: u64 = 200;

/// Reconcile tcp_info's u32 idle counter (which wraps after ~49.7 days) with the time the
/// socket was first seen stale (`stale_since_ms`, unix ms, from the state file).
/// Returns (idle ms, stale-since ms to store).
fn reconcile_idle(stale_since_ms: Option<u64>, now_ms: u64, reported_ms: u64) -> (u64, u64) {
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

/// The verdict on one socket: its reason (if stale) and how long the condition has lasted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Verdict {
    reason: Option<Reason>,
    lasted_ms: Option<u64>,
    /// The condition's start, to remember (handshakes always; others when stale).
    since_ms: Option<u64>,
}

/// The kernel's cap on the retransmission timeout (TCP_RTO_MAX).
const RTO_MAX_MS: u64 = 120_000;

/// The least time a handshake with `retransmits` SYN (or SYN-ACK) retransmissions, `backoff`
/// of which doubled the timeout, can have lasted (tcp_retransmit_timer): every timeout starts
/// at TCP_TIMEOUT_INIT (1 s); the first `retransmits - backoff` timeouts left it there (linear
/// SYN timeouts, net.ipv4.tcp_syn_linear_timeouts, kernel 6.5+; none on older kernels, where
/// backoff == retransmits), the last `backoff` doubled it (capped at TCP_RTO_MAX). The
/// `backoff` doublings took effect after their timeout, so the last one has not been waited
/// out yet: retransmits 6, backoff 2 = 1+1+1+1+1+2 = 7 s (ss -ti: `backoff:2 retrans:1/6`).
/// Without tcp_info (procfs) the backoff is unknown: the least is then 1 s a retransmit.
fn syn_schedule_ms(retransmits: u32, backoff: Option<u32>) -> u64 {
    let backoff = backoff.unwrap_or(0).min(retransmits);
    let linear = u64::from(retransmits - backoff);
    let doubled: u64 = (1..backoff.min(64))
        .map(|k| {
            SYN_TIMEOUT_MS
                .saturating_mul(1u64 << k.min(40))
                .min(RTO_MAX_MS)
        })
        .sum();
    let first = if backoff > 0 { SYN_TIMEOUT_MS } else { 0 };
    (linear * SYN_TIMEOUT_MS)
        .saturating_add(first)
        .saturating_add(doubled)
}

/// Judge a socket in a handshake state: the kernel gives no age, so it is a lower bound: the
/// time since the start the state file remembers (itself stored as a lower bound at first
/// sight), or, at first sight, what the SYN retransmission schedule proves.
fn judge_handshake(s: &Sock, t: u64, now: u64, seen: Option<u64>) -> Verdict {
    let (retrans, backoff) = match s.info.as_deref() {
        Some(i) => (u32::from(i.retransmits), Some(u32::from(i.backoff))),
        // a request socket (SYN_RECV) has no tcp_info; every SYN-ACK timeout doubles
        // (reqsk_timer_handler: 1, 2, 4, 8 s: ages 1, 3, 7, 15 s after 1..4 retransmissions)
        None if s.state.is_syn_recv() => (s.retrans, Some(s.retrans)),
        None => (s.retrans, None),
    };
    let age = match (
        seen.filter(|since| *since <= now),
        s.state.is_syn_recv(),
        s.expires_ms,
    ) {
        (Some(since), _, _) => now - since,
        // a request socket's timer fires at 1, 3, 7, 15, 31, 63 s: the time left to the
        // next one gives its exact age
        (None, true, Some(left)) => syn_schedule_ms(retrans + 1, Some(retrans + 1))
            .checked_sub(u64::from(left))
            .unwrap_or_else(|| syn_schedule_ms(retrans, backoff)),
        (None, _, _) => syn_schedule_ms(retrans, backoff),
    };
    let reason = match s.state {
        TcpState::SynSent => Reason::Connecting,
        _ => Reason::HalfOpen,
    };
    Verdict {
        reason: (age >= t).then_some(reason),
        lasted_ms: Some(age),
        since_ms: Some(now.saturating_sub(age)),
    }
}

/// How long a stall has lasted: no ACK for `last_ack_recv` (netlink), or at least what the
/// retransmit count's backoff proves (procfs).
fn stalled_ms(s: &Sock) -> u64 {
    match s.info.as_ref().and_then(|i| i.last_ack_recv_ms) {
        Some(ms) => u64::from(ms),
        None => backoff_ms(RTO_MIN_MS, s.retrans),
    }
}

/// A keepalive probe was sent and answered: an ACK came in well after the last data either
/// way (a probe carries no data; its answer is a bare ACK), and no probe is outstanding. An
/// armed keepalive timer alone proves nothing: at the kernel's defaults the first probe
/// leaves after two hours (`timer:(keepalive,119min,0)`).
fn keepalive_answered(s: &Sock) -> bool {
    let Some(i) = s.info.as_ref() else {
        return false;
    };
    let (Some(ack), Some(sent), Some(recv)) =
        (i.last_ack_recv_ms, i.last_data_sent_ms, i.last_data_recv_ms)
    else {
        return false;
    };
    // the ACK of the last data arrives one RTT after it; a probe's answer comes a keepalive
    // interval (at least 1 s) later
    i.probes == 0 && u64::from(ack) + 1_000 <= u64::from(sent.min(recv))
}

/// What a stale socket proves about its peer: the facts a cause needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SockEvidence {
    /// A request without an answer: outbound, data sent after the last data received;
    /// inbound, a request received after the last answer sent, or left unread.
    pub(crate) unanswered: bool,
    /// Data sent and not acknowledged.
    pub(crate) unacked: bool,
    /// Retransmitting (no ACK for --idle).
    pub(crate) retransmitting: bool,
    /// SYN_SENT for --idle: SYNs retransmitted, no SYN-ACK.
    pub(crate) syn_retries: bool,
    /// Keepalive probes sent and not answered.
    pub(crate) keepalive_unanswered: bool,
    /// Requests were made and answered, none is pending (not evidence of anything wrong).
    pub(crate) answered: bool,
}

impl SockEvidence {
    /// The peer does not answer this socket's requests.
    pub(crate) fn blocks(&self) -> bool {
        self.unanswered
            || self.unacked
            || self.retransmitting
            || self.syn_retries
            || self.keepalive_unanswered
    }
}

/// The evidence of one stale socket, from tcp_info (procfs: the queues only).
fn evidence_of(s: &Sock, reason: Reason, dir: Direction) -> SockEvidence {
    let i = s.info.as_ref();
    let sent = i.and_then(|i| i.last_data_sent_ms);
    let recv = i.and_then(|i| i.last_data_recv_ms);
    let segs_in = i.and_then(|i| i.data_segs_in);
    let segs_out = i.and_then(|i| i.data_segs_out);
    // equal to the millisecond (a request sent as soon as connected, or a loopback answer
    // within the millisecond): the data segment counts tell whether an answer ever came
    let never = |asked: Option<u32>, answered: Option<u32>| {
        asked.is_some_and(|n| n > 0) && answered == Some(0)
    };
    let (mine, theirs) = match dir {
        Direction::Outbound => (segs_out, segs_in),
        Direction::Inbound => (segs_in, segs_out),
    };
    let unanswered = match (dir, sent, recv) {
        // more recent send than receive: the last request has no answer yet
        (Direction::Outbound, Some(sent), Some(recv)) => {
            sent < recv || (sent == recv && never(mine, theirs))
        }
        (Direction::Inbound, Some(sent), Some(recv)) => {
            recv < sent || (sent == recv && never(mine, theirs)) || s.recv_q > 0
        }
        (Direction::Inbound, _, _) => s.recv_q > 0,
        _ => false,
    };
    // a request was made and answered: data both ways, and none pending
    let exchanged = mine.is_some_and(|n| n > 0) && theirs.is_some_and(|n| n > 0);
    let unacked = match i.and_then(|i| i.unacked) {
        Some(n) => n > 0,
        None => s.state == TcpState::Established && s.send_q > 0,
    };
    let handshake = s.state.is_syn_recv() || s.state == TcpState::SynSent;
    SockEvidence {
        answered: exchanged && !unanswered && !handshake,
        unanswered: unanswered && !handshake,
        unacked: unacked && s.state == TcpState::Established,
        retransmitting: reason == Reason::Retransmitting,
        syn_retries: reason == Reason::Connecting,
        keepalive_unanswered: reason == Reason::KeepaliveProbing,
    }
}

/// Judge an ESTABLISHED socket: every label needs its condition to have lasted `t` ms.
fn judge_established(s: &Sock, t: u64, idle: Option<u64>) -> (Option<Reason>, Option<u64>) {
    let info = s.info.as_ref();
    let retrans = info.map(|i| u32::from(i.retransmits)).unwrap_or(s.retrans);
    let at_least = |r: Reason, ms: u64| ((ms >= t).then_some(r), Some(ms));
    if s.timer == Timer::Retransmit && retrans > 0 {
        return at_least(Reason::Retransmitting, stalled_ms(s));
    }
    if s.timer == Timer::Probe {
        // the persist timer also runs when data cannot be sent at all (no route, blackhole):
        // a peer window that is not zero tells the two apart
        if info.and_then(|i| i.snd_wnd).is_some_and(|w| w > 0) && s.send_q > 0 {
            return at_least(Reason::Retransmitting, stalled_ms(s));
        }
        // a zero window: no new data sent since it closed (probes carry none); procfs
        // cannot tell how long, so it never judges one
        let closed_for = info.and_then(|i| i.last_data_sent_ms).map(u64::from);
        return match closed_for {
            Some(ms) => at_least(Reason::ZeroWindow, ms),
            None => (None, None),
        };
    }
    if s.timer == Timer::Keepalive && info.is_some_and(|i| i.probes > 0) {
        return at_least(Reason::KeepaliveProbing, stalled_ms(s));
    }
    if s.recv_q > 0 {
        let unread_for = info.and_then(|i| i.last_data_recv_ms).map(u64::from);
        return match unread_for {
            Some(ms) => at_least(Reason::Unread, ms),
            None => (None, None),
        };
    }
    let reason = if s.timer == Timer::Keepalive && keepalive_answered(s) {
        Reason::KeepaliveIdle
    } else {
        Reason::Idle
    };
    match idle {
        Some(ms) if s.send_q == 0 => at_least(reason, ms),
        _ => (None, idle),
    }
}

/// Judge one socket (not LISTEN) at `now`, with what the state file remembers of it.
fn judge_sock(s: &Sock, t: u64, now: u64, remembered: Option<u64>) -> Verdict {
    if s.state == TcpState::SynSent || s.state.is_syn_recv() {
        return judge_handshake(s, t, now, remembered);
    }
    let idle = data_idle_ms(s).map(|r| reconcile_idle(remembered, now, r));
    let (reason, lasted) = match s.state {
        // procfs gives no idle time: a CLOSE_WAIT socket is reported as soon as it is seen
        TcpState::CloseWait => match idle {
            Some((ms, _)) => ((ms >= t).then_some(Reason::CloseWait), Some(ms)),
            None => (Some(Reason::CloseWait), None),
        },
        TcpState::Established => judge_established(s, t, idle.map(|i| i.0)),
        // a process that shut down its sending half (still holds the socket: an inode) and
        // waits for the answer; orphans (inode 0) are the kernel's, closed by tcp_fin_timeout
        TcpState::FinWait2 if s.inode != 0 => match idle {
            Some((ms, _)) => ((ms >= t).then_some(Reason::HalfClosed), Some(ms)),
            None => (None, None),
        },
        _ => (None, None),
    };
    Verdict {
        reason,
        lasted_ms: lasted,
        since_ms: reason.and(idle.map(|i| i.1)),
    }
}

fn judged_state(sock: &Sock) -> bool {
    if sock.state == TcpState::FinWait2 && sock.inode == 0 {
        return false; // an orphan: no process waits on it
    }
    matches!(
        sock.state,
        TcpState::Established
            | TcpState::CloseWait
            | TcpState::SynSent
            | TcpState::SynRecv
            | TcpState::NewSynRecv
            | TcpState::FinWait2
    )
}

fn count(c: &mut Counts, state: TcpState) {
    c.connections += 1;
    match state {
        TcpState::Established => c.established += 1,
        TcpState::CloseWait => c.close_wait += 1,
        TcpState::SynSent => c.syn_sent += 1,
        TcpState::FinWait2 => c.fin_wait2 += 1,
        s if s.is_syn_recv() => c.syn_recv += 1,
        _ => {}
    }
}

/// tcp_info's times since data was last sent and received.
fn times(s: &Sock) -> (Option<u32>, Option<u32>) {
    let i = s.info.as_deref();
    (
        i.and_then(|i| i.last_data_sent_ms),
        i.and_then(|i| i.last_data_recv_ms),
    )
}

/// Judge every socket: canonical addresses, direction from the listening table, the port and
/// peer filters, the verdicts, and the memory to keep (entries of sockets outside the filters
/// stay, for another check sharing the file).
pub(crate) fn judge(mut socks: Vec<Sock>, opts: &Options, now: u64, old: &Memory) -> Judged {
    for s in &mut socks {
        s.local = canonical(s.local);
        s.remote = canonical(s.remote);
    }
    let listeners = Listeners::from_socks(&socks);
    let mut j = Judged {
        counts: Counts {
            scanned: socks.len(),
            ..Counts::default()
        },
        // a LISTEN socket's queues are its accept queue and backlog (ss's Recv-Q, Send-Q)
        queues: socks
            .iter()
            .filter(|s| s.state == TcpState::Listen)
            .map(|s| (s.inode, s.recv_q, s.send_q))
            .collect(),
        ..Judged::default()
    };
    // taken from the end, the table shrinking as the stale list grows: a 430k-socket
    // capture is never held twice (the order is restored by `attach_owners`' sort)
    let mut judged_since_shrink = 0usize;
    while let Some(s) = socks.pop() {
        judged_since_shrink += 1;
        if judged_since_shrink >= 1 << 12 {
            judged_since_shrink = 0;
            socks.shrink_to_fit();
        }
        // the states judged (all netlink asks for but LISTEN; procfs has every state, and a
        // TIME_WAIT or FIN_WAIT socket is not a connection anyone waits on)
        if !judged_state(&s) {
            continue;
        }
        let key = SockKey::of(&s);
        let direction = listeners.direction(s.local);
        let kept = opts.ports.matches(&s, direction)
            && opts.peer.as_ref().is_none_or(|f| f.matches(s.remote.ip()));
        if !kept {
            let remembered = old.get(&key).copied();
            if let Some(since) = remembered {
                j.memory.insert(key, since);
            }
            // outside the filters, but possibly what blocks the processes inside them, or
            // the clients waiting on them
            let v = judge_sock(&s, opts.idle_ms, now, remembered);
            if let Some(reason) = v.reason {
                let evidence = evidence_of(&s, reason, direction);
                let (sent_ago_ms, recv_ago_ms) = times(&s);
                let mut s = s;
                s.info = None;
                j.context.push(Stale {
                    evidence,
                    sent_ago_ms,
                    recv_ago_ms,
                    sock: s,
                    reason,
                    direction,
                    idle_ms: v.lasted_ms,
                    listener: None,
                    pids: Pids::None,
                    process: None,
                    netns: 0,
                });
            }
            continue;
        }
        count(&mut j.counts, s.state);
        if opts.process.is_some() {
            j.kept.push((s.inode, s.state));
        }
        let v = judge_sock(&s, opts.idle_ms, now, old.get(&key).copied());
        if let Some(since) = v.since_ms {
            j.memory.insert(key, since);
        }
        let Some(reason) = v.reason else { continue };
        let listener = match direction {
            Direction::Inbound => listeners.listener_of(s.local),
            Direction::Outbound => None,
        };
        j.listener_inodes.extend(listener);
        let evidence = evidence_of(&s, reason, direction);
        let (sent_ago_ms, recv_ago_ms) = times(&s);
        // tcp_info has said all it had to (the verdict and the evidence): not kept
        let mut s = s;
        s.info = None;
        j.stale.push(Stale {
            evidence,
            sent_ago_ms,
            recv_ago_ms,
            sock: s,
            reason,
            direction,
            idle_ms: v.lasted_ms,
            listener,
            pids: Pids::None,
            process: None,
            netns: 0,
        });
    }
    j
}

/// The owners of socket inodes, as `sys` found them in /proc/PID/fd.
#[derive(Debug, Default)]
pub(crate) struct Owners {
    pub(crate) by_inode: HashMap<u64, Pids>,
    /// Process names, already escaped for display.
    pub(crate) comm: HashMap<u32, Arc<str>>,
    /// Processes whose fds could not be read (permission).
    pub(crate) denied: usize,
}

impl Owners {
    /// The pids and process name of a socket inode.
    pub(crate) fn of(&self, inode: u64) -> (Pids, Option<Arc<str>>) {
        let pids = self.by_inode.get(&inode).cloned().unwrap_or_default();
        let name = pids.iter().find_map(|p| self.comm.get(p).cloned());
        (pids, name)
    }
}

/// Attach owners to the stale sockets, apply `--process`, and sort oldest first.
pub(crate) fn attach_owners(
    stale: &mut Vec<Stale>,
    owners: &Owners,
    filter: Option<&ProcessFilter>,
) {
    for s in stale.iter_mut() {
        (s.pids, s.process) = owners.of(s.sock.inode);
    }
    match filter {
        Some(ProcessFilter::Pid(pid)) => stale.retain(|s| s.pids.contains(pid)),
        Some(ProcessFilter::Name(n)) => stale.retain(|s| s.process.as_deref() == Some(n)),
        None => {}
    }
    stale.sort_by(|a, b| {
        b.idle_ms
            .unwrap_or(0)
            .cmp(&a.idle_ms.unwrap_or(0))
            .then(a.reason.cmp(&b.reason))
    });
}

/// Sockets per reason, indexed by `Reason as usize`; serialized as `{label: count}`, every
/// reason listed (zeros too: stable series).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tally(pub(crate) [usize; Reason::COUNT]);

impl Tally {
    pub(crate) fn of<'a>(stale: impl IntoIterator<Item = &'a Stale>) -> Tally {
        let mut t = Tally::default();
        for s in stale {
            t.0[s.reason as usize] += 1;
        }
        t
    }

    pub(crate) fn get(&self, r: Reason) -> usize {
        self.0[r as usize]
    }

    /// The reasons with a count, most severe first.
    pub(crate) fn present(&self) -> impl Iterator<Item = (Reason, usize)> + '_ {
        Reason::ALL
            .iter()
            .map(|r| (*r, self.get(*r)))
            .filter(|(_, n)| *n > 0)
    }
}

impl Serialize for Tally {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        ser.collect_map(Reason::ALL.iter().map(|r| (r.label(), self.get(*r))))
    }
}

/// Stale sockets per reason, every reason listed.
pub(crate) fn by_reason(stale: &[Stale]) -> Tally {
    Tally::of(stale)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn_audit::model::tcp::TcpInfo;

    pub(crate) fn sock(
        state: TcpState,
        timer: Timer,
        sq: u32,
        rq: u32,
        info: Option<TcpInfo>,
    ) -> Sock {
        let info = info.map(Box::new);
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
            expires_ms: None,
            info,
            cookie: 7,
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

    fn reason(s: &Sock, t: u64) -> Option<Reason> {
        judge_sock(s, t, 1_000_000_000, None).reason
    }

    use TcpState::{CloseWait, Established, Listen, SynSent};

    #[test]
    fn classification() {
        let t = 60_000;
        let idle = info(70_000, 70_000);
        let s = |timer, sq, rq, i| sock(Established, timer, sq, rq, i);
        assert_eq!(
            reason(&s(Timer::None, 0, 0, Some(idle)), t),
            Some(Reason::Idle)
        );
        // #8: an armed keepalive timer proves nothing (kernel defaults: the first probe after
        // 2 h): idle; credited only when a probe was answered (an ACK after the last data)
        assert_eq!(
            reason(&s(Timer::Keepalive, 0, 0, Some(idle)), t),
            Some(Reason::Idle)
        );
        let answered = TcpInfo {
            last_ack_recv_ms: Some(2_000),
            ..idle
        };
        assert_eq!(
            reason(&s(Timer::Keepalive, 0, 0, Some(answered)), t),
            Some(Reason::KeepaliveIdle)
        );
        assert_eq!(
            reason(&s(Timer::None, 0, 0, Some(answered)), t),
            Some(Reason::Idle)
        );
        let probing = TcpInfo { probes: 2, ..idle };
        assert_eq!(
            reason(&s(Timer::Keepalive, 0, 0, Some(probing)), t),
            Some(Reason::KeepaliveProbing)
        );
        let retr = TcpInfo {
            retransmits: 4,
            ..idle
        };
        assert_eq!(
            reason(&s(Timer::Retransmit, 100, 0, Some(retr)), t),
            Some(Reason::Retransmitting)
        );
        assert_eq!(
            reason(&s(Timer::Probe, 5000, 0, Some(idle)), t),
            Some(Reason::ZeroWindow)
        );
        assert_eq!(
            reason(&s(Timer::None, 0, 10, Some(idle)), t),
            Some(Reason::Unread)
        );
        assert_eq!(
            reason(&sock(CloseWait, Timer::None, 0, 0, Some(idle)), t),
            Some(Reason::CloseWait)
        );
        // busy: data a moment ago, or in flight without retransmissions
        let busy = info(10, 20);
        assert_eq!(reason(&s(Timer::None, 0, 0, Some(busy)), t), None);
        assert_eq!(reason(&s(Timer::Retransmit, 500, 0, Some(busy)), t), None);
        assert_eq!(reason(&s(Timer::None, 0, 10, Some(busy)), t), None);
        assert_eq!(reason(&sock(Listen, Timer::None, 0, 0, None), t), None);
        // procfs: no idle time; only what states and retransmit counts prove
        assert_eq!(
            reason(&sock(CloseWait, Timer::None, 0, 0, None), t),
            Some(Reason::CloseWait)
        );
        assert_eq!(reason(&s(Timer::None, 0, 0, None), t), None);
        let mut r = s(Timer::Retransmit, 100, 0, None);
        r.retrans = 3; // at least 0.2 + 0.4 + 0.8 s
        assert_eq!(reason(&r, 1_400), Some(Reason::Retransmitting));
        assert_eq!(reason(&r, 1_500), None);
        // a persist timer in a procfs capture: how long is unknown, so not judged
        assert_eq!(reason(&s(Timer::Probe, 5000, 0, None), 1), None);
    }

    /// #11: a label means the condition lasted --idle. A busy stream to a slow reader (the
    /// persist timer caught between window updates) and a lossy upload (a retransmission in
    /// flight, ACKs still coming) are not stale at a long --idle.
    #[test]
    fn one_audit_catching_a_timer_is_not_stale() {
        let t = 300_000;
        let slow_reader = sock(
            Established,
            Timer::Probe,
            65536,
            0,
            Some(TcpInfo {
                backoff: 1,
                ..info(40, 10)
            }),
        );
        assert_eq!(reason(&slow_reader, t), None);
        let lossy = sock(
            Established,
            Timer::Retransmit,
            65536,
            0,
            Some(TcpInfo {
                retransmits: 1,
                ..info(5, 5)
            }),
        );
        assert_eq!(reason(&lossy, t), None);
        let probing = sock(
            Established,
            Timer::Keepalive,
            0,
            0,
            Some(TcpInfo {
                probes: 1,
                ..info(400_000, 400_000)
            }),
        );
        let mut answered = probing.clone();
        answered.info = Some(Box::new(TcpInfo {
            last_ack_recv_ms: Some(2_000),
            ..**probing.info.as_ref().unwrap()
        }));
        assert_eq!(reason(&probing, t), Some(Reason::KeepaliveProbing));
        assert_eq!(reason(&answered, t), None);
        // a zero window that lasted: no new data sent for --idle
        let stuck = sock(Established, Timer::Probe, 65536, 0, Some(info(310_000, 10)));
        assert_eq!(reason(&stuck, t), Some(Reason::ZeroWindow));
    }

    #[test]
    fn handshakes_age_from_the_state_file_and_the_syn_backoff() {
        let now = 1_000_000_000;
        let mut s = sock(SynSent, Timer::Retransmit, 0, 0, None);
        // first sight, no retransmission yet: 0 s old, remembered from now
        let v = judge_sock(&s, 5_000, now, None);
        assert_eq!((v.reason, v.since_ms), (None, Some(now)));
        // seen 40 s ago
        let v = judge_sock(&s, 5_000, now, Some(now - 40_000));
        assert_eq!(
            (v.reason, v.lasted_ms),
            (Some(Reason::Connecting), Some(40_000))
        );
        // 5 SYN retransmissions (procfs: backoff unknown): at least 5 x 1 s, at first sight
        s.retrans = 5;
        let v = judge_sock(&s, 5_000, now, None);
        assert_eq!(
            (v.reason, v.lasted_ms),
            (Some(Reason::Connecting), Some(5_000))
        );
        // the state file's start wins when it has one (the bound it stored at first sight)
        let v = judge_sock(&s, 5_000, now, Some(now - 3_000));
        assert_eq!((v.reason, v.lasted_ms), (None, Some(3_000)));
        let mut r = sock(TcpState::NewSynRecv, Timer::None, 0, 0, None);
        r.inode = 0;
        assert_eq!(
            judge_sock(&r, 1_000, now, Some(now - 2_000)).reason,
            Some(Reason::HalfOpen)
        );
    }

    /// F5 (issue #11): `ss -ti` showed `backoff:2 retrans:1/6` on a ~7 s old SYN_SENT socket
    /// (kernel 6.18, tcp_syn_linear_timeouts = 4); the old estimate said 63 s.
    #[test]
    fn syn_age_follows_the_kernels_schedule_never_more() {
        // linear SYN timeouts: 1,1,1,1,1 then 2 s
        assert_eq!(syn_schedule_ms(6, Some(2)), 7_000);
        assert_eq!(syn_schedule_ms(4, Some(0)), 4_000);
        // older kernels: every timeout doubles: 1+2+4+8+16 = 31 s
        assert_eq!(syn_schedule_ms(5, Some(5)), 31_000);
        assert_eq!(syn_schedule_ms(0, Some(0)), 0);
        // TCP_RTO_MAX caps each timeout; absurd counts never overflow
        assert_eq!(syn_schedule_ms(9, Some(9)), 367_000); // 1+2+4+...+64+120+120
        assert!(syn_schedule_ms(255, Some(255)) < u64::MAX);
        let now = 1_000_000_000;
        let mut s = sock(SynSent, Timer::Retransmit, 0, 0, None);
        s.info = Some(Box::new(TcpInfo {
            retransmits: 6,
            backoff: 2,
            ..TcpInfo::default()
        }));
        s.retrans = 6;
        let v = judge_sock(&s, 2_000, now, None);
        assert_eq!(v.lasted_ms, Some(7_000));
    }

    /// #7: SYN-ACK retransmissions back off exponentially: after 1, 2, 3, 4, 5 of them the
    /// request is at least 1, 3, 7, 15, 31 s old (it was judged 1 s a retransmission).
    #[test]
    fn syn_recv_ages_follow_the_synack_backoff() {
        let now = 1_000_000_000;
        let mut r = sock(TcpState::NewSynRecv, Timer::Retransmit, 0, 0, None);
        r.inode = 0;
        for (n, age) in [(1, 1_000), (2, 3_000), (3, 7_000), (4, 15_000), (5, 31_000)] {
            r.retrans = n;
            assert_eq!(
                judge_sock(&r, 60_000, now, None).lasted_ms,
                Some(age),
                "{n}"
            );
        }
        // the time left to the next SYN-ACK gives the exact age: 5 sent, the 6th (or the
        // drop) at 63 s, 2 s from now: 61 s old, stale at the default --idle
        r.expires_ms = Some(2_000);
        let v = judge_sock(&r, 60_000, now, None);
        assert_eq!(
            (v.reason, v.lasted_ms),
            (Some(Reason::HalfOpen), Some(61_000))
        );
        r.expires_ms = None;
        // remembered from a run 40 s ago, with 5 retransmissions seen: 71 s > --idle 60 s
        r.retrans = 5;
        let v = judge_sock(&r, 60_000, now, Some(now - 71_000));
        assert_eq!(v.reason, Some(Reason::HalfOpen));
        // SYN_SENT in a procfs capture keeps the least bound (linear timeouts, kernel 6.5+)
        let mut s = sock(SynSent, Timer::Retransmit, 0, 0, None);
        s.retrans = 4;
        assert_eq!(judge_sock(&s, 60_000, now, None).lasted_ms, Some(4_000));
    }

    /// The evidence a cause needs, per socket.
    #[test]
    fn evidence_of_unanswered_requests() {
        let t = 60_000;
        let mk = |sent, recv, unacked, dir| {
            let mut i = info(sent, recv);
            i.unacked = Some(unacked);
            let s = sock(Established, Timer::None, 0, 0, Some(i));
            evidence_of(&s, Reason::Idle, dir)
        };
        // outbound: request sent 68 s ago, nothing received since (answered 90 s ago)
        assert!(mk(68_000, 90_000, 0, Direction::Outbound).unanswered);
        // a pooled server connection: query sent, result received after: answered
        assert!(!mk(90_000, 89_990, 0, Direction::Outbound).blocks());
        assert!(!mk(90_000, 90_000, 0, Direction::Outbound).blocks());
        assert!(mk(90_000, 90_000, 1, Direction::Outbound).unacked);
        // inbound: a request received after the last answer sent
        assert!(mk(90_000, 68_000, 0, Direction::Inbound).unanswered);
        assert!(!mk(68_000, 90_000, 0, Direction::Inbound).blocks());
        let _ = t;
    }

    #[test]
    fn a_process_half_closed_in_fin_wait2_is_waiting() {
        let now = 1 << 40;
        let s = sock(
            TcpState::FinWait2,
            Timer::None,
            0,
            0,
            Some(info(70_000, 70_000)),
        );
        assert_eq!(reason(&s, 60_000), Some(Reason::HalfClosed));
        let mut orphan = s.clone();
        orphan.inode = 0;
        let j = judge(vec![orphan], &Options::default(), now, &Memory::new());
        assert_eq!((j.counts.connections, j.stale.len()), (0, 0));
    }

    #[test]
    fn idle_survives_the_u32_wrap() {
        let day = 86_400_000u64;
        assert_eq!(
            reconcile_idle(None, 100 * day, 70_000),
            (70_000, 100 * day - 70_000)
        );
        let since = 100 * day - 70_000;
        let now = 160 * day;
        let reported = (now - since) % (1 << 32);
        assert_eq!(
            reconcile_idle(Some(since), now, reported),
            (now - since, since)
        );
        assert_eq!(
            reconcile_idle(Some(since), now, 1_000),
            (1_000, now - 1_000)
        );
    }

    fn at(mut s: Sock, local: &str, remote: &str) -> Sock {
        s.local = local.parse().unwrap();
        s.remote = remote.parse().unwrap();
        s
    }

    /// #11: direction comes from the listening table, not from port numbers: a client whose
    /// source port equals a port listened on at another address is outbound.
    #[test]
    fn direction_from_the_listening_table() {
        let l = |a: &str, inode| {
            let mut s = at(sock(Listen, Timer::None, 0, 0, None), a, "0.0.0.0:0");
            s.inode = inode;
            s
        };
        let ls = [
            l("127.0.0.2:8080", 1),
            l("[::]:9090", 2),
            l("0.0.0.0:7070", 3),
        ];
        let t = Listeners::from_socks(&ls);
        assert_eq!(t.listener_of("127.0.0.2:8080".parse().unwrap()), Some(1));
        assert_eq!(
            t.direction("127.0.0.1:8080".parse().unwrap()),
            Direction::Outbound
        );
        assert_eq!(t.listener_of("10.0.0.1:9090".parse().unwrap()), Some(2));
        assert_eq!(t.listener_of("[::1]:9090".parse().unwrap()), Some(2));
        assert_eq!(t.listener_of("10.0.0.1:7070".parse().unwrap()), Some(3));
        assert_eq!(
            t.direction("[::1]:7070".parse().unwrap()),
            Direction::Outbound
        );
        // --port: the listening port of inbound, the remote port of outbound, never the
        // ephemeral side
        let idle = Some(info(90_000, 90_000));
        let inbound = at(
            sock(Established, Timer::None, 0, 0, idle),
            "127.0.0.2:8080",
            "127.0.0.1:50000",
        );
        let client = at(
            sock(Established, Timer::None, 0, 0, idle),
            "127.0.0.1:8080",
            "127.0.0.3:443",
        );
        let mut all: Vec<Sock> = ls.to_vec();
        all.extend([inbound.clone(), client.clone()]);
        let opts = |port| Options {
            idle_ms: 60_000,
            ports: PortFilter {
                port: Some(port),
                ..Default::default()
            },
            ..Default::default()
        };
        let j = judge(all.clone(), &opts(8080), 1 << 40, &Memory::new());
        assert_eq!(j.stale.len(), 1);
        assert_eq!(
            (j.stale[0].direction, j.stale[0].sock.local),
            (Direction::Inbound, inbound.local)
        );
        let j = judge(all.clone(), &opts(443), 1 << 40, &Memory::new());
        assert_eq!(
            (j.stale.len(), j.stale[0].direction),
            (1, Direction::Outbound)
        );
        assert_eq!(j.counts.connections, 1);
        assert!(judge(all.clone(), &opts(50000), 1 << 40, &Memory::new())
            .stale
            .is_empty());
        // ss's sport: the local port, whatever the direction
        let sport = Options {
            idle_ms: 60_000,
            ports: PortFilter {
                sport: Some(8080),
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(judge(all, &sport, 1 << 40, &Memory::new()).stale.len(), 2);
    }

    #[test]
    fn memory_keeps_other_filters_entries_and_drops_gone_sockets() {
        let a = at(
            sock(Established, Timer::None, 0, 0, Some(info(90_000, 90_000))),
            "127.0.0.1:1",
            "127.0.0.1:80",
        );
        let mut b = at(
            sock(Established, Timer::None, 0, 0, Some(info(90_000, 90_000))),
            "127.0.0.1:2",
            "127.0.0.1:81",
        );
        b.cookie = 8;
        let now = 1 << 40;
        let mut old = Memory::new();
        old.insert(
            SockKey {
                inode: 1,
                cookie: 8,
            },
            now - 95_000,
        );
        old.insert(
            SockKey {
                inode: 99,
                cookie: 99,
            },
            5,
        );
        let opts = Options {
            idle_ms: 60_000,
            ports: PortFilter {
                port: Some(80),
                ..Default::default()
            },
            ..Default::default()
        };
        let j = judge(vec![a, b], &opts, now, &old);
        assert_eq!(j.memory.len(), 2);
        assert_eq!(
            j.memory[&SockKey {
                inode: 1,
                cookie: 7
            }],
            now - 90_000
        );
        assert_eq!(
            j.memory[&SockKey {
                inode: 1,
                cookie: 8
            }],
            now - 95_000
        );
    }

    /// procfs has every state: TIME_WAIT and FIN_WAIT sockets are scanned, not connections.
    #[test]
    fn only_judged_states_are_connections() {
        let socks = vec![
            sock(TcpState::TimeWait, Timer::TimeWait, 0, 0, None),
            {
                let mut orphan = sock(TcpState::FinWait2, Timer::None, 0, 0, None);
                orphan.inode = 0;
                orphan
            },
            sock(CloseWait, Timer::None, 0, 0, None),
            sock(SynSent, Timer::Retransmit, 0, 0, None),
        ];
        let j = judge(socks, &Options::default(), 1 << 40, &Memory::new());
        let want = Counts {
            scanned: 4,
            connections: 2,
            close_wait: 1,
            syn_sent: 1,
            ..Counts::default()
        };
        assert_eq!(j.counts, want);
    }

    #[test]
    fn pids_stay_sorted_and_unique() {
        let mut p = Pids::default();
        assert!(p.is_empty());
        p.add(7);
        assert_eq!(p, Pids::One(7));
        p.add(3);
        p.add(7);
        assert_eq!(&p[..], &[3, 7]);
        assert_eq!(Pids::from(vec![]), Pids::None);
    }

    #[test]
    fn by_reason_lists_every_reason_in_the_severity_order() {
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i, "{r:?}");
        }
        let mut all = Reason::ALL.to_vec();
        all.sort();
        assert_eq!(all, Reason::ALL);
        assert_eq!(by_reason(&[]), Tally::default());
    }
}
