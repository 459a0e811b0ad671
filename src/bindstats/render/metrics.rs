//! BIND statistics -> Prometheus metric families, named, labelled and typed as
//! prometheus-community/bind_exporter exports them (dashboards and alerts written for it keep
//! working), plus what opskit adds (socket and memory counters). Rendered by
//! `output::prometheus`.
//!
//! Pure: [`Stats`] in, families out; [`down`] is what a failed fetch exports (`bind_up 0`).

use crate::bindstats::model::process::NamedProcess;
use crate::bindstats::model::{view_group, Counters, Stats, View};
use crate::format::prometheus::{Family, Kind};

const UP_HELP: &str = "Was the Bind instance query successful?";

/// `bind_up 0` alone: what a failed fetch exports.
pub(crate) fn down() -> Vec<Family> {
    let mut up = Family::new("bind_up", Kind::Gauge, UP_HELP);
    up.push(&[], 0.0);
    vec![up]
}

/// nsstat counters bind_exporter folds into a labelled family: (counter, family, label value).
const SERVER_LABELLED: &[(&str, &str, &str)] = &[
    ("QryDropped", "bind_query_errors_total", "Dropped"),
    ("QryFailure", "bind_query_errors_total", "Failure"),
    ("QrySuccess", "bind_responses_total", "Success"),
    ("QryReferral", "bind_responses_total", "Referral"),
    ("QryNxrrset", "bind_responses_total", "Nxrrset"),
    ("QrySERVFAIL", "bind_responses_total", "SERVFAIL"),
    ("QryFORMERR", "bind_responses_total", "FORMERR"),
    ("QryNXDOMAIN", "bind_responses_total", "NXDOMAIN"),
];

/// nsstat/zonestat counters bind_exporter exports as their own metric: (counter, metric,
/// type, help).
const SERVER_SINGLE: &[(&str, &str, Kind, &str)] = &[
    (
        "QryDuplicate",
        "bind_query_duplicates_total",
        Kind::Counter,
        "Number of duplicated queries received.",
    ),
    (
        "QryRecursion",
        "bind_query_recursions_total",
        Kind::Counter,
        "Number of queries causing recursion.",
    ),
    (
        "XfrRej",
        "bind_zone_transfer_rejected_total",
        Kind::Counter,
        "Number of rejected zone transfers.",
    ),
    (
        "XfrSuccess",
        "bind_zone_transfer_success_total",
        Kind::Counter,
        "Number of successful zone transfers.",
    ),
    (
        "XfrFail",
        "bind_zone_transfer_failure_total",
        Kind::Counter,
        "Number of failed zone transfers.",
    ),
    // a gauge: bind_exporter exports it as a counter, which rate() misreads
    (
        "RecursClients",
        "bind_recursive_clients",
        Kind::Gauge,
        "Number of current recursive clients.",
    ),
    (
        "RPZRewrites",
        "bind_response_policy_zone_rewrites_total",
        Kind::Counter,
        "Number of response policy zone rewrites.",
    ),
];

/// Per-view resolver counters exported as their own metric.
const RESOLVER_SINGLE: &[(&str, &str, &str)] = &[
    (
        "Lame",
        "bind_resolver_response_lame_total",
        "Number of lame delegation responses received.",
    ),
    (
        "EDNS0Fail",
        "bind_resolver_query_edns0_errors_total",
        "Number of EDNS(0) query errors.",
    ),
    (
        "Mismatch",
        "bind_resolver_response_mismatch_total",
        "Number of mismatch responses received.",
    ),
    (
        "Retry",
        "bind_resolver_query_retries_total",
        "Number of resolver query retries.",
    ),
    (
        "Truncated",
        "bind_resolver_response_truncated_total",
        "Number of truncated responses received.",
    ),
    (
        "ValFail",
        "bind_resolver_dnssec_validation_errors_total",
        "Number of DNSSEC validation attempt errors.",
    ),
];

