//! conn-audit's groups and verdicts, typed: stale sockets grouped by peer and process, the
//! evidence each group carries (requests unanswered, data unacknowledged, retransmissions,
//! SYN retries, keepalive probes unanswered), the causes that evidence proves (a process is
//! blocked on a peer only when its own requests to it go unanswered, never when the other
//! end is the same process), the clients waiting on (or gone from) blocked processes, the
//! accept queue of a listener that does not accept, and the ranking by what an operator must
//! fix first. Words are the renderer's. Pure.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};

use serde::Serialize;

use crate::conn_audit::judge::{
    by_reason, Counts, Direction, Owners, Reason, Source, Stale, Tally,
};
use crate::conn_audit::model::tcp::TcpState;

/// What a group is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Kind {
    /// Connections of one process to one peer, or from the clients of one listening port.
    Connections,
    /// Handshakes that never finish (SYN_SENT, SYN_RECV).
    Handshakes,
    /// Connections the kernel completed that no process has accepted.
    AcceptQueue,
}

/// What an operator must fix first: the ranking of every output (table, Nagios, munin,
/// Prometheus, JSON), in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Class {
    /// A dead or silent peer: requests to it go unanswered, processes are blocked on it.
    SilentPeer,
    /// A local listener that does not accept.
    AcceptQueue,
    /// Connects that never complete (the peer drops SYNs).
    StuckConnect,
    /// Clients of processes blocked by one of the above.
    Symptom,
    /// Everything else.
    Other,
}

/// A group's place in the story.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Role {
    /// Its processes' requests to this peer go unanswered: they are blocked on it.
    Cause,
    /// Clients of processes blocked on a cause.
    Symptom,
    /// Neither.
    Alone,
}

/// A group's identity: the same across `--watch` reports, and one label set in Prometheus.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct GroupKey {
    /// The network namespace (an index into the report's `namespaces`).
    pub(crate) netns: u32,
    pub(crate) kind: Kind,
    pub(crate) direction: Direction,
    /// Outbound: the peer. Inbound and accept queues: `None` (clients are grouped by the
    /// listening port, whatever their addresses).
    pub(crate) remote: Option<IpAddr>,
    /// Outbound: the remote port; inbound: the local (listening) port.
    pub(crate) port: u16,
    pub(crate) process: Option<String>,
}

/// What the sockets of a group prove, counted in sockets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Evidence {
    /// Sockets whose last request has no answer (outbound: data sent after the last data
    /// received; inbound: a request received after the last answer, or unread).
    pub(crate) unanswered_requests: usize,
    /// Sockets with data sent and not acknowledged.
    pub(crate) unacked: usize,
    /// Sockets retransmitting for --idle.
    pub(crate) retransmits: usize,
    /// Sockets in SYN_SENT for --idle (SYNs retransmitted, no answer).
    pub(crate) syn_retries: usize,
    /// Sockets whose keepalive probes go unanswered.
    pub(crate) keepalive_unanswered: usize,
    /// Sockets with at least one of the above: the peer does not answer them.
    pub(crate) blocked: usize,
    /// Sockets whose requests were all answered (a healthy pool or keep-alive).
    pub(crate) answered: usize,
    /// Sockets whose other end is held by the same process (never evidence of a cause).
    pub(crate) self_loop: usize,
    /// Inbound CLOSE_WAIT sockets whose local client half-closed (FIN_WAIT2) and still
    /// waits for the answer: not gone, not an fd leak.
    pub(crate) half_closed_clients: usize,
    /// The age of the oldest blocked socket.
    pub(crate) oldest_ms: Option<u64>,
}

impl Evidence {
    fn add(&mut self, s: &Stale, peer: Peer) {
        let e = s.evidence;
        if peer.client_waits && s.direction == Direction::Inbound {
            self.half_closed_clients += 1;
        }
        if peer.self_loop {
            self.self_loop += 1;
            return;
        }
        self.unanswered_requests += usize::from(e.unanswered);
        self.unacked += usize::from(e.unacked);
        self.retransmits += usize::from(e.retransmitting);
        self.syn_retries += usize::from(e.syn_retries);
        self.keepalive_unanswered += usize::from(e.keepalive_unanswered);
        if e.blocks() {
            self.blocked += 1;
            self.oldest_ms = self.oldest_ms.max(s.idle_ms);
        } else if e.answered {
            self.answered += 1;
        }
    }

    /// The peer is gone, not merely slow: retransmissions or keepalive probes unanswered.
    pub(crate) fn peer_gone(&self) -> bool {
        self.retransmits + self.keepalive_unanswered > 0
    }
}

/// The clients of a cause's processes, by what they do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Clients {
    /// Their connection is open (or half-closed by them: FIN_WAIT2), their request
    /// unanswered.
    pub(crate) waiting: usize,
    /// They closed (the server's socket is in CLOSE_WAIT) with their request unanswered.
    pub(crate) gave_up: usize,
}

impl Clients {
    pub(crate) fn total(&self) -> usize {
        self.waiting + self.gave_up
    }
}

/// A listener's accept queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct Queue {
    /// Connections waiting to be accepted (ss's Recv-Q on the LISTEN socket).
    pub(crate) queued: u32,
    /// The listen() backlog (ss's Send-Q).
    pub(crate) backlog: u32,
    /// The kernel drops new SYNs: more queued than the backlog.
    pub(crate) full: bool,
}

fn display<T: std::fmt::Display, S: serde::Serializer>(
    v: &Option<T>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}

fn nonzero<S: serde::Serializer>(t: &Tally, s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(t.present().map(|(r, n)| (r.label(), n)))
}

