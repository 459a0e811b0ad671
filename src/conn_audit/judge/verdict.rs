//! conn-audit's groups and verdicts: stale sockets grouped by peer and process, causes
//! named before symptoms (the same processes blocked on an outbound peer while their clients
//! give up), the accept queue of a listener that does not accept, and the ranking by impact
//! (processes blocked, then sockets, then age). Pure.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};

use serde::Serialize;

use crate::conn_audit::judge::{by_reason, Counts, Direction, Owners, Reason, Source, Stale};
use crate::conn_audit::model::tcp::TcpState;

/// What a group is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Kind {
    /// Connections of one process to or from one peer.
    Connections,
    /// Handshakes of one process with one peer that never finish (SYN_SENT, SYN_RECV).
    Handshakes,
    /// Connections the kernel completed that no process has accepted.
    AcceptQueue,
}

/// A group's place in the story.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Role {
    /// Its processes are blocked on this peer, and that is why their clients wait.
    Cause,
    /// Clients of processes blocked elsewhere (the cause's group).
    Symptom,
    /// Neither.
    Alone,
}

/// Stale sockets grouped by remote endpoint and process.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Group {
    pub(crate) kind: Kind,
    pub(crate) direction: Direction,
    /// The peer's address (outbound), the clients' address (inbound), `*` (accept queue).
    pub(crate) remote: String,
    /// The remote port (outbound groups).
    pub(crate) port: Option<u16>,
    /// The local listening port (inbound and accept-queue groups).
    pub(crate) local_port: Option<u16>,
    pub(crate) name: Option<String>,
    pub(crate) process: Option<String>,
    pub(crate) pids: Vec<u32>,
    pub(crate) count: usize,
    pub(crate) max_idle_s: Option<f64>,
    pub(crate) reasons: BTreeMap<&'static str, usize>,
    pub(crate) reason: Reason,
    pub(crate) role: Role,
    /// Cause groups: the symptom sockets (their clients).
    pub(crate) clients: usize,
    /// Outside `--port`/`--peer`: a cause, shown because reported groups are blocked on it
    /// (its sockets are not counted); the clients of such groups only count in `clients`.
    pub(crate) outside_filters: bool,
    pub(crate) verdict: String,
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
    /// The remote end: `crl.example:80 (2001:db8::100)`, `192.0.2.7:443`, for inbound groups
    /// `192.0.2.7 -> :8080`, for an accept queue `* -> :8080`.
    pub(crate) fn endpoint(&self, naming: Naming) -> String {
        let name = self.name.as_ref().filter(|_| naming == Naming::WithName);
        match (self.direction, self.port) {
            (Direction::Outbound, Some(p)) => match (name, self.remote.parse::<IpAddr>()) {
                (Some(n), _) => format!("{n}:{p} ({})", self.remote),
                (None, Ok(ip)) => SocketAddr::new(ip, p).to_string(),
                (None, Err(_)) => format!("{}:{p}", self.remote),
            },
            _ => {
                let lp = self
                    .local_port
                    .map_or_else(|| "?".into(), |p| p.to_string());
                match name {
                    Some(n) => format!("{n} ({}) -> :{lp}", self.remote),
                    None => format!("{} -> :{lp}", self.remote),
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

    /// Impact, for ranking: processes blocked, sockets involved, age.
    fn impact(&self) -> (usize, usize, u64) {
        let age = self.max_idle_s.map_or(0, |s| (s * 1000.0) as u64);
        (self.pids.len(), self.count + self.clients, age)
    }
}

/// Seconds for people: `0.5`, `1`, `60`.
pub(crate) fn fmt_secs(ms: u64) -> String {
    format!("{}", ms as f64 / 1000.0)
}

/// An age for a verdict: `40 s`, `12 min`, `3 h`, `2 d`.
fn fmt_age(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        7200..=172_799 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86400),
    }
}

type Key<'a> = (Kind, Direction, IpAddr, u16, Option<&'a str>);

fn key_of(s: &Stale) -> Key<'_> {
    let unspecified = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
    if s.in_accept_queue() {
        return (
            Kind::AcceptQueue,
            Direction::Inbound,
            unspecified,
            s.sock.local.port(),
            None,
        );
    }
    let kind = match s.reason {
        Reason::Connecting | Reason::HalfOpen => Kind::Handshakes,
        _ => Kind::Connections,
    };
    let port = match s.direction {
        Direction::Inbound => s.sock.local.port(),
        Direction::Outbound => s.sock.remote.port(),
    };
    (
        kind,
        s.direction,
        s.sock.remote.ip(),
        port,
        s.process.as_deref(),
    )
}

