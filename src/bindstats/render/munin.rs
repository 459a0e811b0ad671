//! BIND statistics -> munin graphs, with the perl `bind9_statchannel` plugin's graph names,
//! field names, types and draw order (a site that switches keeps its RRD files), fixed where
//! the perl plugin was wrong. Every graph declares its fields and prints 0 for a counter the
//! document leaves out (BIND 9.10+ omits zero counters), so fields never come and go.
//!
//! Pure: [`Stats`] and [`Settings`] in, [`Graph`]s out.

use std::collections::{BTreeMap, BTreeSet};

use crate::bindstats::model::{strip_digits, view_group, zone_group, Counters, Stats, View};
use crate::format::munin::{clean_fieldname, clean_graphname, Draw, Field, FieldType, Graph};

/// Which zones get a line on the per-zone graph (`MASTERZONES`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MasterZones {
    /// The perl plugin's autodetection: every zone with a serial of at least 100 that has
    /// per-zone counters, up to the cap.
    Auto,
    /// `MASTERZONES=none`.
    Off,
    /// `name/CLASS` keys (a bare name means class IN, as in the perl plugin).
    List(Vec<String>),
}

impl MasterZones {
    /// The perl plugin's syntax: comma separated (spaces accepted too), `none` disables,
    /// `zone` means `zone/IN`.
    pub(crate) fn parse(s: Option<&str>) -> MasterZones {
        let items: Vec<String> = split_list(s.unwrap_or(""))
            .map(|z| {
                if z.contains('/') {
                    z.to_string()
                } else {
                    format!("{z}/IN")
                }
            })
            .collect();
        match items.first().map(String::as_str) {
            None => MasterZones::Auto,
            Some("none/IN") => MasterZones::Off,
            Some(_) => MasterZones::List(items),
        }
    }
}

/// `a,b c` -> `a`, `b`, `c` (the perl plugin's lists are comma separated).
pub(crate) fn split_list(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
}

/// What the plugin was configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Views to graph; empty means every view but `_bind`.
    pub(crate) views: Vec<String>,
    pub(crate) zones: MasterZones,
    /// At most this many autodetected zones per view.
    pub(crate) zone_cap: usize,
    pub(crate) any_warn: String,
    pub(crate) any_crit: String,
    /// Put before every graph name (`ns1_` for a `bind9_ns1` link), empty for the plain link.
    pub(crate) prefix: String,
    /// The zone labels on each view's per-zone graph in the last saved state, each with its
    /// field name then: autodetection keeps them ahead of the cap, and each keeps its field
    /// name, so their RRDs do not stop.
    pub(crate) graphed_before: BTreeMap<String, BTreeMap<String, String>>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            views: Vec::new(),
            zones: MasterZones::Auto,
            zone_cap: 50,
            any_warn: "10".into(),
            any_crit: "50".into(),
            prefix: String::new(),
            graphed_before: BTreeMap::new(),
        }
    }
}

/// A munin threshold for the ANY field, checked: `N`, or munin's range syntax `N:M`, `N:`,
/// `:M`, with finite non-negative numbers (`min <= max`). The perl plugin passed ANYWARN and
/// ANYCRIT through unchecked, so `NaN`, `1e400` or a newline reached munin's config.
pub(crate) fn check_threshold(s: &str) -> Result<String, &'static str> {
    const EXPECTED: &str = "expected a finite number >= 0 or a munin range (N:M, N:, :M)";
    let t = s.trim();
    let bound = |b: &str| -> Result<Option<f64>, &'static str> {
        if b.is_empty() {
            return Ok(None);
        }
        if !b
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+'))
        {
            return Err(EXPECTED);
        }
        match b.parse::<f64>() {
            Ok(v) if v.is_finite() && v >= 0.0 => Ok(Some(v)),
            _ => Err(EXPECTED),
        }
    };
    let ok = match t.split_once(':') {
        Some((lo, hi)) => match (bound(lo)?, bound(hi)?) {
            (None, None) => false,
            (Some(l), Some(h)) => l <= h,
            _ => true,
        },
        None => bound(t)?.is_some(),
    };
    if ok {
        Ok(t.to_string())
    } else {
        Err(EXPECTED)
    }
}

const PER_PERIOD: &str = "Queries / ${graph_period}";

