//! BIND statistics -> Prometheus metric families (rendered by `output::prometheus`).
//!
//! Pure: [`Stats`] in, families out; `bind_up` is 0 with no other series when the fetch failed.

use crate::domain::bind::{Counters, Stats};
use crate::output::prometheus::Family;

fn family(name: &str, kind: &'static str, help: &str, label: &str, c: &Counters) -> Family {
    let mut f = Family::new(name, kind, help);
    for (k, v) in c {
        f.push(&[(label, k)], *v as f64);
    }
    f
}

/// `bind_up` alone: what a failed fetch exports.
pub fn down() -> Vec<Family> {
    let mut up = Family::new("bind_up", "gauge", "Was the BIND statistics document read.");
    up.push(&[], 0.0);
    vec![up]
}

/// Every family for a document.
pub fn families(st: &Stats) -> Vec<Family> {
    let mut up = Family::new("bind_up", "gauge", "Was the BIND statistics document read.");
    up.push(&[], 1.0);
    let mut out = vec![
        up,
        family(
            "bind_incoming_queries_total",
            "counter",
            "Number of incoming DNS queries.",
            "type",
            &st.qtypes,
        ),
        family(
            "bind_incoming_requests_total",
            "counter",
            "Number of incoming DNS requests.",
            "opcode",
            &st.opcodes,
        ),
        family(
            "bind_responses_total",
            "counter",
            "Number of responses sent.",
            "result",
            &st.rcodes,
        ),
        family(
            "bind_server_stats_total",
            "counter",
            "Name server statistics (nsstat).",
            "name",
            &st.nsstat,
        ),
        family(
            "bind_socket_stats_total",
            "counter",
            "Socket statistics (sockstat).",
            "name",
            &st.sockstat,
        ),
    ];
    out.extend(view_families(st));
    out.push(family(
        "bind_memory_bytes",
        "gauge",
        "Memory summary.",
        "name",
        &st.memory,
    ));
    if let Some(t) = &st.tasks {
        out.push(family(
            "bind_tasks",
            "gauge",
            "Tasks by state.",
            "state",
            &t.by_state,
        ));
    }
    out
}

fn view_families(st: &Stats) -> Vec<Family> {
    let mut rq = Family::new(
        "bind_resolver_queries_total",
        "counter",
        "Number of outgoing DNS queries.",
    );
    let mut rs = Family::new(
        "bind_resolver_stats_total",
        "counter",
        "Resolver statistics.",
    );
    let mut cache = Family::new(
        "bind_resolver_cache_rrsets",
        "gauge",
        "Number of RRsets in the cache database.",
    );
    let mut zq = Family::new(
        "bind_zone_queries_total",
        "counter",
        "Queries per zone, by type.",
    );
    let mut serial = Family::new("bind_zone_serial", "counter", "Zone serial number.");
    for v in &st.views {
        let vn = v.name.as_str();
        for (k, n) in &v.resqtype {
            rq.push(&[("view", vn), ("type", k)], *n as f64);
        }
        for (k, n) in &v.resstats {
            rs.push(&[("view", vn), ("name", k)], *n as f64);
        }
        for (k, n) in &v.cache {
            cache.push(&[("view", vn), ("type", k)], *n as f64);
        }
        for z in &v.zones {
            for (k, n) in &z.qtypes {
                zq.push(&[("view", vn), ("zone", &z.name), ("type", k)], *n as f64);
            }
            if let Some(s) = z.serial {
                serial.push(&[("view", vn), ("zone_name", &z.name)], s as f64);
            }
        }
    }
    vec![rq, rs, cache, zq, serial]
}
