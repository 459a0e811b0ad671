//! conn-audit's report rendered: the table for people (verdicts first, the top-ranked cause
//! on the first verdict line), the Nagios check, munin and Prometheus (the `--top` largest
//! groups, the rest summed: bounded series). JSON is the report's serde form.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::conn_audit::judge::verdict::{
    fmt_secs, Beyond, Class, Clients, Evidence, Group, GroupKey, Kind as GroupKind, Naming, Report,
    Role, SocketsOut,
};
use crate::conn_audit::judge::{Direction, Reason, Source, Tally};
use crate::format::munin::{self, Draw, Field, FieldType, Graph};
use crate::format::nagios::{Check, Perf, Range};
use crate::format::prometheus::{Family, Kind};
use crate::format::table::{Align, Table};

/// The Nagios service label.
pub(crate) const SERVICE: &str = "CONN-AUDIT";

/// The groups beyond the first ones shown: how many, and their sockets.
struct Rest {
    groups: usize,
    sockets: usize,
}

fn rest_of<'a>(rest: impl Iterator<Item = &'a Group>, beyond: Beyond) -> Option<Rest> {
    let (groups, sockets) = rest.fold((beyond.groups, beyond.sockets), |(g, s), x| {
        (g + 1, s + x.count)
    });
    (groups > 0).then_some(Rest { groups, sockets })
}

/// `rest` and the groups beyond the report's bound, summed.
fn with_beyond(rest: Option<Rest>, beyond: Beyond) -> Option<Rest> {
    let (g, s) = rest.map_or((0, 0), |r| (r.groups, r.sockets));
    rest_of(
        std::iter::empty(),
        Beyond {
            groups: g + beyond.groups,
            sockets: s + beyond.sockets,
        },
    )
}

/// The `top` largest of `items` by count (0 = all), in their order, and the rest summed.
fn largest<T>(items: &[T], top: usize, count: impl Fn(&T) -> usize) -> (Vec<&T>, Option<Rest>) {
    if top == 0 || items.len() <= top {
        return (items.iter().collect(), None);
    }
    let mut by_size: Vec<usize> = (0..items.len()).collect();
    by_size.sort_by_key(|i| std::cmp::Reverse(count(&items[*i])));
    let mut keep = vec![false; items.len()];
    for i in &by_size[..top] {
        keep[*i] = true;
    }
    let (mut kept, mut rest) = (
        Vec::new(),
        Rest {
            groups: 0,
            sockets: 0,
        },
    );
    for (x, k) in items.iter().zip(&keep) {
        if *k {
            kept.push(x);
        } else {
            rest.groups += 1;
            rest.sockets += count(x);
        }
    }
    (kept, Some(rest))
}

/// An age for a verdict: `40 s`, `12 min`, `3 h`, `2 d`.
fn fmt_age_words(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        7200..=172_799 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86400),
    }
}

/// `1 socket`, `3 sockets`.
fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Who holds a group's sockets, counting processes by pid and sockets by socket:
/// `4 apache2 processes (4 sockets)`, `1 nginx process (30 sockets)`, `12 sockets (owner
/// unknown: run as root to name the process)`.
fn holders(g: &Group, r: &Report) -> String {
    let socks = plural(g.count, "socket", "sockets");
    match (&g.process, g.processes) {
        (Some(name), p) if p > 0 => {
            format!(
                "{} ({socks})",
                plural(p, &format!("{name} process"), &format!("{name} processes"))
            )
        }
        (Some(name), _) => format!("{socks} of {name}"),
        (None, 0) => format!("{socks} ({})", owner_unknown(r)),
        (None, p) => format!(
            "{socks} of {} (name unknown)",
            plural(p, "process", "processes")
        ),
    }
}

/// Whose sockets a group holds, sockets first: `2 sockets of 1 python3 process`,
/// `3 sockets of 2 apache2 processes`, `12 sockets (owner unknown: ...)`.
fn sockets_of(g: &Group, r: &Report) -> String {
    let socks = plural(g.count, "socket", "sockets");
    match (&g.process, g.processes) {
        (Some(name), p) if p > 0 => format!(
            "{socks} of {}",
            plural(p, &format!("{name} process"), &format!("{name} processes"))
        ),
        (Some(name), _) => format!("{socks} of {name}"),
        (None, 0) => format!("{socks} ({})", owner_unknown(r)),
        (None, p) => format!(
            "{socks} of {} (name unknown)",
            plural(p, "process", "processes")
        ),
    }
}

/// What a run says instead of a process name it could not find.
fn owner_unknown(r: &Report) -> &'static str {
    match r.root {
        Some(_) => "owner unknown: not in the capture",
        None => "owner unknown: run as root to name the process",
    }
}