/// The perl plugin's field lists, in its order (its resolver list has all 25 fields,
/// QryRTT800, QryRTT1600 and QryRTT1600+ included: `bindstats_perl::` compares them).
const SERVER_FIELDS: &[&str] = &[
    "QryRecursion",
    "QryNxrrset",
    "Requestv4",
    "Requestv6",
    "Response",
    "QrySuccess",
    "QryAuthAns",
    "QryNoauthAns",
    "QryNXDOMAIN",
    "RespEDNS0",
];
const SOCKET_FIELDS: &[&str] = &[
    "UDP4Open",
    "UDP6Open",
    "TCP4Open",
    "TCP6Open",
    "UDP4Close",
    "UDP6Close",
    "TCP4Close",
    "TCP6Close",
    "UDP4Conn",
    "UDP6Conn",
    "TCP4Conn",
    "TCP6Conn",
    "TCP4Accept",
    "TCP6Accept",
    "TCP6SendErr",
    "UDP4RecvErr",
    "UDP6RecvErr",
    "TCP4RecvErr",
    "TCP6RecvErr",
];
const RESOLVER_FIELDS: &[&str] = &[
    "Queryv4",
    "Queryv6",
    "Responsev4",
    "Responsev6",
    "NXDOMAIN",
    "SERVFAIL",
    "FORMERR",
    "OtherError",
    "EDNS0Fail",
    "Lame",
    "Retry",
    "QueryTimeout",
    "GlueFetchv4",
    "GlueFetchv6",
    "GlueFetchv4Fail",
    "GlueFetchv6Fail",
    "ValAttempt",
    "ValOk",
    "ValNegOk",
    "QryRTT10",
    "QryRTT100",
    "QryRTT500",
    "QryRTT800",
    "QryRTT1600",
    "QryRTT1600+",
];
const CACHE_FIELDS: &[&str] = &[
    "A", "!A", "AAAA", "!AAAA", "DLV", "!DLV", "DS", "!DS", "MX", "!MX", "NS", "NSEC", "CNAME",
    "PTR", "RRSIG", "DNSKEY", "TXT", "NXDOMAIN",
];
/// Query types every server sees: always graphed (0 when absent); others join when seen.
const QTYPES: &[&str] = &[
    "A", "AAAA", "ANY", "CNAME", "DNSKEY", "DS", "HTTPS", "MX", "NS", "PTR", "SOA", "SRV", "TXT",
];
const RCODES: &[&str] = &[
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
    "NXRRSET", "NOTAUTH", "NOTZONE",
];
const OPCODES: &[&str] = &["QUERY", "IQUERY", "STATUS", "NOTIFY", "UPDATE"];
/// 9.18 and 9.20 between them (9.20 has only Malloced and InUse).
const MEMORY: &[&str] = &[
    "BlockSize",
    "ContextSize",
    "InUse",
    "Lost",
    "Malloced",
    "TotalUse",
];

/// The counters the graphs declare, added as 0 where the document leaves them out (BIND
/// 9.10+ omits zero counters, JSON always): the JSON output then has a stable shape too.
/// A counter the document gave as something that is not a count stays absent (listed in
/// `unknown_counters`).
pub(crate) fn declare_known(st: &mut Stats) {
    fn fill(c: &mut Counters, names: &[&str], unknown: &[&str]) {
        for n in names {
            if !unknown.contains(n) {
                c.entry((*n).to_string()).or_insert(0);
            }
        }
    }
    let unk = |g: &str| -> Vec<String> {
        st.unknown
            .get(g)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    fn as_refs(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }
    let (q, r, o, n, so) = (
        unk("qtype"),
        unk("rcode"),
        unk("opcode"),
        unk("nsstat"),
        unk("sockstat"),
    );
    let views: Vec<[Vec<String>; 3]> = st
        .views
        .iter()
        .map(|v| {
            [
                unk(&view_group(&v.name, "resqtype")),
                unk(&view_group(&v.name, "resstats")),
                unk(&view_group(&v.name, "cache")),
            ]
        })
        .collect();
    fill(&mut st.qtypes, QTYPES, &as_refs(&q));
    fill(&mut st.rcodes, RCODES, &as_refs(&r));
    fill(&mut st.opcodes, OPCODES, &as_refs(&o));
    fill(&mut st.nsstat, SERVER_FIELDS, &as_refs(&n));
    fill(&mut st.nsstat, &["Requestv4", "Requestv6"], &as_refs(&n));
    fill(&mut st.sockstat, SOCKET_FIELDS, &as_refs(&so));
    for (v, [rq, rs, c]) in st.views.iter_mut().zip(views) {
        fill(&mut v.resqtype, QTYPES, &as_refs(&rq));
        fill(&mut v.resstats, RESOLVER_FIELDS, &as_refs(&rs));
        fill(&mut v.cache, CACHE_FIELDS, &as_refs(&c));
    }
}

/// How the fields of a graph are drawn.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Lines,
    /// AREA for the first field, STACK for the rest (the perl plugin's stacked graphs)
    Stacked,
}

