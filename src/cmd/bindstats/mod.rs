//! `opskit bindstats`: the BIND statistics channel as a munin plugin, Prometheus or JSON.

use std::fmt::Write as _;
use std::io::{Read, Write as _};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::cmd::Context;
use crate::domain::bind::{parse_reader, Counters, Stats, ZoneFilter};
use crate::domain::units::clap_parsers;
use crate::exit::Outcome;
use crate::output::munin::{clean_fieldname, clean_text, FieldNamer};
use crate::output::prometheus::Family;
use crate::sys::bind_http::Fetcher;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Verb {
    /// print the graph definitions
    Config,
    /// say whether the statistics channel answers (always exit 0)
    Autoconf,
    /// list the graphs
    Suggest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// munin plugin protocol (multigraph)
    Munin,
    /// Prometheus text exposition
    Prometheus,
    /// the normalised counters as JSON
    Json,
}

#[derive(Debug, clap::Args)]
#[command(
    about = "BIND statistics channel to munin (plugin protocol), Prometheus or JSON",
    long_about = "BIND statistics channel to munin (plugin protocol), Prometheus or JSON.\n\n\
        Reads BIND's statistics channel (`statistics-channels { inet 127.0.0.1 port 8053 allow \
        { 127.0.0.1; }; };`): XML v3 (BIND 9.10+, fetched by subset), XML v2 (9.5-9.9) or \
        JSON v1, detected from the document. As a munin plugin (`ln -s /usr/bin/opskit \
        /etc/munin/plugins/bind9_opskit`) it takes `config`, `autoconf` or no argument, and its \
        settings from plugin-conf.d: env.url, env.timeout, and the perl bind9_statchannel \
        plugin's HOST, PORT, VIEWS, ANYWARN, ANYCRIT and MASTERZONES.",
    after_help = "Examples:\n  \
        opskit bindstats config                       # munin graph definitions\n  \
        opskit bindstats                              # munin values\n  \
        opskit bindstats --format prometheus --url http://127.0.0.1:8053/\n  \
        opskit bindstats --format json --file stats.xml\n\n\
        /etc/munin/plugin-conf.d/bind9_opskit:\n  \
        [bind9_opskit]\n  \
        env.url http://127.0.0.1:8053/\n  \
        env.MASTERZONES example.com example.net"
)]
pub struct Args {
    /// munin verb: config, autoconf or suggest (none: print values)
    #[arg(value_enum, value_name = "VERB")]
    pub verb: Option<Verb>,

    /// Statistics channel URL (env: url; or HOST and PORT) [default: http://127.0.0.1:8053/]
    #[arg(long, value_name = "URL", env = "url", hide_env = true)]
    pub url: Option<String>,

    /// Total time allowed for fetching (env: timeout), well under munin-node's 60 s
    #[arg(long, value_name = "DURATION", env = "timeout", hide_env = true, default_value = "10s", value_parser = clap_parsers::duration)]
    pub timeout: Duration,

    /// Read a saved document instead of fetching (- for stdin)
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Munin, value_name = "FORMAT")]
    pub format: Format,

    /// Views to graph, space or comma separated (env: VIEWS) [default: all but _bind]
    #[arg(long, value_name = "LIST", env = "VIEWS", hide_env = true)]
    pub views: Option<String>,

    /// Warning threshold on ANY queries per second (env: ANYWARN)
    #[arg(long, value_name = "N", env = "ANYWARN", hide_env = true)]
    pub any_warn: Option<String>,

    /// Critical threshold on ANY queries per second (env: ANYCRIT)
    #[arg(long, value_name = "N", env = "ANYCRIT", hide_env = true)]
    pub any_crit: Option<String>,

    /// Zones with per-zone query graphs, space or comma separated (env: MASTERZONES)
    #[arg(long, value_name = "LIST", env = "MASTERZONES", hide_env = true)]
    pub master_zones: Option<String>,

    /// Largest document accepted
    #[arg(long, value_name = "SIZE", default_value = "64M", value_parser = clap_parsers::size)]
    pub max_size: u64,
}