/// A cause's evidence in words, the strongest first: `3 retransmitting (no ACK), 30 requests
/// unanswered` (the age of the oldest is the verdict's).
fn evidence_words(e: &Evidence) -> String {
    let mut parts = Vec::new();
    if e.retransmits > 0 {
        parts.push(format!("{} retransmitting (no ACK)", e.retransmits));
    }
    if e.keepalive_unanswered > 0 {
        parts.push(format!(
            "{} keepalive probes unanswered",
            e.keepalive_unanswered
        ));
    }
    if e.syn_retries > 0 {
        parts.push(plural(
            e.syn_retries,
            "connect unanswered",
            "connects unanswered",
        ));
    }
    if e.unanswered_requests > 0 {
        parts.push(plural(
            e.unanswered_requests,
            "request unanswered",
            "requests unanswered",
        ));
    }
    if e.unacked > 0 && e.retransmits == 0 {
        parts.push(format!("{} with data unacknowledged", e.unacked));
    }
    parts.join(", ")
}

/// The clients of a cause, by what they do: `their 4 clients gave up (CLOSE_WAIT)`.
fn clients_phrase(c: &Clients) -> Option<String> {
    let clients = if c.total() == 1 { "client" } else { "clients" };
    Some(match (c.gave_up, c.waiting) {
        (0, 0) => return None,
        (0, 1) => "their 1 client is waiting".to_string(),
        (0, w) => format!("their {w} {clients} are waiting"),
        (g, 0) => format!("their {g} {clients} gave up (CLOSE_WAIT)"),
        (g, w) => format!(
            "of their {} {clients}, {g} gave up (CLOSE_WAIT) and {w} are waiting",
            c.total()
        ),
    })
}

fn cause_words(g: &Group, r: &Report) -> String {
    let (what, why) = match g.class {
        Class::StuckConnect => (
            format!(
                "stuck in connect to {} for at least",
                g.endpoint(Naming::WithName)
            ),
            "the peer drops SYNs, no connect timeout",
        ),
        _ if g.evidence.peer_gone() => (
            format!("blocked on {} for", g.endpoint(Naming::WithName)),
            "the peer is gone",
        ),
        _ => (
            format!("blocked on {} for", g.endpoint(Naming::WithName)),
            "the peer does not answer, no read timeout",
        ),
    };
    let mut v = format!(
        "{} {what} {} - {why}: {}",
        holders(g, r),
        fmt_age_words(g.evidence.oldest_ms.unwrap_or(g.age_ms())),
        evidence_words(&g.evidence)
    );
    if let Some(c) = clients_phrase(&g.clients) {
        let _ = write!(v, "; {c}");
    }
    v
}

/// What a reason usually means, for the one-line verdict of a group that is no cause.
fn explain(r: Reason, d: Direction, e: &Evidence) -> &'static str {
    match (r, d) {
        (Reason::Idle, Direction::Outbound) if e.self_loop > 0 && e.blocked == 0 => {
            "both ends are held by the same process"
        }
        (Reason::Idle, Direction::Outbound) if e.answered > 0 => {
            "every request answered: kept open (a connection pool or keep-alive)"
        }
        (Reason::Idle, Direction::Outbound) => "no data either way",
        (Reason::Idle | Reason::KeepaliveIdle, Direction::Inbound) if e.unanswered_requests > 0 => {
            "their requests are unanswered: the server does not answer"
        }
        (Reason::Idle, Direction::Inbound) if e.answered > 0 => {
            "idle clients, every request answered (keep-alive or a pool)"
        }
        (Reason::Idle, Direction::Inbound) => "no data either way",
        (Reason::Connecting, _) => "the peer drops SYNs; the client has no connect timeout",
        (Reason::HalfOpen, _) => {
            "the client never completed the handshake (SYN flood, or its ACKs are lost)"
        }
        (Reason::KeepaliveIdle, _) => "keepalive probes answered: the peer is alive",
        (Reason::KeepaliveProbing, _) => "the peer is gone: keepalive probes go unanswered",
        (Reason::Retransmitting, _) => "data is not acknowledged: packet loss or a dead peer",
        (Reason::ZeroWindow, _) => "the peer stopped reading (zero window)",
        (Reason::Unread, _) => "the local program does not read its receive queue",
        (Reason::CloseWait, Direction::Inbound) if e.half_closed_clients > 0 => {
            "the clients half-closed and still wait for the answer (FIN_WAIT2)"
        }
        (Reason::CloseWait, Direction::Inbound) if e.unanswered_requests > 0 => {
            "the clients gave up waiting for an answer"
        }
        (Reason::CloseWait, _) => {
            "the peer closed; the local program never called close() (fd leak)"
        }
        (Reason::HalfClosed, _) => "half-closed, waiting for the peer's answer",
    }
}