/// One group's members, before its verdict.
struct Acc<'a> {
    key: Key<'a>,
    members: Vec<&'a Stale>,
    reasons: [usize; Reason::ALL.len()],
    max_idle: Option<u64>,
}

fn accumulate(stale: &[Stale]) -> Vec<Acc<'_>> {
    let mut index: HashMap<Key<'_>, usize> = HashMap::new();
    let mut accs: Vec<Acc<'_>> = Vec::new();
    for s in stale {
        let key = key_of(s);
        let i = *index.entry(key).or_insert_with(|| {
            accs.push(Acc {
                key,
                members: Vec::new(),
                reasons: [0; Reason::ALL.len()],
                max_idle: None,
            });
            accs.len() - 1
        });
        let a = &mut accs[i];
        a.members.push(s);
        a.reasons[s.reason as usize] += 1;
        a.max_idle = a.max_idle.max(s.idle_ms);
    }
    accs
}

fn group_of(a: Acc<'_>, names: &BTreeMap<IpAddr, String>, owners: &Owners) -> Group {
    let (kind, direction, ip, port, process) = a.key;
    let mut pids: Vec<u32> = a
        .members
        .iter()
        .flat_map(|s| s.pids.iter().copied())
        .collect();
    let mut process = process.map(str::to_string);
    if a.members.iter().all(|s| s.before_accept()) {
        // nobody owns a queued connection or a handshake: the listener's process does
        let listener = a.members.iter().find_map(|s| s.listener).unwrap_or(0);
        (pids, process) = owners.of(listener);
    }
    pids.sort_unstable();
    pids.dedup();
    // the most common reason; ties go to the more severe one
    let reason = Reason::ALL
        .iter()
        .copied()
        .max_by_key(|r| (a.reasons[*r as usize], std::cmp::Reverse(*r)))
        .unwrap_or(Reason::Idle);
    let (port, local_port) = match (kind, direction) {
        (Kind::AcceptQueue, _) | (_, Direction::Inbound) => (None, Some(port)),
        (_, Direction::Outbound) => (Some(port), None),
    };
    Group {
        kind,
        direction,
        remote: if kind == Kind::AcceptQueue {
            "*".into()
        } else {
            ip.to_string()
        },
        port,
        local_port,
        name: names.get(&ip).cloned(),
        process,
        pids,
        count: a.members.len(),
        max_idle_s: a.max_idle.map(|m| m as f64 / 1000.0),
        reasons: Reason::ALL
            .iter()
            .filter(|r| a.reasons[**r as usize] > 0)
            .map(|r| (r.label(), a.reasons[*r as usize]))
            .collect(),
        reason,
        role: Role::Alone,
        clients: 0,
        outside_filters: false,
        verdict: String::new(),
    }
}

/// An outbound group that can block its processes: idle, unanswered or stuck in connect.
fn can_block(g: &Group) -> bool {
    g.kind != Kind::AcceptQueue
        && g.direction == Direction::Outbound
        && !g.pids.is_empty()
        && matches!(
            g.reason,
            Reason::Idle
                | Reason::KeepaliveIdle
                | Reason::Connecting
                | Reason::Retransmitting
                | Reason::KeepaliveProbing
                | Reason::ZeroWindow
        )
}

/// An inbound group of clients waiting on (or given up on) their server. Outside the filters
/// too: a group's verdict does not depend on which filter selected it (`--port 5432` names
/// the database connection the cause of the web clients on :80, as an unfiltered run does).
fn is_waiting_client(g: &Group) -> bool {
    g.kind == Kind::Connections
        && g.direction == Direction::Inbound
        && matches!(
            g.reason,
            Reason::CloseWait | Reason::Idle | Reason::Unread | Reason::KeepaliveIdle
        )
}

/// Link symptoms to causes by process: each waiting inbound group goes to the blocking
/// outbound group sharing most of its pids. Returns, per group, its cause's index.
fn correlate(groups: &mut [Group]) -> Vec<Option<usize>> {
    let mut cause_of = vec![None; groups.len()];
    let causes: Vec<(usize, HashSet<u32>)> = groups
        .iter()
        .enumerate()
        .filter(|(_, g)| can_block(g))
        .map(|(i, g)| (i, g.pids.iter().copied().collect()))
        .collect();
    for (i, g) in groups
        .iter()
        .enumerate()
        .filter(|(_, g)| is_waiting_client(g))
    {
        let best = causes
            .iter()
            .map(|(c, pids)| (g.pids.iter().filter(|p| pids.contains(p)).count(), *c))
            .filter(|(shared, _)| *shared > 0)
            .max();
        cause_of[i] = best.map(|(_, c)| c);
    }
    for (i, c) in cause_of.iter().enumerate() {
        if let Some(c) = *c {
            groups[i].role = Role::Symptom;
            groups[c].role = Role::Cause;
            groups[c].clients += groups[i].count;
        }
    }
    cause_of
}