fn list(s: &Option<String>) -> Vec<String> {
    s.as_deref()
        .unwrap_or("")
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

impl Args {
    fn url(&self) -> String {
        if let Some(u) = &self.url {
            return u.clone();
        }
        let host = std::env::var("HOST").ok().filter(|h| !h.is_empty());
        let port = std::env::var("PORT").ok().filter(|p| !p.is_empty());
        match (host, port) {
            (None, None) => "http://127.0.0.1:8053/".into(),
            (h, p) => format!(
                "http://{}:{}/",
                h.as_deref().unwrap_or("127.0.0.1"),
                p.as_deref().unwrap_or("8053")
            ),
        }
    }

    fn source(&self) -> String {
        match &self.file {
            Some(f) => f.display().to_string(),
            None => self.url(),
        }
    }
}

/// Counter (DERIVE) or gauge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    Derive,
    Gauge,
}

/// One munin graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    pub name: String,
    pub title: String,
    pub vlabel: String,
    pub info: String,
    pub kind: Kind,
    pub stacked: bool,
    /// (field name, label, value)
    pub fields: Vec<(String, String, Option<u64>)>,
    /// (field, warning, critical)
    pub limits: Vec<(String, Option<String>, Option<String>)>,
}

fn graph(
    name: &str,
    title: &str,
    vlabel: &str,
    info: &str,
    kind: Kind,
    stacked: bool,
    c: &Counters,
) -> Graph {
    let mut items: Vec<(&String, &u64)> = c.iter().collect();
    if stacked {
        // the biggest series at the bottom of the stack
        items.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    }
    let mut namer = FieldNamer::new();
    Graph {
        name: clean_fieldname(name),
        title: title.into(),
        vlabel: vlabel.into(),
        info: info.into(),
        kind,
        stacked,
        fields: items
            .into_iter()
            .map(|(k, v)| (namer.name(k), k.clone(), Some(*v)))
            .collect(),
        limits: Vec::new(),
    }
}

/// The perl bind9_statchannel plugin's field lists, kept so a site that switches keeps its
/// RRD files (graphs it listed no fields for take every counter).
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
    "QrtRTT800",
];
const CACHE_FIELDS: &[&str] = &[
    "A", "!A", "AAAA", "!AAAA", "DLV", "!DLV", "DS", "!DS", "MX", "!MX", "NS", "NSEC", "CNAME",
    "PTR", "RRSIG", "DNSKEY", "TXT", "NXDOMAIN",
];