/// Per-view resolver counters folded into a labelled family: (counter, family, label).
const RESOLVER_LABELLED: &[(&str, &str, &str)] = &[
    ("QueryAbort", "bind_resolver_query_errors_total", "error"),
    ("QuerySockFail", "bind_resolver_query_errors_total", "error"),
    ("QueryTimeout", "bind_resolver_query_errors_total", "error"),
    ("NXDOMAIN", "bind_resolver_response_errors_total", "error"),
    ("SERVFAIL", "bind_resolver_response_errors_total", "error"),
    ("FORMERR", "bind_resolver_response_errors_total", "error"),
    ("OtherError", "bind_resolver_response_errors_total", "error"),
    ("REFUSED", "bind_resolver_response_errors_total", "error"),
    (
        "ValOk",
        "bind_resolver_dnssec_validation_success_total",
        "result",
    ),
    (
        "ValNegOk",
        "bind_resolver_dnssec_validation_success_total",
        "result",
    ),
];

fn help_of(name: &str) -> &'static str {
    match name {
        "bind_query_errors_total" => "Number of query failures.",
        "bind_responses_total" => "Number of responses sent.",
        "bind_resolver_query_errors_total" => "Number of resolver queries failed.",
        "bind_resolver_response_errors_total" => "Number of resolver response errors received.",
        "bind_resolver_dnssec_validation_success_total" => {
            "Number of DNSSEC validation attempts succeeded."
        }
        _ => "",
    }
}

fn family(name: &str, kind: Kind, help: &str, label: &str, c: &Counters) -> Family {
    let mut f = Family::new(name, kind, help);
    for (k, v) in c {
        f.push(&[(label, k)], *v as f64);
    }
    f
}

/// Families named in `table` order, created on first use.
#[derive(Default)]
struct Families(Vec<Family>);

impl Families {
    fn get(&mut self, name: &str, kind: Kind, help: &str) -> &mut Family {
        let i = match self.0.iter().position(|f| f.name == name) {
            Some(i) => i,
            None => {
                self.0.push(Family::new(name, kind, help));
                self.0.len() - 1
            }
        };
        &mut self.0[i]
    }
}

/// named's process families, under bind_exporter's names (its `--bind.pid-file`).
pub(crate) fn process_families(p: &NamedProcess) -> Vec<Family> {
    let mut out = Vec::new();
    let mut one = |name: &str, kind: Kind, help: &str, v: f64| {
        let mut f = Family::new(name, kind, help);
        f.push(&[], v);
        out.push(f);
    };
    one(
        "bind_process_cpu_seconds_total",
        Kind::Counter,
        "Total user and system CPU time spent in seconds.",
        p.cpu_seconds,
    );
    if let Some(n) = p.open_fds {
        one(
            "bind_process_open_fds",
            Kind::Gauge,
            "Number of open file descriptors.",
            n as f64,
        );
    }
    one(
        "bind_process_max_fds",
        Kind::Gauge,
        "Maximum number of open file descriptors.",
        p.max_fds.map_or(f64::INFINITY, |n| n as f64),
    );
    one(
        "bind_process_virtual_memory_bytes",
        Kind::Gauge,
        "Virtual memory size in bytes.",
        p.virtual_memory_bytes as f64,
    );
    one(
        "bind_process_resident_memory_bytes",
        Kind::Gauge,
        "Resident memory size in bytes.",
        p.resident_memory_bytes as f64,
    );
    one(
        "bind_process_start_time_seconds",
        Kind::Gauge,
        "Start time of the process since unix epoch in seconds.",
        p.start_time_seconds,
    );
    out
}

/// Every family for a document.
pub fn families(st: &Stats) -> Vec<Family> {
    let mut up = Family::new("bind_up", Kind::Gauge, UP_HELP);
    up.push(&[], 1.0);
    let mut out = vec![up];
    out.extend(times(st));
    out.extend(server_families(st));
    out.extend(resolver_families(st));
    out.extend(zone_serials(&st.views));
    out.extend(task_families(st));
    out.extend(opskit_families(st));
    if let Some(p) = &st.named_process {
        out.extend(process_families(p));
    }
    out
}