struct Spec<'a> {
    name: String,
    title: String,
    vlabel: &'a str,
    args: &'a str,
    style: Style,
}

fn spec<'a>(s: &Settings, name: &str, title: &str, vlabel: &'a str, style: Style) -> Spec<'a> {
    Spec {
        name: format!("{}{name}", s.prefix),
        title: title.to_string(),
        vlabel,
        args: "-l 0",
        style,
    }
}

fn build(sp: Spec, fields: Vec<Field>) -> Graph {
    let mut fields = fields;
    if sp.style == Style::Stacked {
        for (i, f) in fields.iter_mut().enumerate() {
            f.draw = Some(if i == 0 { Draw::Area } else { Draw::Stack });
        }
    }
    Graph {
        name: clean_graphname(&sp.name),
        title: sp.title,
        vlabel: sp.vlabel.to_string(),
        args: sp.args.to_string(),
        category: "dns".into(),
        info: None,
        fields,
    }
}

fn counter(name: &str, v: u64) -> Field {
    let mut f = Field::new(name, name, FieldType::Derive, Some(v as f64));
    f.min = Some(0);
    f
}

fn gauge(name: &str, v: u64) -> Field {
    Field::new(name, name, FieldType::Gauge, Some(v as f64))
}

/// A field for `k`: its value, 0 when the document leaves it out, `U` when the document
/// says something that is not a count (`unknown`).
fn value_of(c: &Counters, unknown: &[&str], k: &str, make: fn(&str, u64) -> Field) -> Field {
    let mut f = make(k, c.get(k).copied().unwrap_or(0));
    if unknown.contains(&k) {
        f.value = None;
    }
    f
}

/// `list` in its order, each with its value or 0 (`U` for an unknown one).
fn listed(
    c: &Counters,
    unknown: &[&str],
    list: &[&str],
    make: fn(&str, u64) -> Field,
) -> Vec<Field> {
    list.iter().map(|k| value_of(c, unknown, k, make)).collect()
}

/// The declared names and every present (or unknown) one, sorted (the perl plugin's order).
fn declared_and_seen(
    c: &Counters,
    unknown: &[&str],
    declared: &[&str],
    make: fn(&str, u64) -> Field,
) -> Vec<Field> {
    let names: BTreeSet<&str> = declared
        .iter()
        .copied()
        .chain(c.keys().map(String::as_str))
        .chain(unknown.iter().copied())
        .collect();
    names
        .into_iter()
        .map(|k| value_of(c, unknown, k, make))
        .collect()
}

/// The zone labels of each view's per-zone graph among saved graphs (see
/// [`Settings::graphed_before`]).
pub(crate) fn zones_graphed(
    saved: &[Graph],
    s: &Settings,
    st: &Stats,
) -> BTreeMap<String, BTreeMap<String, String>> {
    st.views
        .iter()
        .filter_map(|v| {
            let name = clean_graphname(&format!("{}masterzone_reqs_{}", s.prefix, v.name));
            let g = saved.iter().find(|g| g.name == name)?;
            Some((
                v.name.clone(),
                g.fields
                    .iter()
                    .map(|f| (f.label.clone(), f.name.clone()))
                    .collect(),
            ))
        })
        .collect()
}