/// Stale sockets grouped by remote endpoint and process (outbound), or by listening port and
/// process (inbound).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Group {
    /// 1 = fix first: the order of every output.
    pub(crate) rank: usize,
    /// The network namespace (an index into the report's `namespaces`; JSON gives its name).
    #[serde(skip)]
    pub(crate) netns: u32,
    pub(crate) class: Class,
    pub(crate) kind: Kind,
    pub(crate) direction: Direction,
    /// Outbound: the peer's address. Inbound: the client's address when there is one only.
    #[serde(serialize_with = "display")]
    pub(crate) remote: Option<IpAddr>,
    /// The interface of a link-local remote address (its `%scope`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) scope_id: Option<u32>,
    /// The remote port (outbound groups).
    pub(crate) port: Option<u16>,
    /// The local listening port (inbound and accept-queue groups).
    pub(crate) local_port: Option<u16>,
    /// Inbound: how many client addresses the group's sockets come from.
    pub(crate) client_addrs: usize,
    pub(crate) name: Option<String>,
    pub(crate) process: Option<String>,
    /// The processes (workers), by pid; `processes` is their number, `count` the sockets.
    pub(crate) pids: Vec<u32>,
    pub(crate) processes: usize,
    pub(crate) count: usize,
    pub(crate) max_idle_s: Option<f64>,
    #[serde(serialize_with = "nonzero")]
    pub(crate) reasons: Tally,
    /// The strongest reason present (the declaration order of [`Reason`]).
    pub(crate) reason: Reason,
    pub(crate) role: Role,
    pub(crate) evidence: Evidence,
    /// Causes: their processes' clients with requests unanswered.
    pub(crate) clients: Clients,
    /// Symptoms: the rank of the cause most of their sockets wait on.
    pub(crate) cause_rank: Option<usize>,
    /// Symptoms: their sockets, by what the clients do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) symptoms: Option<Clients>,
    /// Accept-queue groups: the listener's queue.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) queue: Option<Queue>,
    /// No owner could be found (run as root to name the process).
    pub(crate) owner_unknown: bool,
    /// Outside `--port`/`--peer`: a cause, shown because reported groups wait on it (its
    /// sockets are not counted).
    pub(crate) outside_filters: bool,
    #[serde(skip)]
    pub(crate) key: GroupKey,
    #[serde(skip)]
    cause_index: Option<usize>,
}

/// Whether an endpoint is shown with its reverse-DNS name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Naming {
    /// `crl.example:80 (2001:db8::100)`, for people.
    WithName,
    /// `[2001:db8::100]:80`: stable, for munin field names.
    AddressOnly,
}

impl Group {
    /// The address with its `%scope` (link-local).
    pub(crate) fn addr(&self) -> Option<String> {
        let ip = self.remote?;
        Some(match (ip, self.scope_id) {
            (IpAddr::V6(v6), Some(scope)) => format!("{v6}%{scope}"),
            _ => ip.to_string(),
        })
    }

    /// The remote end: `crl.example:80 (2001:db8::100)`, `192.0.2.7:443`; inbound
    /// `192.0.2.7 -> :8080` (one client address), `40 clients -> :8080`; an accept queue
    /// `* -> :8080`.
    pub(crate) fn endpoint(&self, naming: Naming) -> String {
        let name = self.name.as_ref().filter(|_| naming == Naming::WithName);
        match (self.direction, self.port, self.addr()) {
            (Direction::Outbound, Some(p), Some(a)) => match (name, self.remote) {
                (Some(n), _) => format!("{n}:{p} ({a})"),
                (None, Some(IpAddr::V6(_))) => format!("[{a}]:{p}"),
                (None, _) => format!("{a}:{p}"),
            },
            _ => {
                let lp = self
                    .local_port
                    .map_or_else(|| "?".into(), |p| p.to_string());
                match (self.kind, naming, self.addr(), name) {
                    (Kind::AcceptQueue, _, _, _) | (_, Naming::AddressOnly, _, _) => {
                        format!("* -> :{lp}")
                    }
                    (_, _, Some(a), Some(n)) => format!("{n} ({a}) -> :{lp}"),
                    (_, _, Some(a), None) => format!("{a} -> :{lp}"),
                    _ => format!("{} clients -> :{lp}", self.client_addrs),
                }
            }
        }
    }

    /// The munin field key: the endpoint and direction only, never the owner (which an
    /// unprivileged run cannot see): the same field whoever runs the plugin.
    pub(crate) fn field_key(&self) -> String {
        format!(
            "{:?} {}",
            self.direction,
            self.endpoint(Naming::AddressOnly)
        )
        .to_lowercase()
    }

    /// Impact, for ranking within a class: processes blocked, sockets involved, age.
    fn impact(&self) -> (usize, usize, u64) {
        let age = self.max_idle_s.map_or(0, |s| (s * 1000.0) as u64);
        (self.processes, self.count + self.clients.total(), age)
    }

    pub(crate) fn age_ms(&self) -> u64 {
        self.max_idle_s.map_or(0, |s| (s * 1000.0) as u64)
    }
}

/// Seconds for people: `0.5`, `1`, `60`.
pub(crate) fn fmt_secs(ms: u64) -> String {
    format!("{}", ms as f64 / 1000.0)
}

/// A socket's group key, without its process.
fn key_of_parts(s: &Stale) -> (Kind, Direction, Option<IpAddr>, u16) {
    if s.in_accept_queue() {
        return (
            Kind::AcceptQueue,
            Direction::Inbound,
            None,
            s.sock.local.port(),
        );
    }
    let kind = match s.reason {
        Reason::Connecting | Reason::HalfOpen => Kind::Handshakes,
        _ => Kind::Connections,
    };
    match s.direction {
        Direction::Inbound => (kind, s.direction, None, s.sock.local.port()),
        Direction::Outbound => (
            kind,
            s.direction,
            Some(s.sock.remote.ip()),
            s.sock.remote.port(),
        ),
    }
}

fn key_of(s: &Stale) -> GroupKey {
    let (kind, direction, remote, port) = key_of_parts(s);
    GroupKey {
        netns: s.netns,
        kind,
        direction,
        remote,
        port,
        process: s
            .process
            .as_deref()
            .map(str::to_string)
            .filter(|_| kind != Kind::AcceptQueue),
    }
}

/// What the group learns of each member beyond its own socket.
#[derive(Debug, Clone, Copy, Default)]
struct Peer {
    /// The other end is held by the same process.
    self_loop: bool,
    /// The other end is a local client that half-closed and still waits (FIN_WAIT2).
    client_waits: bool,
}

/// Whether a socket's local peer matters: an outbound one that could be a cause (the self
/// loop rule), an inbound CLOSE_WAIT with its request unanswered (a half-closed client).
fn wants_peer(s: &Stale) -> bool {
    match s.direction {
        Direction::Outbound => {
            s.evidence.blocks() || matches!(s.reason, Reason::Idle | Reason::KeepaliveIdle)
        }
        Direction::Inbound => s.sock.state == TcpState::CloseWait && s.evidence.unanswered,
    }
}