fn times(st: &Stats) -> Vec<Family> {
    let mut out = Vec::new();
    for (t, name, help) in [
        (
            &st.boot_time,
            "bind_boot_time_seconds",
            "Start time of the BIND process since unix epoch in seconds.",
        ),
        (
            &st.config_time,
            "bind_config_time_seconds",
            "Time of the last reconfiguration since unix epoch in seconds.",
        ),
    ] {
        if let Some(secs) = t.as_deref().and_then(iso8601_seconds) {
            let mut f = Family::new(name, Kind::Gauge, help);
            f.push(&[], secs as f64);
            out.push(f);
        }
    }
    out
}

fn server_families(st: &Stats) -> Vec<Family> {
    let mut out = vec![
        family(
            "bind_incoming_queries_total",
            Kind::Counter,
            "Number of incoming DNS queries.",
            "type",
            &st.qtypes,
        ),
        family(
            "bind_incoming_requests_total",
            Kind::Counter,
            "Number of incoming DNS requests.",
            "opcode",
            &st.opcodes,
        ),
        family(
            "bind_response_rcodes_total",
            Kind::Counter,
            "Number of responses sent per RCODE.",
            "rcode",
            &st.rcodes,
        ),
    ];
    let mut fams = Families::default();
    for (counter, name, value) in SERVER_LABELLED {
        let label = if *name == "bind_query_errors_total" {
            "error"
        } else {
            "result"
        };
        let f = fams.get(name, Kind::Counter, help_of(name));
        if let Some(v) = st.nsstat.get(*counter) {
            f.push(&[(label, value)], *v as f64);
        }
    }
    for (counter, name, kind, help) in SERVER_SINGLE {
        if let Some(v) = st
            .nsstat
            .get(*counter)
            .or_else(|| st.zonestat.get(*counter))
        {
            fams.get(name, *kind, help).push(&[], *v as f64);
        }
    }
    out.extend(fams.0);
    out
}

/// bind_exporter's families over every view (bind_exporter does not leave `_bind` out).
fn resolver_families(st: &Stats) -> Vec<Family> {
    let views = &st.views;
    let mut cache = Family::new(
        "bind_resolver_cache_rrsets",
        Kind::Gauge,
        "Number of RRSets in Cache database.",
    );
    let mut queries = Family::new(
        "bind_resolver_queries_total",
        Kind::Counter,
        "Number of outgoing DNS queries.",
    );
    let mut rtt = Family::new(
        "bind_resolver_query_duration_seconds",
        Kind::Histogram,
        "Resolver query round-trip time in seconds.",
    );
    let mut fams = Families::default();
    for v in views {
        let vn = v.name.as_str();
        for (k, n) in &v.cache {
            cache.push(&[("view", vn), ("type", k)], *n as f64);
        }
        for (k, n) in &v.resqtype {
            queries.push(&[("view", vn), ("type", k)], *n as f64);
        }
        for (counter, name, help) in RESOLVER_SINGLE {
            if let Some(n) = v.resstats.get(*counter) {
                fams.get(name, Kind::Counter, help)
                    .push(&[("view", vn)], *n as f64);
            }
        }
        for (counter, name, label) in RESOLVER_LABELLED {
            let f = fams.get(name, Kind::Counter, help_of(name));
            if let Some(n) = v.resstats.get(*counter) {
                f.push(&[("view", vn), (label, counter)], *n as f64);
            }
        }
        // a round-trip counter that was not a count leaves no histogram rather than a wrong one
        let rtt_unknown = st
            .unknown_in(&view_group(vn, "resstats"))
            .iter()
            .any(|k| k.starts_with("QryRTT"));
        if !rtt_unknown {
            let (buckets, count) = rtt_buckets(&v.resstats);
            rtt.push_histogram(&[("view", vn)], &buckets, f64::NAN, count);
        }
    }
    let mut out = vec![cache, queries, rtt];
    out.extend(fams.0);
    out
}