/// What one reason of a group says (`idle > 1 s`, `close-wait`).
fn what_of(g: &Group, r: Reason, idle_ms: u64) -> String {
    match r {
        Reason::Idle | Reason::KeepaliveIdle => format!("idle > {} s", fmt_secs(idle_ms)),
        Reason::Connecting | Reason::HalfOpen => {
            format!("connecting for at least {}", fmt_age_words(g.age_ms()))
        }
        r => r.label().to_string(),
    }
}

fn peer(g: &Group) -> String {
    match (g.direction, g.addr()) {
        (Direction::Outbound, _) => g.endpoint(Naming::WithName),
        (Direction::Inbound, Some(a)) => match &g.name {
            Some(n) => format!("{n} ({a})"),
            None => a,
        },
        (Direction::Inbound, None) => format!("{} client addresses", g.client_addrs),
    }
}

/// `4242/slowsrv`: the listener's owner.
fn listener(g: &Group, r: &Report) -> String {
    match (g.pids.first(), &g.process) {
        (Some(pid), Some(name)) => format!("{pid}/{name}"),
        (Some(pid), None) => pid.to_string(),
        _ => owner_unknown(r).into(),
    }
}

/// One group's verdict, for people (the table, the Nagios line, JSON's `message`); with
/// several namespaces audited, the group's is named.
pub(crate) fn verdict(g: &Group, r: &Report) -> String {
    let v = verdict_words(g, r);
    match r.namespaces.get(g.netns as usize) {
        Some(ns) if r.namespaces.len() > 1 => format!("{v} [in {ns}]"),
        _ => v,
    }
}

fn verdict_words(g: &Group, r: &Report) -> String {
    let idle_ms = (r.idle_threshold_s * 1000.0) as u64;
    let lp = g.local_port.unwrap_or(0);
    match (g.role, g.kind, g.direction) {
        (Role::Cause, _, _) => return cause_words(g, r),
        (_, GroupKind::AcceptQueue, _) => {
            let q = match g.queue {
                Some(q) if q.full => format!(
                    ", queue full ({} queued, backlog {}): new SYNs are dropped",
                    q.queued, q.backlog
                ),
                Some(q) => format!(" ({} queued, backlog {})", q.queued, q.backlog),
                None => String::new(),
            };
            return format!(
                "{} waiting to be accepted on :{lp} (listener {}){q} - the server is not accepting",
                plural(g.count, "connection", "connections"),
                listener(g, r)
            );
        }
        (_, GroupKind::Handshakes, Direction::Inbound) => {
            return format!(
                "{} from {} on :{lp} (listener {}) for at least {} - {}",
                plural(g.count, "half-open connection", "half-open connections"),
                peer(g),
                listener(g, r),
                fmt_age_words(g.age_ms()),
                explain(g.reason, g.direction, &g.evidence)
            );
        }
        _ => {}
    }
    if let (Some(s), Some(c)) = (g.symptoms, g.cause_rank.and_then(|c| r.groups.get(c - 1))) {
        let what = match (s.gave_up, s.waiting) {
            (0, w) => format!("{} waiting", plural(w, "client", "clients")),
            (gu, 0) => format!("{} gave up (CLOSE_WAIT)", plural(gu, "client", "clients")),
            (gu, w) => format!("{gu} clients gave up (CLOSE_WAIT), {w} waiting"),
        };
        let mut v = format!(
            "{} from {} on local port {lp}: {what}, their requests unanswered - the process is blocked on {} (the cause)",
            sockets_of(g, r),
            peer(g),
            c.endpoint(Naming::WithName)
        );
        let rest = g.count - s.total();
        if rest > 0 {
            let _ = write!(v, "; {} more", plural(rest, "socket", "sockets"));
        }
        return v;
    }
    // a group of several reasons is worded by its parts
    let parts: Vec<(Reason, usize)> = g.reasons.present().collect();
    let idle_family = |r: &Reason| matches!(r, Reason::Idle | Reason::KeepaliveIdle);
    let (what, why) = match parts.as_slice() {
        ps if ps.len() > 1 && ps.iter().all(|(r, _)| idle_family(r)) => (
            format!(
                "{} ({} with keepalive answered)",
                what_of(g, Reason::Idle, idle_ms),
                g.reasons.get(Reason::KeepaliveIdle)
            ),
            explain(Reason::Idle, g.direction, &g.evidence).to_string(),
        ),
        [(r, _)] => (
            what_of(g, *r, idle_ms),
            explain(*r, g.direction, &g.evidence).to_string(),
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
                .map(|(r, _)| format!("{}: {}", r.label(), explain(*r, g.direction, &g.evidence)))
                .collect::<Vec<_>>()
                .join("; "),
        ),
    };
    let head = match g.direction {
        Direction::Outbound => format!("{} {what} on {}", sockets_of(g, r), peer(g)),
        Direction::Inbound => format!(
            "{} {what} from {} on local port {lp}",
            sockets_of(g, r),
            peer(g)
        ),
    };
    format!("{head} - {why}")
}