/// Each socket's local peer, when both ends are on this host (looked up for the sockets
/// whose peer matters only: the index is as small as they are).
fn peers(all: &[&Stale]) -> Vec<Peer> {
    let mut out = vec![Peer::default(); all.len()];
    let wanted: HashMap<(SocketAddr, SocketAddr), u32> = all
        .iter()
        .enumerate()
        .filter(|(_, s)| wants_peer(s))
        .map(|(i, s)| ((s.sock.remote, s.sock.local), i as u32))
        .collect();
    if wanted.is_empty() {
        return out;
    }
    for o in all {
        if let Some(&i) = wanted.get(&(o.sock.local, o.sock.remote)) {
            let s = all[i as usize];
            out[i as usize] = Peer {
                self_loop: !s.pids.is_empty() && s.pids.iter().any(|p| o.pids.contains(p)),
                client_waits: o.sock.state == TcpState::FinWait2,
            };
        }
    }
    out
}

/// One group's members (indices into the sockets), before its verdict.
struct Acc<'a> {
    key: GroupKey,
    members: &'a [u32],
    outside: bool,
}

/// A socket's group key, borrowed (for sorting without allocating).
type KeyRef<'a> = (Kind, Direction, Option<IpAddr>, u16, Option<&'a str>);

fn key_ref(s: &Stale) -> KeyRef<'_> {
    let k = key_of_parts(s);
    (
        k.0,
        k.1,
        k.2,
        k.3,
        s.process.as_deref().filter(|_| !s.in_accept_queue()),
    )
}

/// The sockets sorted by group (inside the filters first): each run of equal keys is a
/// group. Sorting an index keeps memory at 4 bytes a socket, whatever the number of groups.
fn sorted(all: &[&Stale], inside: usize) -> Vec<u32> {
    let mut order: Vec<u32> = (0..all.len() as u32).collect();
    order.sort_by(|a, b| {
        let (a, b) = (*a as usize, *b as usize);
        (a >= inside, key_ref(all[a])).cmp(&(b >= inside, key_ref(all[b])))
    });
    order
}

/// The runs of equal keys in `order`.
fn runs<'a>(all: &[&Stale], order: &'a [u32], inside: usize) -> impl Iterator<Item = Acc<'a>> + 'a {
    let mut bounds = Vec::new();
    let mut start = 0;
    for i in 1..=order.len() {
        let boundary = i == order.len() || {
            let (a, b) = (order[i - 1] as usize, order[i] as usize);
            (a >= inside, key_ref(all[a])) != (b >= inside, key_ref(all[b]))
        };
        if boundary {
            let first = order[start] as usize;
            bounds.push((start, i, key_of(all[first]), first >= inside));
            start = i;
        }
    }
    bounds.into_iter().map(move |(a, b, key, outside)| Acc {
        key,
        members: &order[a..b],
        outside,
    })
}

/// The listener's queue of an accept-queue group.
fn queue_of(listener: u64, queues: &[(u64, u32, u32)]) -> Option<Queue> {
    let (_, queued, backlog) = queues.iter().find(|q| q.0 == listener)?;
    Some(Queue {
        queued: *queued,
        backlog: *backlog,
        full: queued > backlog,
    })
}

struct Ctx<'a> {
    all: &'a [&'a Stale],
    peers: &'a [Peer],
    names: &'a BTreeMap<IpAddr, String>,
    owners: &'a Owners,
    queues: &'a [(u64, u32, u32)],
}

fn group_of(a: &Acc<'_>, cx: &Ctx<'_>) -> Group {
    let members: Vec<&Stale> = a.members.iter().map(|i| cx.all[*i as usize]).collect();
    let mut pids: Vec<u32> = members
        .iter()
        .flat_map(|s| s.pids.iter().copied())
        .collect();
    let mut process = a.key.process.clone();
    let before_accept = members.iter().all(|s| s.before_accept());
    let listener = members.iter().find_map(|s| s.listener).unwrap_or(0);
    if before_accept {
        // nobody owns a queued connection or a handshake: the listener's process does
        let (p, name) = cx.owners.of(listener);
        (pids, process) = (p.to_vec(), name.as_deref().map(str::to_string));
    }
    pids.sort_unstable();
    pids.dedup();
    let reasons = Tally::of(members.iter().copied());
    let reason = reasons
        .present()
        .map(|(r, _)| r)
        .next()
        .unwrap_or(Reason::Idle);
    let mut evidence = Evidence::default();
    let mut addrs: HashSet<IpAddr> = HashSet::new();
    for i in a.members {
        let i = *i as usize;
        evidence.add(cx.all[i], cx.peers[i]);
        addrs.insert(cx.all[i].sock.remote.ip());
    }
    let first = members[0].sock.remote;
    let (remote, scope_id) = match (a.key.kind, a.key.direction) {
        (Kind::AcceptQueue, _) => (None, None),
        (_, Direction::Inbound) if addrs.len() > 1 => (None, None),
        _ => (
            Some(first.ip()),
            match first {
                SocketAddr::V6(v6) if v6.scope_id() != 0 => Some(v6.scope_id()),
                _ => None,
            },
        ),
    };
    let (port, local_port) = match (a.key.kind, a.key.direction) {
        (Kind::AcceptQueue, _) | (_, Direction::Inbound) => (None, Some(a.key.port)),
        (_, Direction::Outbound) => (Some(a.key.port), None),
    };
    let kind = a.key.kind;
    let class = match (kind, a.key.direction) {
        (Kind::AcceptQueue, _) => Class::AcceptQueue,
        (Kind::Handshakes, Direction::Outbound) if evidence.blocked > 0 => Class::StuckConnect,
        (Kind::Connections, Direction::Outbound) if evidence.blocked > 0 => Class::SilentPeer,
        _ => Class::Other,
    };
    let role = match class {
        Class::SilentPeer | Class::StuckConnect => Role::Cause,
        _ => Role::Alone,
    };
    Group {
        rank: 0,
        netns: a.key.netns,
        class,
        kind,
        direction: a.key.direction,
        remote,
        scope_id,
        port,
        local_port,
        client_addrs: if a.key.direction == Direction::Inbound && kind != Kind::AcceptQueue {
            addrs.len()
        } else {
            0
        },
        name: remote.and_then(|ip| cx.names.get(&ip).cloned()),
        owner_unknown: process.is_none() && pids.is_empty(),
        processes: pids.len(),
        process,
        pids,
        count: members.len(),
        max_idle_s: members
            .iter()
            .filter_map(|s| s.idle_ms)
            .max()
            .map(|m| m as f64 / 1000.0),
        reasons,
        reason,
        role,
        evidence,
        clients: Clients::default(),
        cause_rank: None,
        symptoms: None,
        queue: (kind == Kind::AcceptQueue)
            .then(|| queue_of(listener, cx.queues))
            .flatten(),
        outside_filters: a.outside,
        key: a.key.clone(),
        cause_index: None,
    }
}