fn only(c: &Counters, keep: &[&str]) -> Counters {
    c.iter()
        .filter(|(k, _)| keep.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

/// The graphs for a document.
pub fn graphs(st: &Stats, args: &Args) -> Vec<Graph> {
    let mut g = Vec::new();
    let per_s = "per ${graph_period}";
    let mut q = graph(
        "queries_in",
        "Queries In",
        &format!("queries {per_s}"),
        "Queries received, by query type. A surge of ANY is a reflection/DDoS signal.",
        Kind::Derive,
        true,
        &st.qtypes,
    );
    if args.any_warn.is_some() || args.any_crit.is_some() {
        if let Some((f, _, _)) = q.fields.iter().find(|f| f.1 == "ANY") {
            q.limits
                .push((f.clone(), args.any_warn.clone(), args.any_crit.clone()));
        } else {
            q.fields.push(("ANY".into(), "ANY".into(), Some(0)));
            q.limits
                .push(("ANY".into(), args.any_warn.clone(), args.any_crit.clone()));
        }
    }
    g.push(q);
    let mut req = Counters::new();
    for k in ["Requestv4", "Requestv6"] {
        req.insert(k.into(), st.nsstat.get(k).copied().unwrap_or(0));
    }
    g.push(graph(
        "requests_ip",
        "Requests, IPv4 vs IPv6",
        &format!("requests {per_s}"),
        "Incoming requests by IP version (nsstat Requestv4/Requestv6).",
        Kind::Derive,
        true,
        &req,
    ));
    g.push(graph(
        "rcodes",
        "Responses, by rcode",
        &format!("responses {per_s}"),
        "Responses sent, by return code.",
        Kind::Derive,
        true,
        &st.rcodes,
    ));
    g.push(graph(
        "opcodes",
        "Requests, by opcode",
        &format!("requests {per_s}"),
        "Requests received, by opcode.",
        Kind::Derive,
        true,
        &st.opcodes,
    ));
    g.push(graph(
        "server_statistics",
        "Server Statistics",
        &format!("queries {per_s}"),
        "Name server statistics (nsstat), the perl plugin's fields.",
        Kind::Derive,
        false,
        &only(&st.nsstat, SERVER_FIELDS),
    ));
    g.push(graph(
        "socket_io_statistics",
        "Socket I/O Statistics",
        &format!("events {per_s}"),
        "Socket statistics (sockstat), the perl plugin's fields.",
        Kind::Derive,
        false,
        &only(&st.sockstat, SOCKET_FIELDS),
    ));
    g.push(graph(
        "memory_usage_summary",
        "Memory Usage Summary",
        "bytes",
        "The memory summary (9.20 reports only Malloced and InUse).",
        Kind::Gauge,
        false,
        &st.memory,
    ));
    g.push(graph(
        "memory_contexts",
        "Memory Context \"In Use\"",
        "bytes",
        "Memory in use per context name, summed over contexts that share a name.",
        Kind::Gauge,
        true,
        &st.contexts,
    ));
    if let Some(t) = &st.tasks {
        let mut t = t.clone();
        t.insert("tasks".into(), t.values().sum());
        g.push(graph(
            "tasks",
            "Tasks",
            "tasks",
            "All tasks (the perl plugin's field) and tasks by state; BIND 9.20 no longer reports tasks.",
            Kind::Gauge,
            false,
            &t,
        ));
    }
    let wanted = list(&args.views);
    for v in &st.views {
        if (wanted.is_empty() && v.name == "_bind")
            || (!wanted.is_empty() && !wanted.contains(&v.name))
        {
            continue;
        }
        let vn = &v.name;
        g.push(graph(
            &format!("queries_out_{vn}"),
            &format!("Queries Out {vn}"),
            &format!("queries {per_s}"),
            "Resolver queries sent, by type.",
            Kind::Derive,
            true,
            &v.resqtype,
        ));
        g.push(graph(
            &format!("resolver_statistics_{vn}"),
            &format!("Resolver Statistics for View {vn}"),
            &format!("events {per_s}"),
            "Resolver statistics (resstat), the perl plugin's fields.",
            Kind::Derive,
            false,
            &only(&v.resstats, RESOLVER_FIELDS),
        ));
        g.push(graph(
            &format!("cache_db_rrsets_{vn}"),
            &format!("Cache DB RRsets for View {vn}"),
            "RRsets",
            "RRsets in the cache, by type (! marks negative entries), the perl plugin's fields.",
            Kind::Gauge,
            true,
            &only(&v.cache, CACHE_FIELDS),
        ));
    }
    for z in list(&args.master_zones) {
        let mut c = Counters::new();
        for v in &st.views {
            for zz in v.zones.iter().filter(|zz| zz.name == z) {
                for (k, n) in &zz.qtypes {
                    *c.entry(k.clone()).or_default() += n;
                }
                if zz.qtypes.is_empty() {
                    for (k, n) in &zz.rcodes {
                        *c.entry(k.clone()).or_default() += n;
                    }
                }
            }
        }
        g.push(graph(
            &format!("zone_queries_{z}"),
            &format!("Authoritative queries, zone {z}"),
            &format!("queries {per_s}"),
            "Queries for this zone, by type (zone-statistics must be on).",
            Kind::Derive,
            true,
            &c,
        ));
    }
    g
}

fn write_config(out: &mut String, graphs: &[Graph]) {
    for g in graphs {
        let _ = writeln!(out, "multigraph {}", g.name);
        let _ = writeln!(out, "graph_title {}", clean_text(&g.title));
        let _ = writeln!(out, "graph_vlabel {}", g.vlabel);
        let _ = writeln!(out, "graph_category dns");
        let _ = writeln!(
            out,
            "graph_args --base {} -l 0",
            if g.vlabel == "bytes" { 1024 } else { 1000 }
        );
        let _ = writeln!(out, "graph_info {}", clean_text(&g.info));
        for (i, (f, label, _)) in g.fields.iter().enumerate() {
            let _ = writeln!(out, "{f}.label {}", clean_text(label));
            let _ = writeln!(
                out,
                "{f}.type {}",
                if g.kind == Kind::Derive {
                    "DERIVE"
                } else {
                    "GAUGE"
                }
            );
            let _ = writeln!(out, "{f}.min 0");
            if g.stacked {
                let _ = writeln!(out, "{f}.draw {}", if i == 0 { "AREA" } else { "STACK" });
            }
        }
        for (f, w, c) in &g.limits {
            if let Some(w) = w {
                let _ = writeln!(out, "{f}.warning {w}");
            }
            if let Some(c) = c {
                let _ = writeln!(out, "{f}.critical {c}");
            }
        }
    }
}

fn write_values(out: &mut String, graphs: &[Graph], unknown: bool) {
    for g in graphs {
        let _ = writeln!(out, "multigraph {}", g.name);
        for (f, _, v) in &g.fields {
            match v {
                Some(v) if !unknown => {
                    let _ = writeln!(out, "{f}.value {v}");
                }
                _ => {
                    let _ = writeln!(out, "{f}.value U");
                }
            }
        }
    }
}

/// The graphs and fields of the last successful run, so `config` works while BIND is down.
fn state_file() -> Option<PathBuf> {
    std::env::var_os("MUNIN_PLUGSTATE").map(|d| PathBuf::from(d).join("opskit-bindstats.json"))
}

fn save_state(graphs: &[Graph]) {
    if let Some(p) = state_file() {
        let g: Vec<Graph> = graphs
            .iter()
            .map(|g| Graph {
                fields: g
                    .fields
                    .iter()
                    .map(|(f, l, _)| (f.clone(), l.clone(), None))
                    .collect(),
                ..g.clone()
            })
            .collect();
        if let Ok(bytes) = serde_json::to_vec(&g) {
            let tmp = p.with_extension("json.tmp");
            if std::fs::write(&tmp, bytes).is_ok() {
                let _ = std::fs::rename(&tmp, &p);
            }
        }
    }
}

fn load_state() -> Option<Vec<Graph>> {
    let p = state_file()?;
    serde_json::from_slice(&std::fs::read(p).ok()?).ok()
}

fn fetch(args: &Args) -> anyhow::Result<Stats> {
    // munin graphs need only the MASTERZONES zones; JSON and Prometheus show them all
    let zones = match (args.format, list(&args.master_zones)) {
        (Format::Munin, z) if z.is_empty() => ZoneFilter::None,
        (Format::Munin, z) => ZoneFilter::Only(z),
        _ => ZoneFilter::All,
    };
    if let Some(f) = &args.file {
        let st = if f.as_os_str() == "-" {
            parse_reader(std::io::stdin().lock(), &zones)
        } else {
            let file =
                std::fs::File::open(f).with_context(|| format!("reading {}", f.display()))?;
            parse_reader(
                std::io::BufReader::with_capacity(64 * 1024, file.take(args.max_size)),
                &zones,
            )
        };
        return st.map_err(|e| anyhow::anyhow!("{}: {e}", f.display()));
    }
    let fetcher = Fetcher::new(args.timeout, args.max_size)?;
    fetcher.fetch(&args.url(), &zones)
}

fn emit(out: &[u8]) -> anyhow::Result<()> {
    let mut so = std::io::stdout().lock();
    so.write_all(out)
        .and_then(|()| so.flush())
        .context("writing to stdout")
}

pub fn run(args: Args, _ctx: &Context) -> anyhow::Result<Outcome> {
    match args.verb {
        Some(Verb::Autoconf) => {
            // a real probe; always exit 0 (munin's rule)
            let answer = match fetch(&args) {
                Ok(_) => "yes".to_string(),
                Err(e) => format!("no ({})", crate::exit::one_line(&e)),
            };
            println!("{answer}");
            return Ok(Outcome::Success);
        }
        Some(Verb::Suggest) => return Ok(Outcome::Success),
        _ => {}
    }
    let result = fetch(&args);
    match args.format {
        Format::Json | Format::Prometheus => {
            let st = result?;
            let mut out = Vec::new();
            if args.format == Format::Json {
                crate::output::json::write_pretty(&mut out, &st)?;
            } else {
                prometheus(&mut out, &st)?;
            }
            emit(&out)?;
            Ok(Outcome::Success)
        }
        Format::Munin => {
            let dirty = std::env::var_os("MUNIN_CAP_DIRTYCONFIG").is_some_and(|v| v == "1");
            let mut out = String::new();
            match result {
                Ok(st) => {
                    let gs = graphs(&st, &args);
                    save_state(&gs);
                    if args.verb == Some(Verb::Config) {
                        write_config(&mut out, &gs);
                        if dirty {
                            write_values(&mut out, &gs, false);
                        }
                    } else {
                        write_values(&mut out, &gs, false);
                    }
                    emit(out.as_bytes())?;
                    Ok(Outcome::Success)
                }
                Err(e) => {
                    // one line for munin-node's log; every known field unknown, never a zero
                    eprintln!(
                        "opskit bindstats: {}: {}",
                        args.source(),
                        crate::exit::one_line(&e)
                    );
                    let gs = load_state().unwrap_or_else(|| graphs(&Stats::default(), &args));
                    if args.verb == Some(Verb::Config) {
                        write_config(&mut out, &gs);
                        if dirty {
                            write_values(&mut out, &gs, true);
                        }
                    } else {
                        write_values(&mut out, &gs, true);
                    }
                    emit(out.as_bytes())?;
                    Ok(Outcome::Success)
                }
            }
        }
    }
}

fn prometheus(out: &mut Vec<u8>, st: &Stats) -> std::io::Result<()> {
    let mut up = Family::new("bind_up", "gauge", "Was the BIND statistics document read.");
    up.push(&[], 1.0);
    up.render(out)?;
    let fam = |out: &mut Vec<u8>,
               name: &str,
               help: &str,
               label: &str,
               c: &Counters|
     -> std::io::Result<()> {
        let mut f = Family::new(name, "counter", help);
        for (k, v) in c {
            f.push(&[(label, k)], *v as f64);
        }
        f.render(out)
    };
    fam(
        out,
        "bind_incoming_queries_total",
        "Number of incoming DNS queries.",
        "type",
        &st.qtypes,
    )?;
    fam(
        out,
        "bind_incoming_requests_total",
        "Number of incoming DNS requests.",
        "opcode",
        &st.opcodes,
    )?;
    fam(
        out,
        "bind_responses_total",
        "Number of responses sent.",
        "result",
        &st.rcodes,
    )?;
    fam(
        out,
        "bind_server_stats_total",
        "Name server statistics (nsstat).",
        "name",
        &st.nsstat,
    )?;
    fam(
        out,
        "bind_socket_stats_total",
        "Socket statistics (sockstat).",
        "name",
        &st.sockstat,
    )?;
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
    for v in &st.views {
        for (k, n) in &v.resqtype {
            rq.push(&[("view", &v.name), ("type", k)], *n as f64);
        }
        for (k, n) in &v.resstats {
            rs.push(&[("view", &v.name), ("name", k)], *n as f64);
        }
        for (k, n) in &v.cache {
            cache.push(&[("view", &v.name), ("type", k)], *n as f64);
        }
        for z in &v.zones {
            for (k, n) in &z.qtypes {
                zq.push(
                    &[("view", &v.name), ("zone", &z.name), ("type", k)],
                    *n as f64,
                );
            }
        }
    }
    for f in [rq, rs, cache, zq] {
        f.render(out)?;
    }
    let mut m = Family::new("bind_memory_bytes", "gauge", "Memory summary.");
    for (k, v) in &st.memory {
        m.push(&[("name", k)], *v as f64);
    }
    m.render(out)?;
    if let Some(t) = &st.tasks {
        let mut f = Family::new("bind_tasks", "gauge", "Tasks by state.");
        for (k, v) in t {
            f.push(&[("state", k)], *v as f64);
        }
        f.render(out)?;
    }
    Ok(())
}