/// `3 python3 sockets`, `100 apache2 workers`, `2 sockets of an unknown process`.
fn who(g: &Group) -> String {
    let n = g.count;
    let unit = match (&g.process, g.pids.len() > 1, n == 1) {
        (Some(_), true, true) => "worker",
        (Some(_), true, false) => "workers",
        (_, _, true) => "socket",
        (_, _, false) => "sockets",
    };
    match &g.process {
        Some(p) => format!("{n} {p} {unit}"),
        None => format!("{n} {unit} of an unknown process"),
    }
}

/// What a reason usually means, for the one-line verdict.
fn explain(r: Reason, d: Direction) -> &'static str {
    match (r, d) {
        (Reason::Idle, Direction::Outbound) => "the client has no read timeout",
        (Reason::Idle, Direction::Inbound) => {
            "the peer went quiet and the server has no idle timeout"
        }
        (Reason::Connecting, _) => "the peer drops SYNs; the client has no connect timeout",
        (Reason::HalfOpen, _) => {
            "the client never completed the handshake (SYN flood, or its ACKs are lost)"
        }
        (Reason::KeepaliveIdle, _) => "kept open by keepalive; the application never closes it",
        (Reason::KeepaliveProbing, _) => "the peer is gone: keepalive probes go unanswered",
        (Reason::Retransmitting, _) => "data is not acknowledged: packet loss or a dead peer",
        (Reason::ZeroWindow, _) => "the peer stopped reading (zero window)",
        (Reason::Unread, _) => "the local program does not read its receive queue",
        (Reason::CloseWait, _) => {
            "the peer closed; the local program never called close() (fd leak)"
        }
    }
}

/// What blocks a cause's processes, short.
fn blocked_by(r: Reason) -> &'static str {
    match r {
        Reason::Connecting => "stuck in connect - the peer drops SYNs, no connect timeout",
        Reason::Retransmitting => "no ACK - packet loss or a dead peer",
        Reason::KeepaliveProbing => "the peer is gone (keepalive unanswered)",
        Reason::ZeroWindow => "the peer stopped reading",
        _ => "no read timeout",
    }
}

fn what(g: &Group, idle_ms: u64) -> String {
    let age = g.max_idle_s.map_or(0, |s| (s * 1000.0) as u64);
    match g.reason {
        Reason::Idle | Reason::KeepaliveIdle => format!("idle > {} s", fmt_secs(idle_ms)),
        // the kernel gives no age: a lower bound (state file, SYN retransmission schedule)
        Reason::Connecting | Reason::HalfOpen => {
            format!("connecting for at least {}", fmt_age(age))
        }
        r => r.label().to_string(),
    }
}

fn peer(g: &Group) -> String {
    match g.direction {
        Direction::Outbound => g.endpoint(Naming::WithName),
        Direction::Inbound => match &g.name {
            Some(n) => format!("{n} ({})", g.remote),
            None => g.remote.clone(),
        },
    }
}

/// The clients of a cause, by what they are doing: `gave up (CLOSE_WAIT)`, `are waiting`.
fn clients_phrase(symptoms: &[&Group]) -> String {
    let gave_up: usize = symptoms
        .iter()
        .map(|g| g.reasons.get("close-wait").copied().unwrap_or(0))
        .sum();
    let total: usize = symptoms.iter().map(|g| g.count).sum();
    let clients = if total == 1 { "client" } else { "clients" };
    match (gave_up, total - gave_up) {
        (0, 1) => "their 1 client is waiting".to_string(),
        (0, w) => format!("their {w} {clients} are waiting"),
        (g, 0) => format!("their {g} {clients} gave up (CLOSE_WAIT)"),
        (g, w) => {
            format!("of their {total} {clients}, {g} gave up (CLOSE_WAIT) and {w} are waiting")
        }
    }
}