/// What the report read, on one line.
fn header(out: &mut String, r: &Report) {
    let _ = match &r.root {
        Some(root) => writeln!(
            out,
            "conn-audit: source {} under {root} (a capture, not this system)",
            r.source.name()
        ),
        None if r.namespaces.len() > 1 || r.namespaces.first() != r.netns.as_ref() => writeln!(
            out,
            "conn-audit: source {}, network namespaces {}",
            r.source.name(),
            r.namespaces.join(", ")
        ),
        None => writeln!(
            out,
            "conn-audit: source {}, network namespace {} (this process's own)",
            r.source.name(),
            r.netns.as_deref().unwrap_or("?")
        ),
    };
    if !r.missing_fields.is_empty() {
        let _ = writeln!(
            out,
            "  missing with procfs: {}",
            r.missing_fields.join(", ")
        );
    }
    let c = &r.counts;
    let states = if r.scanned_states == ["all"] {
        "all states".to_string()
    } else {
        r.scanned_states.join(", ")
    };
    let _ = writeln!(
        out,
        "scanned {} TCP sockets ({states}): {} connections ({} ESTABLISHED, {} CLOSE_WAIT, {} SYN_SENT, {} SYN_RECV), {}, {} without a known owner",
        c.scanned, c.connections, c.established, c.close_wait, c.syn_sent, c.syn_recv,
        stale_summary(r), r.unowned
    );
    let _ = writeln!(
        out,
        "idle threshold {} s",
        fmt_secs((r.idle_threshold_s * 1000.0) as u64)
    );
    for w in &r.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
}

/// `8 stale (3 idle, 1 keepalive-idle, 4 unread)`: the parts add up to the total.
fn stale_summary(r: &Report) -> String {
    let parts: Vec<String> = r
        .by_reason
        .present()
        .map(|(k, n)| format!("{n} {}", k.label()))
        .collect();
    if parts.is_empty() {
        format!("{} stale", r.stale)
    } else {
        format!("{} stale ({})", r.stale, parts.join(", "))
    }
}

fn group_table(groups: &[Group], prev: Option<&HashMap<GroupKey, usize>>) -> String {
    let mut headers = vec![("COUNT", Align::Right)];
    if prev.is_some() {
        headers.push(("GROWTH", Align::Right));
    }
    headers.extend([
        ("REMOTE", Align::Left),
        ("PROCESS", Align::Left),
        ("PIDS", Align::Left),
        ("MAX AGE", Align::Right),
        ("REASONS", Align::Left),
    ]);
    let mut t = Table::new(headers);
    for g in groups {
        let mut row = vec![g.count.to_string()];
        if let Some(prev) = prev {
            let d = g.count as i64 - prev.get(&g.key).copied().unwrap_or(0) as i64;
            row.push(format!("{d:+}"));
        }
        let mut remote = g.endpoint(Naming::WithName);
        if g.outside_filters {
            remote.push_str(" (outside the filters)");
        }
        row.extend([
            remote,
            g.process.clone().unwrap_or_else(|| "?".into()),
            pid_list(&g.pids, 8),
            fmt_age(g.max_idle_s),
            g.reasons
                .present()
                .map(|(k, v)| format!("{}={v}", k.label()))
                .collect::<Vec<_>>()
                .join(" "),
        ]);
        t.push(row);
    }
    render(&t)
}

/// The first `max` pids, and `+N` for the rest.
fn pid_list(pids: &[u32], max: usize) -> String {
    let mut v: Vec<String> = pids.iter().take(max).map(|p| p.to_string()).collect();
    if pids.len() > max {
        v.push(format!("+{}", pids.len() - max));
    }
    v.join(",")
}