/// A client of a blocked process: an inbound connection whose request has no answer.
fn waits(s: &Stale) -> bool {
    s.direction == Direction::Inbound
        && !s.before_accept()
        && s.evidence.unanswered
        && matches!(
            s.reason,
            Reason::CloseWait | Reason::Idle | Reason::Unread | Reason::KeepaliveIdle
        )
}

/// The most groups a report holds: beyond them (ranked), only their number and sockets are
/// kept, whatever the input (a 430k-line capture of distinct peers stays small). The table,
/// munin and Prometheus show `--top` of them; JSON shows them all.
pub(crate) const MAX_GROUPS: usize = 10_000;

/// The groups beyond [`MAX_GROUPS`]: how many, and their sockets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Beyond {
    pub(crate) groups: usize,
    pub(crate) sockets: usize,
}

/// Link one inbound group's waiting clients to the causes holding their processes, socket
/// by socket (the highest-ranked cause when several hold a process).
fn correlate(g: &mut Group, a: &Acc<'_>, causes: &mut [Group], links: &Links, cx: &Ctx<'_>) {
    if g.direction != Direction::Inbound
        || g.kind != Kind::Connections
        || (links.by_pid.is_empty() && links.by_uid.is_empty())
    {
        return;
    }
    let mut tally: HashMap<usize, Clients> = HashMap::new();
    for m in a.members {
        let s = cx.all[*m as usize];
        if !waits(s) {
            continue;
        }
        let found = match s.pids.is_empty() {
            false => s
                .pids
                .iter()
                .filter_map(|p| links.by_pid.get(p))
                .flatten()
                .copied()
                .min_by_key(|c| (causes[*c].class, std::cmp::Reverse(causes[*c].impact()), *c)),
            true => links.unowned(s),
        };
        let Some(c) = found else {
            continue;
        };
        let gave_up = s.sock.state == TcpState::CloseWait && !cx.peers[*m as usize].client_waits;
        let t = tally.entry(c).or_default();
        if gave_up {
            t.gave_up += 1;
        } else {
            t.waiting += 1;
        }
    }
    let mut all = Clients::default();
    let mut best: Option<(usize, usize)> = None;
    for (c, t) in &tally {
        causes[*c].clients.waiting += t.waiting;
        causes[*c].clients.gave_up += t.gave_up;
        all.waiting += t.waiting;
        all.gave_up += t.gave_up;
        if best.is_none_or(|(n, b)| t.total() > n || (t.total() == n && *c < b)) {
            best = Some((t.total(), *c));
        }
    }
    if let Some((_, c)) = best {
        g.role = Role::Symptom;
        g.class = Class::Symptom;
        g.cause_index = Some(c);
        g.symptoms = Some(all);
    }
}

/// How clients are linked to causes: by the processes they share, or, when no owner is
/// known (an unprivileged run), by the same user's request forwarded: a cause's socket that
/// sent its unanswered request within [`FORWARD_MS`] after the client's request arrived.
#[derive(Default)]
struct Links {
    by_pid: HashMap<u32, Vec<usize>>,
    /// uid -> (ms since the cause's socket last sent, the cause, the socket's own local
    /// address), sorted.
    by_uid: HashMap<u32, Vec<(u32, usize, SocketAddr)>>,
    /// The (local, remote) of every ownerless cause's blocked socket: their far ends on
    /// this host are the upstream's, never clients of the blocked process.
    ends: HashSet<(SocketAddr, SocketAddr)>,
}

/// How soon after a client's request the process must have sent its own upstream.
const FORWARD_MS: u32 = 1_000;

impl Links {
    /// The cause an ownerless client waits on: a blocked socket of an ownerless cause, of
    /// the same user, whose request left at most FORWARD_MS after the client's arrived.
    fn unowned(&self, s: &Stale) -> Option<usize> {
        let arrived = s.recv_ago_ms?;
        if self.ends.contains(&(s.sock.remote, s.sock.local)) {
            return None;
        }
        let sent = self.by_uid.get(&s.sock.uid)?;
        let lo = arrived.saturating_sub(FORWARD_MS);
        let from = sent.partition_point(|(ago, _, _)| *ago < lo);
        sent[from..]
            .iter()
            .take_while(|(ago, _, _)| *ago <= arrived)
            // the other end of the cause's own socket (its peer on this host) is no client
            .filter(|(_, _, local)| *local != s.sock.remote)
            .map(|(_, c, _)| *c)
            .min()
    }
}

/// Keep the best `MAX_GROUPS` of `kept` (rank order), counting the rest in `beyond`.
fn trim(kept: &mut Vec<Group>, beyond: &mut Beyond) {
    kept.sort_by(rank_order);
    for g in kept.drain(MAX_GROUPS.min(kept.len())..) {
        beyond.groups += 1;
        beyond.sockets += g.count;
    }
}