/// Every graph for a document.
pub fn graphs(st: &Stats, s: &Settings) -> Vec<Graph> {
    let mut g = server_graphs(st, s);
    for v in graphed_views(st, s) {
        g.extend(view_graphs(st, v, s));
        if let Some(z) = zone_graph(st, v, s) {
            g.push(z);
        }
    }
    g.sort_by(|a, b| a.name.cmp(&b.name));
    g
}

/// The views the settings select: the named ones, else all but `_bind`.
fn graphed_views<'a>(st: &'a Stats, s: &'a Settings) -> impl Iterator<Item = &'a View> {
    st.views.iter().filter(move |v| {
        if s.views.is_empty() {
            v.name != "_bind"
        } else {
            s.views.contains(&v.name)
        }
    })
}

fn server_graphs(st: &Stats, s: &Settings) -> Vec<Graph> {
    let mut q = declared_and_seen(&st.qtypes, &st.unknown_in("qtype"), QTYPES, counter);
    if let Some(any) = q.iter_mut().find(|f| f.name == "ANY") {
        any.info = Some("ANY queries".into());
        any.warning = Some(s.any_warn.clone());
        any.critical = Some(s.any_crit.clone());
    }
    let stacked = Style::Stacked;
    let mut out = vec![
        build(spec(s, "queries_in", "Queries In", PER_PERIOD, stacked), q),
        build(
            spec(
                s,
                "requests_ip",
                "Requests, IPv4 vs IPv6",
                PER_PERIOD,
                stacked,
            ),
            listed(
                &st.nsstat,
                &st.unknown_in("nsstat"),
                &["Requestv4", "Requestv6"],
                counter,
            ),
        ),
        build(
            spec(s, "rcodes", "Responses, by rcode", PER_PERIOD, stacked),
            declared_and_seen(&st.rcodes, &st.unknown_in("rcode"), RCODES, counter),
        ),
        build(
            spec(s, "opcodes", "Requests, by opcode", PER_PERIOD, stacked),
            declared_and_seen(&st.opcodes, &st.unknown_in("opcode"), OPCODES, counter),
        ),
        build(
            spec(
                s,
                "server_statistics",
                "Server Statistics",
                "Usage (Queries / ${graph_period})",
                Style::Lines,
            ),
            listed(&st.nsstat, &st.unknown_in("nsstat"), SERVER_FIELDS, counter),
        ),
        build(
            spec(
                s,
                "socket_io_statistics",
                "Socket I/O Statistics",
                "Derived Count",
                Style::Lines,
            ),
            listed(
                &st.sockstat,
                &st.unknown_in("sockstat"),
                SOCKET_FIELDS,
                counter,
            ),
        ),
        memory_summary(st, s),
        memory_contexts(st, s),
    ];
    if let Some(t) = &st.tasks {
        out.push(build(
            spec(s, "tasks", "Tasks", "Tasks", Style::Lines),
            vec![Field::new(
                "tasks",
                "Tasks",
                FieldType::Gauge,
                Some(t.distinct_names as f64),
            )],
        ));
    }
    out
}

fn memory_summary(st: &Stats, s: &Settings) -> Graph {
    // TotalUse is cumulative (bytes ever allocated): DERIVE, as in the perl plugin
    let fields = declared_and_seen(&st.memory, &st.unknown_in("memory"), MEMORY, |k, v| {
        if k == "TotalUse" {
            counter(k, v)
        } else {
            gauge(k, v)
        }
    });
    let mut sp = spec(
        s,
        "memory_usage_summary",
        "Memory Usage Summary",
        "Memory in Use",
        Style::Lines,
    );
    sp.args = "-l 0 --base 1024";
    build(sp, fields)
}

/// Contexts summed under the perl plugin's names (`res0`...`res30` -> `res`): the perl plugin
/// kept one context of those sharing a name, opskit adds them all up.
fn memory_contexts(st: &Stats, s: &Settings) -> Graph {
    let mut sums: BTreeMap<&str, u64> = BTreeMap::new();
    for (name, v) in &st.contexts {
        let n = strip_digits(name, u8::is_ascii_digit);
        let n = if n.bytes().all(|b| b.is_ascii_alphabetic()) {
            n
        } else {
            name.as_str()
        };
        let e = sums.entry(n).or_default();
        *e = e.saturating_add(*v);
    }
    let fields = sums.into_iter().map(|(k, v)| gauge(k, v)).collect();
    let mut sp = spec(
        s,
        "memory_contexts",
        "Memory Context \"In Use\"",
        "Memory Used",
        Style::Lines,
    );
    sp.args = "-l 0 --base 1024";
    build(sp, fields)
}