fn render(t: &Table) -> String {
    let mut buf = Vec::new();
    let _ = t.render(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

fn process_table(r: &Report) -> String {
    let mut t = Table::new([
        ("PROCESS", Align::Left),
        ("STALE", Align::Right),
        ("PIDS", Align::Left),
    ]);
    for p in &r.by_process {
        t.push(vec![
            p.process
                .clone()
                .unwrap_or_else(|| "(unknown owner)".into()),
            p.count.to_string(),
            pid_list(&p.pids, 12),
        ]);
    }
    render(&t)
}

/// The table for people; `prev` (with `--watch`) adds each group's growth.
pub(crate) fn write_table(
    out: &mut String,
    r: &Report,
    prev: Option<&HashMap<GroupKey, usize>>,
    top: usize,
) {
    header(out, r);
    if r.groups.is_empty() {
        let _ = writeln!(out, "no stale connections");
        return;
    }
    let shown = if top == 0 {
        r.groups.len()
    } else {
        top.min(r.groups.len())
    };
    let (groups, rest) = (
        &r.groups[..shown],
        rest_of(r.groups[shown..].iter(), r.beyond),
    );
    let _ = writeln!(out, "\nverdicts:");
    for g in groups {
        let _ = writeln!(out, "  {}", verdict(g, r));
    }
    let _ = writeln!(out, "\nby remote endpoint, causes first, then by impact:");
    out.push_str(&group_table(groups, prev));
    if let Some(rest) = &rest {
        let _ = writeln!(
            out,
            "... and {} more groups with {} sockets (--top 0 lists them all; --format json has every one)",
            rest.groups, rest.sockets
        );
    }
    let _ = writeln!(out, "\nby process:");
    out.push_str(&process_table(r));
}

/// A table's age cell: the verdicts' wording ([`fmt_age_words`]), `-` when unknown.
fn fmt_age(s: Option<f64>) -> String {
    match s {
        Some(s) if s.is_finite() && s >= 0.0 => fmt_age_words((s * 1000.0) as u64),
        _ => "-".into(),
    }
}

/// The Nagios check: "N stale (A idle, B close-wait) of M connections; <top verdict>", the
/// thresholds on N.
pub(crate) fn nagios_check<'a>(
    r: &Report,
    warning: Option<&'a Range>,
    critical: Option<&'a Range>,
) -> Check<'a> {
    let mut text = format!(
        "{} of {} TCP connections",
        stale_summary(r),
        r.counts.connections
    );
    if r.source != Source::Netlink {
        // without tcp_info, idle, unread and keepalive shapes cannot be seen at all
        let _ = write!(
            text,
            " (source {}: no idle times, only CLOSE_WAIT and timer shapes are judged)",
            r.source.name()
        );
    }
    if r.groups.is_empty() {
        // nothing found: say what may have hidden it (a process in another namespace)
        for w in &r.warnings {
            let _ = write!(text, "; warning: {w}");
        }
    }
    if let Some(g) = r.groups.first() {
        let _ = write!(text, "; {}", verdict(g, r));
        let more = r.more_groups();
        if more > 0 {
            let _ = write!(text, " (+{more} more groups)");
        }
    }
    let mut c = Check {
        service: SERVICE,
        value: r.stale as f64,
        warning,
        critical,
        text,
        perf: Vec::new(),
    };
    c.perf.push(c.checked_perf("stale"));
    let mut zero_min = |label: &str, v: usize| {
        let mut p = Perf::new(label, v as f64);
        p.min = Some(0.0);
        c.perf.push(p);
    };
    zero_min("connections", r.counts.connections);
    zero_min("established", r.counts.established);
    for (k, v) in labelled(&r.by_reason) {
        zero_min(&k.replace('-', "_"), v);
    }
    c
}

/// munin's groups graph: one field per endpoint and direction (never per owner, which an
/// unprivileged run cannot see), the counts of its processes summed.
fn munin_groups(r: &Report) -> Vec<(String, String, usize)> {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut v: Vec<(String, String, usize)> = Vec::new();
    // a cause outside the filters is context, not a series of this check
    for g in r.groups.iter().filter(|g| !g.outside_filters) {
        let key = g.field_key();
        match index.get(&key) {
            Some(i) => v[*i].2 += g.count,
            None => {
                index.insert(key.clone(), v.len());
                let dir = match g.direction {
                    Direction::Outbound => "to",
                    Direction::Inbound => "from",
                };
                v.push((
                    key,
                    format!("{dir} {}", g.endpoint(Naming::AddressOnly)),
                    g.count,
                ));
            }
        }
    }
    v
}

const REASON_INFO: &str = "Connections opskit conn-audit finds stuck for longer than --idle: connecting, idle without a read timeout, unanswered keepalive, retransmitting, zero window, unread, CLOSE_WAIT. Owners need root: `user root` in plugin-conf.d.";