fn cause_verdict(g: &Group, symptoms: &[&Group]) -> String {
    let age = g.max_idle_s.map_or(0, |s| (s * 1000.0) as u64);
    let p = g.pids.len();
    let procs = match (&g.process, p) {
        (Some(name), 1) => format!("1 {name} process"),
        (Some(name), _) => format!("{p} {name} workers"),
        (None, _) => format!("{p} processes"),
    };
    let at_least = match g.reason {
        Reason::Connecting | Reason::HalfOpen => "at least ",
        _ => "",
    };
    format!(
        "{procs} blocked on {} for {at_least}{} - {}; {}",
        g.endpoint(Naming::WithName),
        fmt_age(age),
        blocked_by(g.reason),
        clients_phrase(symptoms)
    )
}

/// `4242/slowsrv`: the listener's owner.
fn listener(g: &Group) -> String {
    match (g.pids.first(), &g.process) {
        (Some(pid), Some(name)) => format!("{pid}/{name}"),
        (Some(pid), None) => pid.to_string(),
        _ => "owner unknown".into(),
    }
}

fn verdict(g: &Group, idle_ms: u64, cause: Option<&Group>) -> String {
    let lp = g.local_port.unwrap_or(0);
    match (g.kind, g.direction) {
        (Kind::AcceptQueue, _) => {
            return format!(
                "{} connections waiting to be accepted on :{lp} (listener {}): the server is not accepting",
                g.count,
                listener(g)
            )
        }
        (Kind::Handshakes, Direction::Inbound) => {
            let age = g.max_idle_s.map_or(0, |s| (s * 1000.0) as u64);
            return format!(
                "{} half-open connections from {} on :{lp} (listener {}) for at least {} - {}",
                g.count,
                peer(g),
                listener(g),
                fmt_age(age),
                explain(g.reason, g.direction)
            );
        }
        _ => {}
    }
    // a group of several reasons is worded by its parts: never "2 sockets close-wait" of
    // a group with 1 close-wait and 1 idle
    let parts = reasons_of(g);
    let idle_family = |r: &Reason| matches!(r, Reason::Idle | Reason::KeepaliveIdle);
    let (what, why) = match parts.as_slice() {
        // all of them idle, some with keepalive: "3 sockets idle > 1 s (1 with keepalive)"
        ps if ps.len() > 1 && ps.iter().all(|(r, _)| idle_family(r)) => {
            let k = g.reasons.get(Reason::KeepaliveIdle.label()).unwrap_or(&0);
            (
                format!("{} ({k} with keepalive)", what_of(g, Reason::Idle, idle_ms)),
                explain(g.reason, g.direction).to_string(),
            )
        }
        [(r, _)] => (
            what_of(g, *r, idle_ms),
            explain(*r, g.direction).to_string(),
        ),
        _ => (
            format!(
                "({})",
                parts
                    .iter()
                    .map(|(r, n)| format!("{n} {}", what_of(g, *r, idle_ms)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            parts
                .iter()
                .map(|(r, _)| format!("{}: {}", r.label(), explain(*r, g.direction)))
                .collect::<Vec<_>>()
                .join("; "),
        ),
    };
    let head = match g.direction {
        Direction::Outbound => format!("{} {what} on {}", who(g), peer(g)),
        Direction::Inbound => format!(
            "{} {what} from {} on local port {}",
            who(g),
            peer(g),
            g.local_port.unwrap_or(0)
        ),
    };
    match cause {
        Some(c) => format!(
            "{head} - the client gave up waiting: the process is blocked on {} (the cause)",
            c.endpoint(Naming::WithName)
        ),
        None => format!("{head} - {why}"),
    }
}

/// A group's reasons with their counts, most common first (ties: the more severe).
fn reasons_of(g: &Group) -> Vec<(Reason, usize)> {
    let mut v: Vec<(Reason, usize)> = Reason::ALL
        .iter()
        .filter_map(|r| Some((*r, *g.reasons.get(r.label())?)))
        .filter(|(_, n)| *n > 0)
        .collect();
    v.sort_by_key(|(r, n)| (std::cmp::Reverse(*n), *r));
    if v.is_empty() {
        v.push((g.reason, g.count));
    }
    v
}

/// What one reason of a group says (`idle > 1 s`, `close-wait`).
fn what_of(g: &Group, r: Reason, idle_ms: u64) -> String {
    let mut one = g.clone();
    one.reason = r;
    what(&one, idle_ms)
}

/// Group stale sockets and write their verdicts, causes first, then by impact. `context`
/// holds the stale sockets outside the filters: an outbound group of them is reported only
/// as the cause of reported groups; an inbound one only makes a reported group their cause
/// (and counts in its `clients`), never reported itself.
pub(crate) fn group(
    stale: &[Stale],
    context: &[Stale],
    idle_ms: u64,
    names: &BTreeMap<IpAddr, String>,
    owners: &Owners,
) -> Vec<Group> {
    let mut groups: Vec<Group> = accumulate(stale)
        .into_iter()
        .map(|a| group_of(a, names, owners))
        .collect();
    groups.extend(accumulate(context).into_iter().map(|a| Group {
        outside_filters: true,
        ..group_of(a, names, owners)
    }));
    let cause_of = correlate(&mut groups);
    let verdicts: Vec<String> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| match g.role {
            Role::Cause => {
                let symptoms: Vec<&Group> = (0..groups.len())
                    .filter(|j| cause_of[*j] == Some(i))
                    .map(|j| &groups[j])
                    .collect();
                cause_verdict(g, &symptoms)
            }
            _ => verdict(g, idle_ms, cause_of[i].map(|c| &groups[c])),
        })
        .collect();
    for (g, v) in groups.iter_mut().zip(verdicts) {
        g.verdict = v;
    }
    // outside the filters: only the causes of groups inside them
    let mut shown: Vec<bool> = groups.iter().map(|g| !g.outside_filters).collect();
    for (i, c) in cause_of.iter().enumerate() {
        if let (Some(c), false) = (*c, groups[i].outside_filters) {
            shown[c] = true;
        }
    }
    let mut shown = shown.into_iter();
    groups.retain(|_| shown.next().unwrap_or(false));
    rank(&mut groups);
    groups
}

/// Causes first, then by impact: processes blocked, sockets, age; then a stable order.
fn rank(groups: &mut [Group]) {
    groups.sort_by(|a, b| {
        (b.role == Role::Cause)
            .cmp(&(a.role == Role::Cause))
            .then(b.impact().cmp(&a.impact()))
            .then_with(|| a.kind.cmp(&b.kind))
            .then_with(|| a.direction.cmp(&b.direction))
            .then_with(|| a.remote.cmp(&b.remote))
            .then_with(|| a.port.cmp(&b.port).then(a.local_port.cmp(&b.local_port)))
            .then_with(|| a.process.cmp(&b.process))
    });
}

/// Stale sockets per process (owner name), largest first.
#[derive(Debug, Serialize, PartialEq)]
pub(crate) struct ByProcess {
    pub(crate) process: Option<String>,
    pub(crate) pids: Vec<u32>,
    pub(crate) count: usize,
}

fn by_process(stale: &[Stale]) -> Vec<ByProcess> {
    let mut procs: BTreeMap<Option<&str>, (HashSet<u32>, usize)> = BTreeMap::new();
    for s in stale {
        let e = procs.entry(s.process.as_deref()).or_default();
        e.0.extend(s.pids.iter().copied());
        e.1 += 1;
    }
    let mut v: Vec<ByProcess> = procs
        .into_iter()
        .map(|(process, (pids, count))| {
            let mut pids: Vec<u32> = pids.into_iter().collect();
            pids.sort_unstable();
            ByProcess {
                process: process.map(str::to_string),
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
    inode: u64,
    cookie: u64,
    send_q: u32,
    recv_q: u32,
    timer: crate::conn_audit::model::tcp::Timer,
}

impl Serialize for Sockets {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        ser.collect_seq(self.0.iter().map(|s| SockOut {
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
    pub(crate) netns: Option<String>,
    pub(crate) missing_fields: Vec<&'static str>,
    pub(crate) idle_threshold_s: f64,
    /// The states read: the netlink dump asks the kernel for these only; procfs has all.
    pub(crate) scanned_states: Vec<&'static str>,
    #[serde(flatten)]
    pub(crate) counts: Counts,
    pub(crate) stale: usize,
    pub(crate) unowned: usize,
    pub(crate) by_reason: BTreeMap<&'static str, usize>,
    pub(crate) groups: Vec<Group>,
    pub(crate) by_process: Vec<ByProcess>,
    pub(crate) warnings: Vec<String>,
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
    pub(crate) scanned_states: Vec<&'static str>,
    pub(crate) warnings: Vec<String>,
}

/// The report from judged sockets whose owners are attached (see
/// [`crate::conn_audit::judge::attach_owners`]).
pub(crate) fn report(
    meta: Meta,
    stale: Vec<Stale>,
    context: &[Stale],
    counts: Counts,
    idle_ms: u64,
    names: &BTreeMap<IpAddr, String>,
    owners: &Owners,
) -> Report {
    let mut warnings = meta.warnings;
    let unowned = stale
        .iter()
        .filter(|s| s.pids.is_empty() && !s.before_accept())
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
    Report {
        source: meta.source,
        root: meta.root,
        netns: meta.netns,
        missing_fields,
        idle_threshold_s: idle_ms as f64 / 1000.0,
        scanned_states: meta.scanned_states,
        counts,
        stale: stale.len(),
        unowned,
        by_reason: by_reason(&stale),
        groups: group(&stale, context, idle_ms, names, owners),
        by_process: by_process(&stale),
        warnings,
        sockets: Sockets(stale),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn_audit::judge::Direction::{Inbound, Outbound};
    use crate::conn_audit::model::tcp::{Sock, TcpInfo, Timer};

    #[allow(clippy::too_many_arguments)] // a test fixture: every field spelled out
    fn stale(
        local: &str,
        remote: &str,
        state: TcpState,
        reason: Reason,
        dir: Direction,
        pid: u32,
        name: &str,
        idle: u64,
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
                inode: u64::from(pid) * 1000 + u64::from(remote.len() as u32),
                info: Some(TcpInfo::default()),
                cookie: 1,
            },
            reason,
            direction: dir,
            idle_ms: Some(idle),
            listener: None,
            pids: vec![pid],
            process: Some(name.into()),
        }
    }

    #[test]
    fn outbound_groups_and_verdicts() {
        let v: Vec<Stale> = (0..3)
            .map(|i| {
                stale(
                    &format!("[2001:db8::1]:{}", 40000 + i),
                    "[2001:db8::100]:80",
                    TcpState::Established,
                    Reason::Idle,
                    Outbound,
                    11 + i,
                    "apache2",
                    70_000 + u64::from(i),
                )
            })
            .collect();
        let mut names = BTreeMap::new();
        names.insert("2001:db8::100".parse().unwrap(), "crl.example".to_string());
        let g = group(&v, &[], 60_000, &names, &Owners::default());
        assert_eq!(g.len(), 1);
        assert_eq!((g[0].count, g[0].pids.clone()), (3, vec![11, 12, 13]));
        assert_eq!(g[0].verdict, "3 apache2 workers idle > 60 s on crl.example:80 (2001:db8::100) - the client has no read timeout");
        assert_eq!(g[0].max_idle_s, Some(70.002));
        assert_eq!(
            (g[0].port, g[0].local_port, g[0].role),
            (Some(80), None, Role::Alone)
        );
        assert_eq!(g[0].endpoint(Naming::AddressOnly), "[2001:db8::100]:80");
        // --idle 500ms
        assert!(group(&v, &[], 500, &names, &Owners::default())[0]
            .verdict
            .contains("idle > 0.5 s"));
    }

    /// F6 (#11): a group of 1 close-wait and 1 idle socket is never "2 sockets close-wait".
    #[test]
    fn a_mixed_group_is_worded_by_its_parts() {
        let v = vec![
            stale(
                "127.0.0.1:50001",
                "127.0.0.1:40899",
                TcpState::CloseWait,
                Reason::CloseWait,
                Outbound,
                7,
                "python3",
                5_000,
            ),
            stale(
                "127.0.0.1:50002",
                "127.0.0.1:40899",
                TcpState::Established,
                Reason::Idle,
                Outbound,
                7,
                "python3",
                5_000,
            ),
        ];
        let g = group(&v, &[], 1_000, &BTreeMap::new(), &Owners::default());
        assert_eq!(g.len(), 1);
        assert_eq!(
            g[0].verdict,
            "2 python3 sockets (1 close-wait, 1 idle > 1 s) on 127.0.0.1:40899 - close-wait: \
             the peer closed; the local program never called close() (fd leak); \
             idle: the client has no read timeout"
        );
        // one reason: worded as before
        let g = group(&v[..1], &[], 1_000, &BTreeMap::new(), &Owners::default());
        assert!(g[0]
            .verdict
            .starts_with("1 python3 socket close-wait on 127.0.0.1:40899 - "));
        // idle, one of them with keepalive: all idle, the keepalive ones counted
        let mut ka = v.clone();
        ka[0].reason = Reason::KeepaliveIdle;
        ka[0].sock.state = TcpState::Established;
        let g = group(&ka, &[], 1_000, &BTreeMap::new(), &Owners::default());
        assert_eq!(
            g[0].verdict,
            "2 python3 sockets idle > 1 s (1 with keepalive) on 127.0.0.1:40899 - \
             the client has no read timeout"
        );
    }

    /// #11: the incident. 100 apache2 workers hang on the CRL server; their clients gave up.
    /// The cause leads, whatever the symptom's count or age.
    #[test]
    fn the_cause_leads_its_symptoms() {
        let mut v = Vec::new();
        for pid in 0..100u32 {
            v.push(stale(
                &format!("[2001:db8::1]:{}", 40000 + pid),
                "[2001:db8::100]:80",
                TcpState::Established,
                Reason::Idle,
                Outbound,
                1000 + pid,
                "apache2",
                40_000,
            ));
            v.push(stale(
                "[2001:db8::1]:80",
                &format!("[2001:db8::7]:{}", 50000 + pid),
                TcpState::CloseWait,
                Reason::CloseWait,
                Inbound,
                1000 + pid,
                "apache2",
                90_000,
            ));
        }
        // an unrelated, older idle client elsewhere
        v.push(stale(
            "10.0.0.1:1234",
            "10.0.0.9:5432",
            TcpState::Established,
            Reason::Idle,
            Outbound,
            7,
            "psql",
            900_000,
        ));
        let mut names = BTreeMap::new();
        names.insert("2001:db8::100".parse().unwrap(), "crl.example".to_string());
        let g = group(&v, &[], 30_000, &names, &Owners::default());
        assert_eq!(g.len(), 3);
        assert_eq!(g[0].role, Role::Cause);
        assert_eq!(
            g[0].verdict,
            "100 apache2 workers blocked on crl.example:80 (2001:db8::100) for 40 s - no read timeout; their 100 clients gave up (CLOSE_WAIT)"
        );
        assert_eq!(g[1].role, Role::Symptom);
        assert!(g[1].verdict.contains("close-wait from 2001:db8::7 on local port 80 - the client gave up waiting: the process is blocked on crl.example:80"), "{}", g[1].verdict);
        assert!(!g[1].verdict.contains("fd leak"));
        assert_eq!(
            (g[2].role, g[2].process.as_deref()),
            (Role::Alone, Some("psql"))
        );
    }

    /// `--port 80` selects the workers' clients; the upstream they are blocked on is outside
    /// the filter, and still named as the cause (not counted).
    #[test]
    fn a_cause_outside_the_filters_still_leads() {
        let mut symptoms = Vec::new();
        let mut context = Vec::new();
        for pid in 0..3u32 {
            context.push(stale(
                &format!("10.0.0.1:{}", 40000 + pid),
                "10.0.0.100:8443",
                TcpState::Established,
                Reason::Idle,
                Outbound,
                100 + pid,
                "php-fpm",
                50_000,
            ));
            symptoms.push(stale(
                "10.0.0.1:80",
                &format!("10.0.0.7:{}", 50000 + pid),
                TcpState::CloseWait,
                Reason::CloseWait,
                Inbound,
                100 + pid,
                "php-fpm",
                90_000,
            ));
        }
        // context a reported group does not wait on is dropped
        context.push(stale(
            "10.0.0.1:1",
            "10.0.0.200:5432",
            TcpState::Established,
            Reason::Idle,
            Outbound,
            999,
            "psql",
            900_000,
        ));
        let g = group(
            &symptoms,
            &context,
            30_000,
            &BTreeMap::new(),
            &Owners::default(),
        );
        assert_eq!(g.len(), 2, "{g:#?}");
        assert_eq!((g[0].role, g[0].outside_filters), (Role::Cause, true));
        assert!(
            g[0].verdict
                .starts_with("3 php-fpm workers blocked on 10.0.0.100:8443 for 50 s"),
            "{}",
            g[0].verdict
        );
        assert_eq!((g[1].role, g[1].outside_filters), (Role::Symptom, false));
    }

    /// A worker blocked on `port` (outbound, idle) and its client gave up on `front`.
    fn incident(pid: u32, up: u16, front: u16, name: &str) -> (Stale, Stale) {
        let cause = stale(
            &format!("10.0.0.1:{}", 40000 + pid),
            &format!("10.0.0.100:{up}"),
            TcpState::Established,
            Reason::Idle,
            Outbound,
            pid,
            name,
            50_000,
        );
        let symptom = stale(
            &format!("10.0.0.1:{front}"),
            &format!("10.0.0.7:{}", 50000 + pid),
            TcpState::CloseWait,
            Reason::CloseWait,
            Inbound,
            pid,
            name,
            90_000,
        );
        (cause, symptom)
    }

    /// `--dport 8443` selects the workers' upstream sockets; their clients on :80 are outside
    /// the filter: the group is the cause all the same (the verdict an unfiltered run gives),
    /// the clients are not reported. An outside cause of outside clients is not reported.
    #[test]
    fn clients_outside_the_filters_still_make_a_cause() {
        let (mut inside, mut context) = (Vec::new(), Vec::new());
        for pid in 100..103 {
            let (c, s) = incident(pid, 8443, 80, "php-fpm");
            inside.push(c);
            context.push(s);
            let (c, s) = incident(pid + 100, 5432, 81, "nginx");
            context.extend([c, s]);
        }
        let g = group(
            &inside,
            &context,
            30_000,
            &BTreeMap::new(),
            &Owners::default(),
        );
        assert_eq!(g.len(), 1, "{g:#?}");
        assert_eq!((g[0].role, g[0].outside_filters), (Role::Cause, false));
        assert_eq!(g[0].clients, 3);
        assert_eq!(
            g[0].verdict,
            "3 php-fpm workers blocked on 10.0.0.100:8443 for 50 s - no read timeout; their 3 clients gave up (CLOSE_WAIT)"
        );
    }

    /// Nagios' "(+k more groups)": two causes outside `--port` lead; only the two symptom
    /// groups inside the filters are "more".
    #[test]
    fn more_groups_counts_only_groups_inside_the_filters() {
        let (mut inside, mut context) = (Vec::new(), Vec::new());
        for pid in 100..103 {
            for (p, up, front, name) in [(pid, 8443, 80, "php-fpm"), (pid + 100, 9000, 81, "nginx")]
            {
                let (c, s) = incident(p, up, front, name);
                context.push(c);
                inside.push(s);
            }
        }
        let meta = Meta {
            source: Source::Netlink,
            root: None,
            netns: None,
            scanned_states: vec![],
            warnings: vec![],
        };
        let r = report(
            meta,
            inside,
            &context,
            Counts::default(),
            30_000,
            &BTreeMap::new(),
            &Owners::default(),
        );
        let outside: Vec<bool> = r.groups.iter().map(|g| g.outside_filters).collect();
        assert_eq!(outside, [true, true, false, false], "{:#?}", r.groups);
        assert_eq!(r.more_groups(), 2);
    }

    #[test]
    fn the_accept_queue_names_the_listener() {
        let mut v = Vec::new();
        for i in 0..3u32 {
            let mut s = stale(
                "127.0.0.1:8080",
                &format!("127.0.0.1:{}", 50000 + i),
                TcpState::Established,
                Reason::Unread,
                Inbound,
                0,
                "x",
                5_000,
            );
            s.sock.inode = 0;
            s.pids.clear();
            s.process = None;
            s.listener = Some(77);
            v.push(s);
        }
        let mut owners = Owners::default();
        owners.by_inode.insert(77, vec![4242]);
        owners.comm.insert(4242, "slowsrv".into());
        let g = group(&v, &[], 1_000, &BTreeMap::new(), &owners);
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].kind, Kind::AcceptQueue);
        assert_eq!(g[0].verdict, "3 connections waiting to be accepted on :8080 (listener 4242/slowsrv): the server is not accepting");
        assert_eq!(g[0].endpoint(Naming::WithName), "* -> :8080");
    }

    #[test]
    fn ranking_is_by_processes_then_sockets_then_age() {
        let mut v = Vec::new();
        // one process, 5 sockets, very old
        for i in 0..5 {
            v.push(stale(
                &format!("10.0.0.1:{}", 1000 + i),
                "10.0.0.9:1",
                TcpState::Established,
                Reason::Idle,
                Outbound,
                1,
                "a",
                9_000_000,
            ));
        }
        // three processes, one socket each, younger
        for p in 0..3 {
            v.push(stale(
                &format!("10.0.0.1:{}", 2000 + p),
                "10.0.0.9:2",
                TcpState::Established,
                Reason::Idle,
                Outbound,
                10 + p,
                "b",
                70_000,
            ));
        }
        let g = group(&v, &[], 60_000, &BTreeMap::new(), &Owners::default());
        assert_eq!(g[0].process.as_deref(), Some("b"));
        assert_eq!(g[1].process.as_deref(), Some("a"));
    }

    #[test]
    fn formats() {
        assert_eq!(fmt_secs(500), "0.5");
        assert_eq!(fmt_secs(60_000), "60");
        assert_eq!(fmt_age(40_000), "40 s");
        assert_eq!(fmt_age(720_000), "12 min");
    }
}