fn view_graphs(st: &Stats, v: &View, s: &Settings) -> Vec<Graph> {
    let vn = &v.name;
    let cache = listed(
        &v.cache,
        &st.unknown_in(&view_group(vn, "cache")),
        CACHE_FIELDS,
        gauge,
    );
    vec![
        build(
            spec(
                s,
                &format!("queries_out_{vn}"),
                &format!("Queries Out {vn}"),
                PER_PERIOD,
                Style::Stacked,
            ),
            declared_and_seen(
                &v.resqtype,
                &st.unknown_in(&view_group(vn, "resqtype")),
                QTYPES,
                counter,
            ),
        ),
        build(
            spec(
                s,
                &format!("resolver_statistics_{vn}"),
                &format!("Resolver Statistics for View {vn}"),
                "Derived Count",
                Style::Lines,
            ),
            listed(
                &v.resstats,
                &st.unknown_in(&view_group(vn, "resstats")),
                RESOLVER_FIELDS,
                counter,
            ),
        ),
        build(
            spec(
                s,
                &format!("cache_db_rrsets_{vn}"),
                &format!("Cache DB RRsets for View {vn}"),
                "Derived Count",
                Style::Stacked,
            ),
            cache,
        ),
    ]
}

/// The perl plugin's per-zone graph: one line per zone, its authoritative answers
/// (QryAuthAns), stacked. Zones whose munin field names would be the same (munin turns a
/// leading digit into `_`: `0.168.192.in-addr.arpa` and `1.168.192.in-addr.arpa` both
/// become `__168_192_in_addr_arpa`) each get a suffix of a hash of their real name, which
/// stays their label; the perl plugin printed them all under one name, which the munin
/// master merged into one RRD.
fn zone_graph(st: &Stats, v: &View, s: &Settings) -> Option<Graph> {
    let key = |z: &crate::bindstats::model::Zone| {
        if z.class.is_empty() {
            z.name.clone()
        } else {
            format!("{}/{}", z.name, z.class)
        }
    };
    let auth = |z: &crate::bindstats::model::Zone| z.rcodes.get("QryAuthAns").copied();
    let (zones, dropped): (Vec<_>, usize) = match &s.zones {
        MasterZones::Off => return None,
        MasterZones::List(want) => (
            v.zones.iter().filter(|z| want.contains(&key(z))).collect(),
            0,
        ),
        MasterZones::Auto => {
            let mut all: Vec<_> = v
                .zones
                .iter()
                .filter(|z| z.serial.is_some_and(|n| n >= 100) && !z.rcodes.is_empty())
                .collect();
            // the busiest first; a zone graphed last time keeps its place (its RRD goes on)
            let before = s.graphed_before.get(&v.name);
            let was = |z: &crate::bindstats::model::Zone| {
                before.is_some_and(|b| b.contains_key(&zone_label(z)))
            };
            all.sort_by(|a, b| {
                was(b)
                    .cmp(&was(a))
                    .then(auth(b).cmp(&auth(a)))
                    .then(key(a).cmp(&key(b)))
            });
            let extra = all.len().saturating_sub(s.zone_cap);
            (all.into_iter().take(s.zone_cap).collect(), extra)
        }
    };
    if zones.is_empty() {
        return None;
    }
    // one line per zone (an IN and a CH zone of one name are two); `U` for a count that
    // was not one
    let mut labelled: BTreeMap<String, Option<u64>> = BTreeMap::new();
    for z in zones {
        let bad = st.is_unknown(&zone_group(&v.name, &z.name, "rcode"), "QryAuthAns");
        labelled.entry(zone_label(z)).or_insert(if bad {
            None
        } else {
            Some(auth(z).unwrap_or(0))
        });
    }
    let mut by_base: BTreeMap<String, Vec<&String>> = BTreeMap::new();
    for l in labelled.keys() {
        by_base
            .entry(clean_fieldname(&l.replace(['.', '/'], "_")))
            .or_default()
            .push(l);
    }
    // A zone graphed by the last run keeps the field name it had (its RRD goes on), whatever
    // zones appeared since; only zones new to the graph get a hash suffix when their name
    // collides with another's or with a name kept.
    let before = s.graphed_before.get(&v.name);
    let mut named: BTreeMap<&String, String> = BTreeMap::new();
    let mut taken: BTreeMap<String, Field> = BTreeMap::new();
    for l in labelled.keys() {
        if let Some(old) = before.and_then(|b| b.get(l)) {
            if !taken.contains_key(old) && *old == clean_fieldname(old) && !old.is_empty() {
                taken.insert(old.clone(), counter(old, 0));
                named.insert(l, old.clone());
            }
        }
    }
    for (base, labels) in &by_base {
        let fresh: Vec<&&String> = labels.iter().filter(|l| !named.contains_key(**l)).collect();
        for l in fresh {
            // a name no other zone shares keeps it plain; colliders all get a suffix (as on
            // the first run, whose names the state then keeps)
            let name = if labels.len() == 1 && !taken.contains_key(base) {
                base.clone()
            } else {
                distinct(base, l, &by_base, &taken)
            };
            taken.insert(name.clone(), counter(&name, 0));
            named.insert(l, name);
        }
    }
    let mut fields: BTreeMap<String, Field> = BTreeMap::new();
    let mut renamed = Vec::new();
    for (l, name) in &named {
        let base = clean_fieldname(&l.replace(['.', '/'], "_"));
        if *name != base {
            renamed.push(l.as_str());
        }
        let mut f = counter(name, labelled[*l].unwrap_or(0));
        f.value = labelled[*l].map(|n| n as f64);
        f.label = (*l).clone();
        fields.insert(f.name.clone(), f);
    }
    let mut g = build(
        spec(
            s,
            &format!("masterzone_reqs_{}", v.name),
            &format!(
                "Authoritatively answered queries per zone for View {}",
                v.name
            ),
            PER_PERIOD,
            Style::Stacked,
        ),
        fields.into_values().collect(),
    );
    let mut info = Vec::new();
    if dropped > 0 {
        info.push(format!(
            "{dropped} more zones were found but not graphed: the {} busiest by authoritative \
             answers are (those graphed before kept first). Raise the cap with env.MAXZONES \
             (--max-zones) or name the zones in env.MASTERZONES.",
            s.zone_cap
        ));
    }
    if !renamed.is_empty() {
        info.push(format!(
            "Zones whose munin field names would be the same end in a hash of their name \
             (the label is the zone): {}.",
            renamed.join(", ")
        ));
    }
    if !info.is_empty() {
        g.info = Some(info.join(" "));
    }
    Some(g)
}