/// Group stale sockets, find causes by their evidence, link the clients of blocked
/// processes to them, and rank, keeping at most [`MAX_GROUPS`] groups. `context` holds the
/// stale sockets outside the filters: an outbound group of them is reported only as the
/// cause of reported groups; an inbound one only counts in a reported cause's `clients`.
pub(crate) fn group(
    stale: &[Stale],
    context: &[Stale],
    names: &BTreeMap<IpAddr, String>,
    owners: &Owners,
    queues: &[(u64, u32, u32)],
) -> (Vec<Group>, Beyond) {
    let all: Vec<&Stale> = stale.iter().chain(context).collect();
    let peers = peers(&all);
    let cx = Ctx {
        all: &all,
        peers: &peers,
        names,
        owners,
        queues,
    };
    let order = sorted(&all, stale.len());
    // first the causes (outbound groups with evidence), whose processes' clients the
    // inbound groups are linked to
    let mut causes: Vec<Group> = Vec::new();
    let mut cause_runs: HashSet<usize> = HashSet::new();
    let mut links = Links::default();
    for (r, a) in runs(&all, &order, stale.len()).enumerate() {
        if a.key.direction == Direction::Outbound && a.key.kind != Kind::AcceptQueue {
            let g = group_of(&a, &cx);
            if g.role == Role::Cause {
                let c = causes.len();
                for p in g.pids.iter() {
                    links.by_pid.entry(*p).or_default().push(c);
                }
                if g.owner_unknown {
                    for m in a.members {
                        let s = cx.all[*m as usize];
                        if let (true, Some(ago)) = (s.evidence.unanswered, s.sent_ago_ms) {
                            links.by_uid.entry(s.sock.uid).or_default().push((
                                ago,
                                c,
                                s.sock.local,
                            ));
                            links.ends.insert((s.sock.local, s.sock.remote));
                        }
                    }
                }
                causes.push(g);
                cause_runs.insert(r);
            }
        }
    }
    for v in links.by_uid.values_mut() {
        v.sort_unstable();
    }
    // then every other group, kept within bounds; a cause outside the filters is shown only
    // when a reported group waits on it
    let mut kept: Vec<Group> = Vec::new();
    let mut beyond = Beyond::default();
    let mut cause_shown = vec![false; causes.len()];
    for (r, a) in runs(&all, &order, stale.len()).enumerate() {
        if cause_runs.contains(&r) || (a.outside && a.key.direction == Direction::Outbound) {
            continue;
        }
        let mut g = group_of(&a, &cx);
        correlate(&mut g, &a, &mut causes, &links, &cx);
        if a.outside {
            continue; // inbound context: counted in its causes' clients only
        }
        if let Some(c) = g.cause_index {
            cause_shown[c] = true;
        }
        kept.push(g);
        if kept.len() >= 2 * MAX_GROUPS {
            trim(&mut kept, &mut beyond);
        }
    }
    // the causes join the others (a symptom's `cause_index` is its cause's place among
    // them); a cause outside the filters is shown only when a reported group waits on it
    let base = kept.len();
    kept.extend(causes);
    let mut order: Vec<usize> = (0..kept.len())
        .filter(|i| *i < base || !kept[*i].outside_filters || cause_shown[*i - base])
        .collect();
    order.sort_by(|a, b| rank_order(&kept[*a], &kept[*b]));
    let mut rank = vec![0usize; kept.len()];
    for (r, i) in order.iter().enumerate() {
        rank[*i] = r + 1;
    }
    for g in &mut kept {
        g.cause_rank = match g.role {
            Role::Symptom => g.cause_index.map(|c| rank[base + c]),
            _ => None,
        };
        g.cause_index = None;
    }
    let mut slots: Vec<Option<Group>> = kept.into_iter().map(Some).collect();
    let mut out: Vec<Group> = Vec::with_capacity(order.len().min(MAX_GROUPS));
    for i in order {
        if let Some(mut g) = slots[i].take() {
            g.rank = rank[i];
            if out.len() < MAX_GROUPS {
                out.push(g);
            } else {
                beyond.groups += 1;
                beyond.sockets += g.count;
            }
        }
    }
    (out, beyond)
}

/// What to fix first: the class, then impact (processes, sockets, age), then a stable order.
fn rank_order(a: &Group, b: &Group) -> std::cmp::Ordering {
    a.class
        .cmp(&b.class)
        .then(b.impact().cmp(&a.impact()))
        .then_with(|| a.key.cmp(&b.key))
        .then_with(|| a.outside_filters.cmp(&b.outside_filters))
}

/// Stale sockets per process (owner name), largest first. Sockets no process holds yet (an
/// accept queue, a handshake) count for their listener's process, as in their group.
#[derive(Debug, Serialize, PartialEq)]
pub(crate) struct ByProcess {
    pub(crate) process: Option<String>,
    pub(crate) pids: Vec<u32>,
    /// Stale sockets.
    pub(crate) count: usize,
}

/// A stale socket's owner: its own, or its listener's before it is accepted.
fn owner_of<'a>(s: &'a Stale, owners: &'a Owners) -> (Vec<u32>, Option<String>) {
    if s.before_accept() && s.pids.is_empty() {
        let (pids, name) = owners.of(s.listener.unwrap_or(0));
        return (pids.to_vec(), name.as_deref().map(str::to_string));
    }
    (s.pids.to_vec(), s.process.as_deref().map(str::to_string))
}

fn by_process(stale: &[Stale], owners: &Owners) -> Vec<ByProcess> {
    let mut procs: BTreeMap<Option<String>, (HashSet<u32>, usize)> = BTreeMap::new();
    for s in stale {
        let (pids, process) = owner_of(s, owners);
        let e = procs.entry(process).or_default();
        e.0.extend(pids);
        e.1 += 1;
    }
    let mut v: Vec<ByProcess> = procs
        .into_iter()
        .map(|(process, (pids, count))| {
            let mut pids: Vec<u32> = pids.into_iter().collect();
            pids.sort_unstable();
            ByProcess {
                process,
                pids,
                count,
            }
        })
        .collect();
    v.sort_by_key(|p| std::cmp::Reverse(p.count));
    v
}
/// The stale sockets, serialized straight from the audit's records: no per-socket strings
/// are built (a busy server can have tens of thousands).
#[derive(Debug, Default)]
pub(crate) struct Sockets(pub(crate) Vec<Stale>);

/// An address serialized through its `Display` (`1.2.3.4:80`, `[2001:db8::1]:80`).
struct Addr(SocketAddr);

impl Serialize for Addr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

#[derive(Serialize)]
struct SockOut<'a> {
    netns: &'a str,
    local: Addr,
    remote: Addr,
    state: TcpState,
    direction: Direction,
    idle_s: Option<f64>,
    pid: Option<u32>,
    pids: &'a [u32],
    process: Option<&'a str>,
    reason: Reason,
    severity: u8,
    /// The socket's request has no answer (see [`Evidence`]).
    unanswered: bool,
    unacked: bool,
    inode: u64,
    cookie: u64,
    send_q: u32,
    recv_q: u32,
    timer: crate::conn_audit::model::tcp::Timer,
}

/// The stale sockets with the names of their namespaces, as JSON lists them.
pub(crate) struct SocketsOut<'a> {
    pub(crate) list: &'a [Stale],
    pub(crate) namespaces: &'a [String],
}