/// munin's by-reason graph: one stacked area per reason, and every connection as a line.
/// Every reason with its count, by label (the stable order of munin fields and perfdata).
fn labelled(t: &Tally) -> Vec<(&'static str, usize)> {
    let mut v: Vec<(&'static str, usize)> =
        Reason::ALL.iter().map(|r| (r.label(), t.get(*r))).collect();
    v.sort();
    v
}

fn reason_graph(by_reason: &Tally, connections: usize) -> Graph {
    let mut fields: Vec<Field> = labelled(by_reason)
        .into_iter()
        .map(|(k, v)| {
            let mut f = Field::new(k, k, FieldType::Gauge, Some(v as f64));
            f.draw = Some(Draw::AreaStack);
            f.min = Some(0);
            f
        })
        .collect();
    let mut all = Field::new(
        "connections",
        "connections (all)",
        FieldType::Gauge,
        Some(connections as f64),
    );
    all.draw = Some(Draw::Line1);
    all.min = Some(0);
    fields.push(all);
    Graph {
        name: "conn_audit".into(),
        title: "Stale TCP connections by reason".into(),
        vlabel: "connections".into(),
        args: "--base 1000 -l 0".into(),
        category: "network".into(),
        info: Some(REASON_INFO.into()),
        fields,
    }
}

/// munin's per-endpoint graph: the `top` largest groups, the rest summed in `other_groups`.
fn groups_graph(r: &Report, top: usize) -> Graph {
    let all = munin_groups(r);
    let (groups, rest) = largest(&all, top, |g| g.2);
    let rest = with_beyond(rest, r.beyond);
    let mut namer = munin::FieldNamer::new();
    let gauge = |name: &str, label: &str, v: usize| {
        let mut f = Field::new(name, label, FieldType::Gauge, Some(v as f64));
        f.min = Some(0);
        f
    };
    let mut fields: Vec<Field> = groups
        .into_iter()
        .map(|(key, label, count)| gauge(&namer.name(&format!("g_{key}")), label, *count))
        .collect();
    if let Some(rest) = rest {
        fields.push(gauge("other_groups", "other groups", rest.sockets));
    }
    Graph {
        name: "conn_audit.groups".into(),
        title: "Stale TCP connections by peer".into(),
        vlabel: "connections".into(),
        args: "--base 1000 -l 0".into(),
        category: "network".into(),
        info: None,
        fields,
    }
}

/// munin: the by-reason graph and the per-endpoint graph, for `output::munin::write`.
pub(crate) fn munin_graphs(r: &Report, top: usize) -> Vec<Graph> {
    vec![
        reason_graph(&r.by_reason, r.counts.connections),
        groups_graph(r, top),
    ]
}

/// munin when the audit failed: the by-reason graph every run has, to be written with
/// `Values::Unknown` (every field `U`, never a made-up zero). The per-endpoint fields
/// depend on what a run finds, so that graph is left out until a run succeeds again.
pub(crate) fn munin_graphs_failed() -> Vec<Graph> {
    vec![reason_graph(&Tally::default(), 0)]
}

/// Prometheus: the socket counts, the stale ones by reason, the unowned ones, and the `top`
/// largest groups (the rest summed), for `output::prometheus::write`.
pub(crate) fn prometheus_families(r: &Report, top: usize) -> Vec<Family> {
    let mut sockets = Family::new(
        "opskit_conn_audit_sockets",
        Kind::Gauge,
        "TCP sockets scanned by conn-audit (scanned: every socket read; netlink reads ESTABLISHED, CLOSE_WAIT, SYN_SENT, SYN_RECV and LISTEN only), by state.",
    );
    let c = &r.counts;
    for (state, n) in [
        ("scanned", c.scanned),
        ("connections", c.connections),
        ("established", c.established),
        ("close_wait", c.close_wait),
        ("syn_sent", c.syn_sent),
        ("syn_recv", c.syn_recv),
        ("fin_wait2", c.fin_wait2),
    ] {
        sockets.push(&[("state", state)], n as f64);
    }
    let mut stale = Family::new(
        "opskit_conn_audit_stale",
        Kind::Gauge,
        "Stale TCP connections by reason.",
    );
    for (k, v) in labelled(&r.by_reason) {
        stale.push(&[("reason", k)], v as f64);
    }
    let mut unowned = Family::new(
        "opskit_conn_audit_unowned",
        Kind::Gauge,
        "Stale sockets whose owning process could not be found.",
    );
    unowned.push(&[], r.unowned as f64);
    let [count, max_idle, rank] = group_families(r, top);
    vec![sockets, stale, unowned, count, max_idle, rank]
}

/// A group's Prometheus labels: its identity ([`GroupKey`]), one label set per group.
fn group_labels(g: &Group) -> [(&'static str, String); 5] {
    let k = &g.key;
    [
        (
            "remote",
            k.remote
                .map_or_else(|| "*".to_string(), |ip| ip.to_string()),
        ),
        ("port", k.port.to_string()),
        // the key's process, or for an accept queue its listener's (one per port)
        ("process", g.process.clone().unwrap_or_default()),
        (
            "direction",
            match k.direction {
                Direction::Outbound => "outbound",
                Direction::Inbound => "inbound",
            }
            .to_string(),
        ),
        (
            "kind",
            match k.kind {
                GroupKind::Connections => "connections",
                GroupKind::Handshakes => "handshakes",
                GroupKind::AcceptQueue => "accept-queue",
            }
            .to_string(),
        ),
    ]
}

/// The per-group families: stale sockets, the longest stale time, and the rank (1 = fix
/// first: the order of the table, Nagios, munin and JSON).
fn group_families(r: &Report, top: usize) -> [Family; 3] {
    let mut c = Family::new(
        "opskit_conn_audit_group_stale",
        Kind::Gauge,
        "Stale TCP connections per group: outbound by remote endpoint and process, inbound by listening port and process (remote=\"*\"); port is the remote port for outbound connections, the local (listening) port for inbound ones.",
    );
    let mut m = Family::new(
        "opskit_conn_audit_group_max_idle_seconds",
        Kind::Gauge,
        "Longest time a socket of the group has been stale.",
    );
    let mut rank = Family::new(
        "opskit_conn_audit_group_rank",
        Kind::Gauge,
        "The group's rank: 1 = fix first (a silent peer, then a full accept queue, a stuck connect, then symptoms).",
    );
    let inside: Vec<&Group> = r.groups.iter().filter(|g| !g.outside_filters).collect();
    let (groups, rest) = largest(&inside, top, |g| g.count);
    let rest = with_beyond(rest, r.beyond);
    for g in groups {
        let owned = group_labels(g);
        let labels: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
        c.push(&labels, g.count as f64);
        if let Some(i) = g.max_idle_s {
            m.push(&labels, i);
        }
        rank.push(&labels, g.rank as f64);
    }
    if let Some(rest) = rest {
        // the groups beyond --top, summed: the label sets stay few
        c.push(&[("remote", "other")], rest.sockets as f64);
    }
    [c, m, rank]
}

/// A group as JSON: its fields, and beside them the verdict in words (`message`).
#[derive(serde::Serialize)]
struct GroupOut<'a> {
    #[serde(flatten)]
    group: &'a Group,
    /// The group's network namespace.
    netns: &'a str,
    message: String,
}

/// The report as JSON: every field of the report, the groups with their `message`.
#[derive(serde::Serialize)]
pub(crate) struct JsonReport<'a> {
    groups: Vec<GroupOut<'a>>,
    #[serde(flatten)]
    report: &'a Report,
    sockets: SocketsOut<'a>,
}