/// A zone's line label: its name, with its class unless IN (the perl plugin strips `/IN`
/// only).
fn zone_label(z: &crate::bindstats::model::Zone) -> String {
    if z.class == "IN" || z.class.is_empty() {
        z.name.clone()
    } else {
        format!("{}/{}", z.name, z.class)
    }
}

/// `base_HASH`: 6 hex digits of a stable hash (FNV-1a) of the zone's label, longer should
/// that name be taken.
fn distinct(
    base: &str,
    label: &str,
    bases: &BTreeMap<String, Vec<&String>>,
    taken: &BTreeMap<String, Field>,
) -> String {
    let h = label.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let hex = format!("{h:016x}");
    for n in [6, 10, 16] {
        let c = format!("{base}_{}", &hex[..n]);
        if !taken.contains_key(&c) && !bases.contains_key(&c) {
            return c;
        }
    }
    format!("{base}_{hex}_{}", taken.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindstats::model::{Tasks, Zone};

    fn names(g: &Graph) -> Vec<&str> {
        g.fields.iter().map(|f| f.name.as_str()).collect()
    }

    #[test]
    fn thresholds_are_finite_non_negative_numbers_or_munin_ranges() {
        for ok in [
            "10", " 50 ", "0", "2.5", "1e3", "5:", ":50", "10:50", "10:10",
        ] {
            assert_eq!(check_threshold(ok).as_deref(), Ok(ok.trim()), "{ok}");
        }
        for bad in [
            "",
            ":",
            "NaN",
            "nan",
            "inf",
            "-inf",
            "1e400",
            "-1",
            "-1:5",
            "5:-1",
            "50:10",
            "10\nANY.value 5",
            "1,5",
            "0x10",
            "10 20",
            "1:2:3",
            "abc",
        ] {
            assert!(check_threshold(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn masterzones_syntax() {
        assert_eq!(MasterZones::parse(None), MasterZones::Auto);
        assert_eq!(MasterZones::parse(Some(" ")), MasterZones::Auto);
        assert_eq!(MasterZones::parse(Some("none")), MasterZones::Off);
        assert_eq!(
            MasterZones::parse(Some("example.com,example.net/IN version.bind/CH")),
            MasterZones::List(vec![
                "example.com/IN".into(),
                "example.net/IN".into(),
                "version.bind/CH".into()
            ])
        );
    }

    #[test]
    fn declared_fields_print_zero_and_the_rtt_fields_are_back() {
        let st = Stats {
            views: vec![View {
                name: "my-view.x".into(),
                ..Default::default()
            }],
            tasks: Some(Tasks {
                distinct_names: 7,
                ..Default::default()
            }),
            ..Default::default()
        };
        let gs = graphs(&st, &Settings::default());
        let r = gs
            .iter()
            .find(|g| g.name == "resolver_statistics_my-view.x")
            .unwrap();
        assert_eq!(r.fields.len(), 25);
        assert!(names(r).ends_with(&["QryRTT800", "QryRTT1600", "QryRTT1600_"]));
        assert!(r.fields.iter().all(|f| f.value == Some(0.0)));
        let q = gs.iter().find(|g| g.name == "queries_in").unwrap();
        let any = q.fields.iter().find(|f| f.name == "ANY").unwrap();
        assert_eq!(
            (any.warning.as_deref(), any.critical.as_deref()),
            (Some("10"), Some("50"))
        );
        assert_eq!(q.fields[0].draw, Some(Draw::Area));
        assert!(q.fields[1..].iter().all(|f| f.draw == Some(Draw::Stack)));
        let m = gs
            .iter()
            .find(|g| g.name == "memory_usage_summary")
            .unwrap();
        let tu = m.fields.iter().find(|f| f.name == "TotalUse").unwrap();
        assert_eq!(tu.kind, FieldType::Derive);
        let t = gs.iter().find(|g| g.name == "tasks").unwrap();
        assert_eq!(t.fields[0].value, Some(7.0));
    }

    #[test]
    fn declared_counters_fill_in_but_never_overwrite() {
        let mut st = Stats::default();
        st.qtypes.insert("A".into(), 5);
        st.views.push(View::default());
        declare_known(&mut st);
        assert_eq!(st.qtypes["A"], 5);
        assert_eq!(st.qtypes["ANY"], 0);
        assert_eq!(st.views[0].resstats["QryRTT1600+"], 0);
        assert_eq!(st.sockstat.len(), SOCKET_FIELDS.len());
    }

    #[test]
    fn contexts_are_summed_under_the_perl_names() {
        let mut st = Stats::default();
        for (k, v) in [
            ("res0", 1),
            ("res12", 2),
            ("client", 4),
            ("dns_cache1", 8),
            ("9x", 16),
        ] {
            st.contexts.insert(k.into(), v);
        }
        let gs = graphs(&st, &Settings::default());
        let c = gs.iter().find(|g| g.name == "memory_contexts").unwrap();
        let got: Vec<(&str, f64)> = c
            .fields
            .iter()
            .map(|f| (f.name.as_str(), f.value.unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                ("_x", 16.0),
                ("client", 4.0),
                ("dns_cache1", 8.0),
                ("res", 3.0)
            ]
        );
    }

    #[test]
    fn colliding_zone_field_names_are_made_distinct_and_stable() {
        let zones = [
            "0.168.192.in-addr.arpa",
            "1.168.192.in-addr.arpa",
            "2.168.192.in-addr.arpa",
            "10.0.10.in-addr.arpa",
            "20.0.10.in-addr.arpa",
            "example.com",
        ];
        let st = |order: &[&str]| Stats {
            views: vec![View {
                name: "v".into(),
                zones: order
                    .iter()
                    .enumerate()
                    .map(|(i, n)| Zone {
                        name: (*n).into(),
                        class: "IN".into(),
                        serial: Some(2024),
                        rcodes: [("QryAuthAns".to_string(), i as u64)].into_iter().collect(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let listed = Settings {
            zones: MasterZones::parse(Some(&zones[..5].join(","))),
            ..Default::default()
        };
        let g = graphs(&st(&zones), &listed)
            .into_iter()
            .find(|g| g.name == "masterzone_reqs_v")
            .unwrap();
        assert_eq!(g.fields.len(), 5, "{:?}", names(&g));
        let mut labels: Vec<&str> = g.fields.iter().map(|f| f.label.as_str()).collect();
        labels.sort();
        let mut want = zones[..5].to_vec();
        want.sort();
        assert_eq!(labels, want);
        for f in &g.fields {
            assert!(clean_fieldname(&f.name) == f.name, "{}", f.name);
            assert!(
                f.name.starts_with("__168_192_in_addr_arpa_")
                    || f.name.starts_with("_0_0_10_in_addr_arpa_"),
                "{}",
                f.name
            );
        }
        let info = g.info.as_deref().unwrap();
        assert!(
            info.contains("hash of their name") && info.contains("20.0.10.in-addr.arpa"),
            "{info}"
        );
        // stable: the same names whatever the document order
        let mut rev = zones.to_vec();
        rev.reverse();
        let again = graphs(&st(&rev), &listed)
            .into_iter()
            .find(|g| g.name == "masterzone_reqs_v")
            .unwrap();
        let pairs = |g: &Graph| -> std::collections::BTreeMap<String, String> {
            g.fields
                .iter()
                .map(|f| (f.label.clone(), f.name.clone()))
                .collect()
        };
        assert_eq!(pairs(&g), pairs(&again));
        // the healthy twin: names that do not collide keep their plain field name, no info
        let plain = Settings {
            zones: MasterZones::parse(Some("example.com,0.168.192.in-addr.arpa")),
            ..Default::default()
        };
        let g = graphs(&st(&zones), &plain)
            .into_iter()
            .find(|g| g.name == "masterzone_reqs_v")
            .unwrap();
        assert_eq!(names(&g), ["__168_192_in_addr_arpa", "example_com"]);
        assert_eq!(g.info, None);
    }

    #[test]
    fn zones_autodetected_capped_listed_or_off() {
        let z = |n: &str, serial, auth| Zone {
            name: n.into(),
            class: "IN".into(),
            serial: Some(serial),
            rcodes: [("QryAuthAns".to_string(), auth)].into_iter().collect(),
            ..Default::default()
        };
        let st = Stats {
            views: vec![View {
                name: "v".into(),
                zones: vec![
                    z("a.example", 100, 5),
                    z("b.example", 2024, 6),
                    z("localhost", 2, 1),
                ],
                ..Default::default()
            }],
            ..Default::default()
        };
        let find = |s: &Settings| {
            graphs(&st, s)
                .into_iter()
                .find(|g| g.name.contains("masterzone_reqs_"))
        };
        let g = find(&Settings::default()).unwrap();
        assert_eq!(names(&g), ["a_example", "b_example"]);
        assert_eq!(g.fields[1].value, Some(6.0));
        // the cap keeps the busiest (b: 6 answers, a: 5) ...
        let capped = find(&Settings {
            zone_cap: 1,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(names(&capped), ["b_example"]);
        let info = capped.info.unwrap();
        assert!(info.contains("1 more zones"), "{info}");
        assert!(info.contains("env.MAXZONES"), "{info}");
        // ... unless the other was graphed last time: its RRD goes on
        let kept = find(&Settings {
            zone_cap: 1,
            graphed_before: [(
                "v".to_string(),
                [("a.example".to_string(), "a_example".to_string())].into(),
            )]
            .into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(names(&kept), ["a_example"]);
        let off = Settings {
            zones: MasterZones::parse(Some("none")),
            ..Default::default()
        };
        assert!(find(&off).is_none());
        let listed = Settings {
            zones: MasterZones::parse(Some("localhost")),
            prefix: "ns1_".into(),
            ..Default::default()
        };
        let g = find(&listed).unwrap();
        assert_eq!(g.name, "ns1_masterzone_reqs_v");
        assert_eq!(names(&g), ["localhost"]);
    }
}
