//! conn-audit's report rendered: the table for people (verdicts first, the top-ranked cause
//! on the first verdict line), the Nagios check, munin and Prometheus (the `--top` largest
//! groups, the rest summed: bounded series). JSON is the report's serde form.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use crate::conn_audit::judge::verdict::{fmt_secs, Group, Naming, Report};
use crate::conn_audit::judge::{Direction, Reason, Source};
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

fn rest_of<'a>(rest: impl Iterator<Item = &'a Group>) -> Option<Rest> {
    let (groups, sockets) = rest.fold((0, 0), |(g, s), x| (g + 1, s + x.count));
    (groups > 0).then_some(Rest { groups, sockets })
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

/// What the report read, on one line.
fn header(out: &mut String, r: &Report) {
    let _ = match &r.root {
        Some(root) => writeln!(
            out,
            "conn-audit: source {} under {root} (a capture, not this system)",
            r.source.name()
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
    let parts: Vec<String> = Reason::ALL
        .iter()
        .filter_map(|k| Some((k.label(), *r.by_reason.get(k.label())?)))
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{n} {k}"))
        .collect();
    if parts.is_empty() {
        format!("{} stale", r.stale)
    } else {
        format!("{} stale ({})", r.stale, parts.join(", "))
    }
}

fn group_table(groups: &[Group], prev: Option<&HashMap<String, usize>>) -> String {
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
            let d = g.count as i64 - prev.get(&group_key(g)).copied().unwrap_or(0) as i64;
            row.push(format!("{d:+}"));
        }
        let mut pids: Vec<String> = g.pids.iter().take(8).map(|p| p.to_string()).collect();
        if g.pids.len() > 8 {
            pids.push(format!("+{}", g.pids.len() - 8));
        }
        let mut remote = g.endpoint(Naming::WithName);
        if g.outside_filters {
            remote.push_str(" (outside the filters)");
        }
        row.extend([
            remote,
            g.process.clone().unwrap_or_else(|| "?".into()),
            pids.join(","),
            fmt_age(g.max_idle_s),
            g.reasons
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" "),
        ]);
        t.push(row);
    }
    render(&t)
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
            p.pids
                .iter()
                .take(12)
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(","),
        ]);
    }
    render(&t)
}

/// The table for people; `prev` (with `--watch`) adds each group's growth.
pub(crate) fn write_table(
    out: &mut String,
    r: &Report,
    prev: Option<&HashMap<String, usize>>,
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
    let (groups, rest) = (&r.groups[..shown], rest_of(r.groups[shown..].iter()));
    let _ = writeln!(out, "\nverdicts:");
    for g in groups {
        let _ = writeln!(out, "  {}", g.verdict);
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

fn fmt_age(s: Option<f64>) -> String {
    let Some(s) = s else { return "-".into() };
    let s = s as u64;
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m{}s", s / 60, s % 60),
        7200..=172_799 => format!("{}h{}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{}h", s / 86400, s % 86400 / 3600),
    }
}

/// A group's identity across `--watch` reports.
pub(crate) fn group_key(g: &Group) -> String {
    format!("{}|{}", g.field_key(), g.process.as_deref().unwrap_or(""))
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
    if let Some(g) = r.groups.first() {
        let _ = write!(text, "; {}", g.verdict);
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
    for (k, v) in &r.by_reason {
        zero_min(&k.replace('-', "_"), *v);
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
fn reason_graph(by_reason: &BTreeMap<&'static str, usize>, connections: usize) -> Graph {
    let mut fields: Vec<Field> = by_reason
        .iter()
        .map(|(k, v)| {
            let mut f = Field::new(k, k, FieldType::Gauge, Some(*v as f64));
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
    let reasons = Reason::ALL.iter().map(|k| (k.label(), 0)).collect();
    vec![reason_graph(&reasons, 0)]
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
    ] {
        sockets.push(&[("state", state)], n as f64);
    }
    let mut stale = Family::new(
        "opskit_conn_audit_stale",
        Kind::Gauge,
        "Stale TCP connections by reason.",
    );
    for (k, v) in &r.by_reason {
        stale.push(&[("reason", k)], *v as f64);
    }
    let mut unowned = Family::new(
        "opskit_conn_audit_unowned",
        Kind::Gauge,
        "Stale sockets whose owning process could not be found.",
    );
    unowned.push(&[], r.unowned as f64);
    let [count, max_idle] = group_families(r, top);
    vec![sockets, stale, unowned, count, max_idle]
}

/// The per-group families: stale sockets, and the longest stale time.
fn group_families(r: &Report, top: usize) -> [Family; 2] {
    let mut c = Family::new(
        "opskit_conn_audit_group_stale",
        Kind::Gauge,
        "Stale TCP connections per remote endpoint and process; port is the remote port for outbound connections, the local (listening) port for inbound ones.",
    );
    let mut m = Family::new(
        "opskit_conn_audit_group_max_idle_seconds",
        Kind::Gauge,
        "Longest time a socket of the group has been stale.",
    );
    let inside: Vec<&Group> = r.groups.iter().filter(|g| !g.outside_filters).collect();
    let (groups, rest) = largest(&inside, top, |g| g.count);
    for g in groups {
        // the service port: the remote one for outbound, the local one for inbound
        let port = g.port.or(g.local_port).unwrap_or(0).to_string();
        let process = g.process.clone().unwrap_or_default();
        let direction = match g.direction {
            Direction::Outbound => "outbound",
            Direction::Inbound => "inbound",
        };
        let labels = [
            ("remote", g.remote.as_str()),
            ("port", port.as_str()),
            ("process", process.as_str()),
            ("direction", direction),
        ];
        c.push(&labels, g.count as f64);
        if let Some(i) = g.max_idle_s {
            m.push(&labels, i);
        }
    }
    if let Some(rest) = rest {
        // the groups beyond --top, summed: the label sets stay few
        c.push(&[("remote", "other")], rest.sockets as f64);
    }
    [c, m]
}