/// The QryRTT counters as cumulative buckets in seconds (`QryRTT10` -> 0.01; `QryRTT1600+`
/// -> +Inf), as bind_exporter builds them; BIND's five bounds are always there (JSON leaves
/// zero counters out), so the bucket set never changes.
fn rtt_buckets(stats: &Counters) -> (Vec<(f64, u64)>, u64) {
    let mut b: Vec<(f64, u64)> = [0.01, 0.1, 0.5, 0.8, 1.6, f64::INFINITY]
        .into_iter()
        .map(|le| (le, 0))
        .collect();
    for (k, v) in stats {
        let Some(ms) = k.strip_prefix("QryRTT") else {
            continue;
        };
        let le = match ms.strip_suffix('+') {
            Some(_) => f64::INFINITY,
            None => match ms.parse::<u32>() {
                Ok(n) => f64::from(n) / 1000.0,
                Err(_) => continue,
            },
        };
        match b.iter_mut().find(|(x, _)| *x == le) {
            Some(e) => e.1 = e.1.saturating_add(*v),
            None => b.push((le, *v)),
        }
    }
    b.sort_by(|x, y| x.0.total_cmp(&y.0));
    let mut total = 0u64;
    for (_, n) in &mut b {
        total = total.saturating_add(*n);
        *n = total;
    }
    (b, total)
}

fn zone_serials(views: &[View]) -> Vec<Family> {
    // a counter, as bind_exporter types it (a serial only grows)
    let mut f = Family::new("bind_zone_serial", Kind::Counter, "Zone serial number.");
    // bind_exporter leaves the built-in `_bind` view's zones (version.bind...) out
    for v in views.iter().filter(|v| v.name != "_bind") {
        for z in &v.zones {
            if let Some(s) = z.serial {
                f.push(&[("view", &v.name), ("zone_name", &z.name)], s as f64);
            }
        }
    }
    vec![f]
}

fn task_families(st: &Stats) -> Vec<Family> {
    let Some(tm) = &st.thread_model else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (key, name, help) in [
        (
            "tasks-running",
            "bind_tasks_running",
            "Number of running tasks.",
        ),
        (
            "worker-threads",
            "bind_worker_threads",
            "Total number of available worker threads.",
        ),
    ] {
        let mut f = Family::new(name, Kind::Gauge, help);
        f.push(&[], tm.get(key).copied().unwrap_or(0) as f64);
        out.push(f);
    }
    out
}

/// What opskit adds: every socket counter, the memory summary, tasks by state.
fn opskit_families(st: &Stats) -> Vec<Family> {
    let mut out = vec![
        family(
            "bind_socket_stats_total",
            Kind::Counter,
            "Socket statistics (sockstat).",
            "name",
            &st.sockstat,
        ),
        family(
            "bind_memory_bytes",
            Kind::Gauge,
            "Memory summary (TotalUse is cumulative).",
            "name",
            &st.memory,
        ),
    ];
    if let Some(t) = &st.tasks {
        out.push(family(
            "bind_tasks",
            Kind::Gauge,
            "Tasks by state.",
            "state",
            &t.by_state,
        ));
    }
    out
}

/// `2026-11-25T02:45:21.570Z` -> seconds since the epoch (UTC; a fraction is dropped).
fn iso8601_seconds(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let n = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let (h, mi, se) = (n(11..13)?, n(14..16)?, n(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    // days from the civil date (Howard Hinnant's algorithm)
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + se)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(iso8601_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            iso8601_seconds("2021-07-15T05:11:08.926Z"),
            Some(1_626_325_868)
        );
        assert_eq!(iso8601_seconds("2000-02-29T12:00:00Z"), Some(951_825_600));
        assert_eq!(iso8601_seconds("garbage"), None);
        assert_eq!(iso8601_seconds("2021-13-15T05:11:08Z"), None);
        assert_eq!(iso8601_seconds("2021-+7-15T05:11:08Z"), None);
    }

    #[test]
    fn rtt_histogram_is_cumulative_and_ends_at_inf() {
        let c: Counters = [
            ("QryRTT10", 1),
            ("QryRTT100", 2),
            ("QryRTT1600+", 4),
            ("QryRTT500", 3),
            ("Lame", 9),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let (b, n) = rtt_buckets(&c);
        assert_eq!(
            b,
            [
                (0.01, 1),
                (0.1, 3),
                (0.5, 6),
                (0.8, 6),
                (1.6, 6),
                (f64::INFINITY, 10)
            ]
        );
        assert_eq!(rtt_buckets(&Counters::new()).0.len(), 6);
        assert_eq!(n, 10);
    }
}