/// The report's JSON form (see [`JsonReport`]).
pub(crate) fn json(r: &Report) -> JsonReport<'_> {
    JsonReport {
        groups: r
            .groups
            .iter()
            .map(|g| GroupOut {
                group: g,
                netns: r
                    .namespaces
                    .get(g.netns as usize)
                    .map_or("", String::as_str),
                message: verdict(g, r),
            })
            .collect(),
        report: r,
        sockets: SocketsOut {
            list: &r.sockets.0,
            namespaces: &r.namespaces,
        },
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashSet};

    use super::*;
    use crate::conn_audit::judge::verdict::tests::stale;
    use crate::conn_audit::judge::verdict::{report, Meta};
    use crate::conn_audit::judge::{Counts, Owners};
    use crate::conn_audit::model::tcp::TcpState;

    /// The incident with idle and connecting workers on one upstream (3 idle, 2 connecting),
    /// each serving one client (the idle ones' clients gave up, the connecting ones' wait).
    fn incident() -> Report {
        let mut v = Vec::new();
        for i in 0..5u32 {
            let pid = Some((1000 + i, "apache2"));
            let (state, reason) = match i {
                0..=2 => (TcpState::Established, Reason::Idle),
                _ => (TcpState::SynSent, Reason::Connecting),
            };
            v.push(stale(
                &format!("10.0.0.1:{}", 40000 + i),
                "10.0.0.100:80",
                state,
                reason,
                Direction::Outbound,
                pid,
                68_000,
                reason == Reason::Idle,
            ));
            let (state, reason) = match i {
                0..=2 => (TcpState::CloseWait, Reason::CloseWait),
                _ => (TcpState::Established, Reason::Idle),
            };
            v.push(stale(
                "10.0.0.1:443",
                &format!("192.0.2.{}:{}", 7 + i, 50000 + i),
                state,
                reason,
                Direction::Inbound,
                pid,
                90_000,
                true,
            ));
        }
        let meta = Meta {
            source: Source::Netlink,
            root: None,
            netns: Some("net:[4026531840]".into()),
            namespaces: vec!["net:[4026531840]".into()],
            scanned_states: vec!["ESTABLISHED"],
            warnings: vec![],
            idle_ms: 60_000,
        };
        let counts = Counts {
            scanned: 12,
            connections: 10,
            established: 5,
            close_wait: 3,
            syn_sent: 2,
            ..Counts::default()
        };
        report(
            meta,
            v,
            &[],
            counts,
            &BTreeMap::new(),
            &Owners::default(),
            &[],
        )
    }

    /// The table, whole: causes with their evidence first, workers by pid, clients by what
    /// they do, the symptoms naming their cause.
    #[test]
    fn the_incident_table_byte_for_byte() {
        let mut out = String::new();
        write_table(&mut out, &incident(), None, 50);
        assert_eq!(
            out,
            "conn-audit: source netlink, network namespace net:[4026531840] (this process's own)
scanned 12 TCP sockets (ESTABLISHED): 10 connections (5 ESTABLISHED, 3 CLOSE_WAIT, 2 SYN_SENT, 0 SYN_RECV), 10 stale (2 connecting, 3 close-wait, 5 idle), 0 without a known owner
idle threshold 60 s

verdicts:
  3 apache2 processes (3 sockets) blocked on 10.0.0.100:80 for 68 s - the peer does not answer, no read timeout: 3 requests unanswered; their 3 clients gave up (CLOSE_WAIT)
  2 apache2 processes (2 sockets) stuck in connect to 10.0.0.100:80 for at least 68 s - the peer drops SYNs, no connect timeout: 2 connects unanswered; their 2 clients are waiting
  5 sockets of 5 apache2 processes from 5 client addresses on local port 443: 3 clients gave up (CLOSE_WAIT), 2 waiting, their requests unanswered - the process is blocked on 10.0.0.100:80 (the cause)

by remote endpoint, causes first, then by impact:
COUNT  REMOTE             PROCESS  PIDS                      MAX AGE  REASONS
    3  10.0.0.100:80      apache2  1000,1001,1002               68 s  idle=3
    2  10.0.0.100:80      apache2  1003,1004                    68 s  connecting=2
    5  5 clients -> :443  apache2  1000,1001,1002,1003,1004     90 s  close-wait=3 idle=2

by process:
PROCESS  STALE  PIDS
apache2     10  1000,1001,1002,1003,1004
"
        );
    }

    /// #4: one label set per group (idle and connecting workers on one upstream are two
    /// series), parsed back; the rank of every group exported.
    #[test]
    fn prometheus_has_one_series_per_group() {
        let mut out = Vec::new();
        crate::format::prometheus::write(&mut out, &prometheus_families(&incident(), 50)).unwrap();
        let text = String::from_utf8(out).unwrap();
        let mut seen = HashSet::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (series, _) = line.rsplit_once(' ').unwrap();
            assert!(
                seen.insert(series.to_string()),
                "duplicate {series}:\n{text}"
            );
        }
        let stale: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("opskit_conn_audit_group_stale{"))
            .collect();
        assert_eq!(
            stale,
            [
                "opskit_conn_audit_group_stale{remote=\"10.0.0.100\",port=\"80\",process=\"apache2\",direction=\"outbound\",kind=\"connections\"} 3",
                "opskit_conn_audit_group_stale{remote=\"10.0.0.100\",port=\"80\",process=\"apache2\",direction=\"outbound\",kind=\"handshakes\"} 2",
                "opskit_conn_audit_group_stale{remote=\"*\",port=\"443\",process=\"apache2\",direction=\"inbound\",kind=\"connections\"} 5",
            ]
        );
        assert!(text.contains("opskit_conn_audit_group_rank{remote=\"10.0.0.100\",port=\"80\",process=\"apache2\",direction=\"outbound\",kind=\"handshakes\"} 2\n"), "{text}");
    }

    /// #11: a cut PID list says how many it left out.
    #[test]
    fn cut_pid_lists_say_plus_n() {
        let pids: Vec<u32> = (100..115).collect();
        assert_eq!(
            pid_list(&pids, 12),
            "100,101,102,103,104,105,106,107,108,109,110,111,+3"
        );
        assert_eq!(pid_list(&pids[..3], 12), "100,101,102");
    }

    /// #4: `--watch` growth per stable group key: the same report twice grows by +0 in every
    /// group (the idle and connecting groups on one upstream were +81/+71 when they shared a
    /// key).
    #[test]
    fn watch_growth_is_per_group() {
        let r = incident();
        let prev: HashMap<GroupKey, usize> =
            r.groups.iter().map(|g| (g.key.clone(), g.count)).collect();
        assert_eq!(prev.len(), r.groups.len());
        let mut out = String::new();
        write_table(&mut out, &r, Some(&prev), 50);
        let rows: Vec<&str> = out
            .lines()
            .skip_while(|l| !l.starts_with("COUNT"))
            .skip(1)
            .take_while(|l| !l.is_empty())
            .collect();
        assert_eq!(rows.len(), 3, "{out}");
        assert!(
            rows.iter()
                .all(|l| l.split_whitespace().nth(1) == Some("+0")),
            "{out}"
        );
    }
}