impl Serialize for SocketsOut<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let ns = |i: u32| self.namespaces.get(i as usize).map_or("", String::as_str);
        ser.collect_seq(self.list.iter().map(|s| SockOut {
            netns: ns(s.netns),
            local: Addr(s.sock.local),
            remote: Addr(s.sock.remote),
            state: s.sock.state,
            direction: s.direction,
            idle_s: s.idle_ms.map(|m| m as f64 / 1000.0),
            pid: s.pids.first().copied(),
            pids: &s.pids,
            process: s.process.as_deref(),
            reason: s.reason,
            severity: s.reason.severity(),
            unanswered: s.evidence.unanswered,
            unacked: s.evidence.unacked,
            inode: s.sock.inode,
            cookie: s.sock.cookie,
            send_q: s.sock.send_q,
            recv_q: s.sock.recv_q,
            timer: s.sock.timer,
        }))
    }
}

/// The whole audit, as every output format renders it.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    pub(crate) source: Source,
    /// The `--root` a capture was read from (`None`: the live system).
    pub(crate) root: Option<String>,
    /// This process's own namespace (`net:[4026531840]`).
    pub(crate) netns: Option<String>,
    /// The namespaces audited (`--netns`, `--all-netns`): each socket and group names its
    /// own; one entry, this process's own, otherwise.
    pub(crate) namespaces: Vec<String>,
    pub(crate) missing_fields: Vec<&'static str>,
    pub(crate) idle_threshold_s: f64,
    /// The states read: the netlink dump asks the kernel for these only; procfs has all.
    pub(crate) scanned_states: Vec<&'static str>,
    #[serde(flatten)]
    pub(crate) counts: Counts,
    pub(crate) stale: usize,
    /// Stale sockets no owner was found for (sockets not accepted yet count for their
    /// listener's process, as in their group and in `by_process`).
    pub(crate) unowned: usize,
    pub(crate) by_reason: Tally,
    /// Serialized with their words by the renderer's `json`.
    #[serde(skip)]
    pub(crate) groups: Vec<Group>,
    /// The groups beyond the [`MAX_GROUPS`] best ranked, summed.
    pub(crate) beyond: Beyond,
    pub(crate) by_process: Vec<ByProcess>,
    pub(crate) warnings: Vec<String>,
    /// Serialized with their namespaces by the renderer's `json`.
    #[serde(skip)]
    pub(crate) sockets: Sockets,
}

impl Report {
    /// The reported groups besides the first (the headline): causes outside the filters are
    /// context, not groups of this check, and are not counted.
    pub(crate) fn more_groups(&self) -> usize {
        self.groups
            .iter()
            .skip(1)
            .filter(|g| !g.outside_filters)
            .count()
    }
}

/// Where the sockets came from and what the run noticed on the way.
#[derive(Debug)]
pub(crate) struct Meta {
    pub(crate) source: Source,
    pub(crate) root: Option<String>,
    pub(crate) netns: Option<String>,
    pub(crate) namespaces: Vec<String>,
    pub(crate) scanned_states: Vec<&'static str>,
    pub(crate) warnings: Vec<String>,
    /// `--idle` in ms.
    pub(crate) idle_ms: u64,
}

/// The report from judged sockets whose owners are attached (see
/// [`crate::conn_audit::judge::attach_owners`]).
pub(crate) fn report(
    meta: Meta,
    stale: Vec<Stale>,
    context: &[Stale],
    counts: Counts,
    names: &BTreeMap<IpAddr, String>,
    owners: &Owners,
    queues: &[(u64, u32, u32)],
) -> Report {
    let idle_ms = meta.idle_ms;
    let mut warnings = meta.warnings;
    let unowned = stale
        .iter()
        .filter(|s| {
            let (pids, process) = owner_of(s, owners);
            pids.is_empty() && process.is_none()
        })
        .count();
    if unowned > 0 && owners.denied > 0 {
        warnings.push(format!(
            "{unowned} stale sockets have no known owner: {} processes' fds could not be read (run as root, or grant CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH; under munin-node: `user root` in plugin-conf.d)",
            owners.denied
        ));
    }
    let missing_fields = match meta.source {
        Source::Procfs => vec![
            "idle_s (last data sent/received)",
            "keepalive probes",
            "unacked",
            "how long a zero window has lasted (never judged)",
        ],
        Source::Netlink => Vec::new(),
    };
    let (groups, beyond) = group(&stale, context, names, owners, queues);
    Report {
        source: meta.source,
        root: meta.root,
        netns: meta.netns,
        namespaces: meta.namespaces,
        missing_fields,
        idle_threshold_s: idle_ms as f64 / 1000.0,
        scanned_states: meta.scanned_states,
        counts,
        stale: stale.len(),
        unowned,
        by_reason: by_reason(&stale),
        groups,
        beyond,
        by_process: by_process(&stale, owners),
        warnings,
        sockets: Sockets(stale),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::conn_audit::judge::Direction::{Inbound, Outbound};
    use crate::conn_audit::judge::SockEvidence;
    use crate::conn_audit::model::tcp::{Sock, Timer};

    /// A stale socket owned by `pid`; `unanswered` marks its request without an answer.
    #[allow(clippy::too_many_arguments)] // a test fixture: every field spelled out
    pub(crate) fn stale(
        local: &str,
        remote: &str,
        state: TcpState,
        reason: Reason,
        dir: Direction,
        pid: Option<(u32, &str)>,
        idle: u64,
        unanswered: bool,
    ) -> Stale {
        Stale {
            sock: Sock {
                local: local.parse().unwrap(),
                remote: remote.parse().unwrap(),
                state,
                send_q: 0,
                recv_q: 0,
                timer: Timer::None,
                retrans: 0,
                uid: 0,
                inode: 1,
                expires_ms: None,
                info: Some(Box::default()),
                cookie: 1,
            },
            netns: 0,
            sent_ago_ms: None,
            recv_ago_ms: None,
            reason,
            direction: dir,
            idle_ms: Some(idle),
            listener: None,
            pids: pid.map(|p| vec![p.0]).unwrap_or_default().into(),
            process: pid.map(|p| p.1.into()),
            evidence: SockEvidence {
                unanswered,
                syn_retries: reason == Reason::Connecting,
                retransmitting: reason == Reason::Retransmitting,
                ..SockEvidence::default()
            },
        }
    }

    fn grp(v: &[Stale]) -> Vec<Group> {
        group(v, &[], &BTreeMap::new(), &Owners::default(), &[]).0
    }

    /// The incident: `n` workers each blocked on the upstream (request unanswered) and
    /// serving one client that gave up (its request unanswered, CLOSE_WAIT).
    fn incident(n: u32, owned: bool) -> Vec<Stale> {
        let mut v = Vec::new();
        for i in 0..n {
            let pid = owned.then_some((1000 + i, "apache2"));
            v.push(stale(
                &format!("10.0.0.1:{}", 40000 + i),
                "10.0.0.100:80",
                TcpState::Established,
                Reason::Idle,
                Outbound,
                pid,
                68_000,
                true,
            ));
            v.push(stale(
                "10.0.0.1:443",
                &format!("10.0.0.{}:{}", 7 + i % 40, 50000 + i),
                TcpState::CloseWait,
                Reason::CloseWait,
                Inbound,
                pid,
                90_000,
                true,
            ));
        }
        v
    }

    /// #1, #3: blocked only with evidence; the clients that closed gave up, the others wait.
    #[test]
    fn the_cause_carries_its_evidence_and_its_clients() {
        let mut v = incident(4, true);
        v[1].sock.state = TcpState::Established;
        v[1].reason = Reason::Idle;
        let g = grp(&v);
        assert_eq!(g.len(), 2, "{g:#?}");
        let c = &g[0];
        assert_eq!(
            (c.rank, c.class, c.role),
            (1, Class::SilentPeer, Role::Cause)
        );
        assert_eq!(c.evidence.unanswered_requests, 4);
        assert_eq!(c.evidence.blocked, 4);
        assert_eq!(c.evidence.oldest_ms, Some(68_000));
        assert_eq!(
            c.clients,
            Clients {
                waiting: 1,
                gave_up: 3
            }
        );
        assert_eq!((c.processes, c.count), (4, 4));
        let s = &g[1];
        assert_eq!(
            (s.role, s.class, s.cause_rank),
            (Role::Symptom, Class::Symptom, Some(1))
        );
        assert_eq!(
            s.symptoms,
            Some(Clients {
                waiting: 1,
                gave_up: 3
            })
        );
        // 4 client addresses: one group on the listening port
        assert_eq!(
            (s.remote, s.client_addrs, s.local_port),
            (None, 4, Some(443))
        );
    }

    /// #1: a healthy pooler: idle server connections whose last query was answered, and
    /// persistent clients whose last request was answered: no cause, no symptom.
    #[test]
    fn a_healthy_pooler_is_no_cause() {
        let mut v = incident(5, true);
        for s in &mut v {
            s.evidence = SockEvidence::default();
            s.sock.state = TcpState::Established;
            s.reason = Reason::Idle;
        }
        let g = grp(&v);
        assert!(
            g.iter()
                .all(|g| g.role == Role::Alone && g.class == Class::Other),
            "{g:#?}"
        );
        assert_eq!(g.iter().map(|g| g.clients.total()).sum::<usize>(), 0);
        assert!(g.iter().any(|g| g.direction == Outbound));
    }

    /// #2: one process holding both ends of a loopback connection is never blocked on
    /// itself, whatever the evidence.
    #[test]
    fn a_self_loop_is_never_a_cause() {
        let a = stale(
            "127.0.0.1:40000",
            "127.0.0.1:9000",
            TcpState::Established,
            Reason::Idle,
            Outbound,
            Some((7, "loop")),
            70_000,
            true,
        );
        let b = stale(
            "127.0.0.1:9000",
            "127.0.0.1:40000",
            TcpState::Established,
            Reason::Idle,
            Inbound,
            Some((7, "loop")),
            70_000,
            true,
        );
        let g = grp(&[a.clone(), b.clone()]);
        assert!(g.iter().all(|g| g.role == Role::Alone), "{g:#?}");
        assert_eq!(
            g.iter()
                .find(|g| g.direction == Outbound)
                .unwrap()
                .evidence
                .self_loop,
            1
        );
        // another process at the other end: its request unanswered, a cause
        let mut b2 = b;
        b2.pids = vec![8].into();
        b2.process = Some("srv".into());
        let g = grp(&[a, b2]);
        assert_eq!(g[0].role, Role::Cause, "{g:#?}");
    }

    /// #4: idle and connecting workers on one upstream are two groups (two identities); each
    /// worker's client is credited to its own worker's group.
    #[test]
    fn idle_and_connecting_workers_on_one_upstream_stay_apart() {
        let mut v = incident(3, true);
        for i in 0..2u32 {
            let pid = Some((2000 + i, "apache2"));
            v.push(stale(
                &format!("10.0.0.1:{}", 41000 + i),
                "10.0.0.100:80",
                TcpState::SynSent,
                Reason::Connecting,
                Outbound,
                pid,
                65_000,
                false,
            ));
            v.push(stale(
                "10.0.0.1:443",
                &format!("10.0.0.99:{}", 51000 + i),
                TcpState::Established,
                Reason::Idle,
                Inbound,
                pid,
                65_000,
                true,
            ));
        }
        let g = grp(&v);
        let keys: HashSet<&GroupKey> = g.iter().map(|g| &g.key).collect();
        assert_eq!(keys.len(), g.len(), "{g:#?}");
        let idle = g.iter().find(|g| g.class == Class::SilentPeer).unwrap();
        let conn = g.iter().find(|g| g.class == Class::StuckConnect).unwrap();
        assert_eq!(
            idle.clients,
            Clients {
                waiting: 0,
                gave_up: 3
            }
        );
        assert_eq!(
            conn.clients,
            Clients {
                waiting: 2,
                gave_up: 0
            }
        );
        assert_eq!((idle.rank, conn.rank), (1, 2));
    }

    /// #5: without owners (an unprivileged run) the same cause, grouped by peer.
    #[test]
    fn without_owners_the_cause_is_the_same() {
        let root = grp(&incident(4, true));
        let nobody = grp(&incident(4, false));
        let lead = |g: &[Group]| {
            (
                g[0].class,
                g[0].remote,
                g[0].port,
                g[0].evidence.unanswered_requests,
                g[0].role,
            )
        };
        assert_eq!(lead(&root), lead(&nobody));
        assert!(nobody[0].owner_unknown);
        assert_eq!(nobody[0].processes, 0);
    }

    /// #5: without owners, a client is linked to the cause its request was forwarded to:
    /// the same user's blocked socket sent its request within a second after the client's
    /// arrived. Not when it was sent long after, nor by another user.
    #[test]
    fn without_owners_clients_link_by_the_forwarded_request() {
        let timed = |arrived: u32, uid: u32| {
            let mut v = incident(4, false);
            for s in &mut v {
                match s.direction {
                    Outbound => s.sent_ago_ms = Some(68_000),
                    Inbound => {
                        s.recv_ago_ms = Some(arrived);
                        s.sock.uid = uid;
                    }
                }
            }
            grp(&v)
        };
        let g = timed(68_004, 0);
        assert_eq!(g[0].role, Role::Cause, "{g:#?}");
        assert_eq!(
            g[0].clients,
            Clients {
                waiting: 0,
                gave_up: 4
            }
        );
        assert_eq!((g[1].role, g[1].cause_rank), (Role::Symptom, Some(1)));
        // the request arrived 12 s before the upstream one left: not what it waits on
        let g = timed(80_000, 0);
        assert_eq!(g[0].clients.total(), 0, "{g:#?}");
        assert_eq!(g[1].role, Role::Alone);
        // another user's process
        let g = timed(68_004, 33);
        assert_eq!(g[0].clients.total(), 0, "{g:#?}");
    }

    /// #6, ranking: a silent peer, then a full accept queue, then a stuck connect, then the
    /// rest, whatever their sizes.
    #[test]
    fn ranking_is_by_what_to_fix_first() {
        let mut v = Vec::new();
        for i in 0..9u32 {
            v.push(stale(
                &format!("127.0.0.1:{}", 30000 + i),
                "127.0.0.1:8080",
                TcpState::SynSent,
                Reason::Connecting,
                Outbound,
                Some((10 + i, "dialer")),
                70_000,
                false,
            ));
        }
        for i in 0..3u32 {
            let mut s = stale(
                "127.0.0.1:8080",
                &format!("127.0.0.1:{}", 50000 + i),
                TcpState::Established,
                Reason::Unread,
                Inbound,
                None,
                70_000,
                true,
            );
            s.sock.inode = 0;
            s.listener = Some(77);
            v.push(s);
        }
        for i in 0..20u32 {
            v.push(stale(
                &format!("10.0.0.1:{}", 20000 + i),
                "10.0.0.9:5432",
                TcpState::Established,
                Reason::Idle,
                Outbound,
                Some((100 + i, "idler")),
                900_000,
                false,
            ));
        }
        v.push(stale(
            "10.0.0.1:1",
            "10.0.0.50:80",
            TcpState::Established,
            Reason::Retransmitting,
            Outbound,
            Some((5, "one")),
            61_000,
            false,
        ));
        let mut owners = Owners::default();
        owners.by_inode.insert(77, vec![4242].into());
        owners.comm.insert(4242, "slowsrv".into());
        let g = group(&v, &[], &BTreeMap::new(), &owners, &[(77, 3, 2)]).0;
        let classes: Vec<Class> = g.iter().map(|g| g.class).collect();
        assert_eq!(
            classes,
            [
                Class::SilentPeer,
                Class::AcceptQueue,
                Class::StuckConnect,
                Class::Other
            ]
        );
        assert_eq!(
            g[1].queue,
            Some(Queue {
                queued: 3,
                backlog: 2,
                full: true
            })
        );
        assert_eq!(g[1].process.as_deref(), Some("slowsrv"));
        assert!(g[0].evidence.peer_gone());
        assert_eq!(g.iter().map(|g| g.rank).collect::<Vec<_>>(), [1, 2, 3, 4]);
    }

    /// #6: the accept queue's sockets count for the listener's process everywhere: in their
    /// group, in `by_process`, and never as unowned.
    #[test]
    fn queued_sockets_are_counted_the_same_everywhere() {
        let mut v = Vec::new();
        for i in 0..3u32 {
            let mut s = stale(
                "127.0.0.1:8080",
                &format!("127.0.0.1:{}", 50000 + i),
                TcpState::Established,
                Reason::Unread,
                Inbound,
                None,
                5_000,
                true,
            );
            s.sock.inode = 0;
            s.listener = Some(77);
            v.push(s);
        }
        let meta = || Meta {
            source: Source::Netlink,
            root: None,
            netns: None,
            namespaces: vec![],
            scanned_states: vec![],
            warnings: vec![],
            idle_ms: 1_000,
        };
        let mut owners = Owners::default();
        owners.by_inode.insert(77, vec![4242].into());
        owners.comm.insert(4242, "slowsrv".into());
        let r = report(
            meta(),
            v.clone(),
            &[],
            Counts::default(),
            &BTreeMap::new(),
            &owners,
            &[],
        );
        assert_eq!(r.unowned, 0);
        assert_eq!(r.by_process.len(), 1);
        assert_eq!(
            (r.by_process[0].process.as_deref(), r.by_process[0].count),
            (Some("slowsrv"), 3)
        );
        // unprivileged: the listener's owner is unknown too: 3 unowned in both places
        let r = report(
            meta(),
            v,
            &[],
            Counts::default(),
            &BTreeMap::new(),
            &Owners::default(),
            &[],
        );
        assert_eq!(r.unowned, 3);
        assert_eq!(
            (r.by_process[0].process.as_deref(), r.by_process[0].count),
            (None, 3)
        );
    }

    /// #9: a retransmitting peer leads the group's reason over its idle sockets.
    #[test]
    fn retransmitting_leads_over_idle() {
        let mut v: Vec<Stale> = (0..5)
            .map(|i| {
                stale(
                    &format!("10.0.0.1:{}", 1000 + i),
                    "10.0.0.9:5432",
                    TcpState::Established,
                    Reason::Idle,
                    Outbound,
                    Some((7, "app")),
                    70_000,
                    false,
                )
            })
            .collect();
        for s in v.iter_mut().take(3) {
            s.reason = Reason::Retransmitting;
            s.evidence.retransmitting = true;
        }
        let g = grp(&v);
        assert_eq!(
            (g[0].reason, g[0].role),
            (Reason::Retransmitting, Role::Cause)
        );
        assert!(g[0].evidence.peer_gone());
    }

    /// A link-local peer keeps its scope.
    #[test]
    fn link_local_keeps_its_scope() {
        let mut s = stale(
            "[fe80::1]:40000",
            "[fe80::2]:80",
            TcpState::Established,
            Reason::Idle,
            Outbound,
            Some((7, "app")),
            70_000,
            false,
        );
        if let SocketAddr::V6(v6) = &mut s.sock.remote {
            v6.set_scope_id(3);
        }
        let g = grp(&[s]);
        assert_eq!(g[0].endpoint(Naming::WithName), "[fe80::2%3]:80");
    }

    #[test]
    fn formats() {
        assert_eq!(fmt_secs(500), "0.5");
        assert_eq!(fmt_secs(60_000), "60");
    }
}
