//! `opskit bindstats`: the BIND statistics channel as a munin plugin, Prometheus or JSON.
//!
//! Wiring only: `gather` (HTTP) / `common::fsread` read the document, `model` parses it,
//! `render::munin` / `render::metrics` map it to graphs or metric families, and
//! `format::{munin, prometheus, json}` write them.

pub(crate) mod gather;
pub(crate) mod model;
pub(crate) mod render;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;

use crate::bindstats::gather::{url_from_env, views_from_env, Deadline, Fetcher};
use crate::bindstats::model::process::NamedProcess;
use crate::bindstats::model::{parse_reader, Stats, ZoneFilter};
use crate::bindstats::render::metrics as bind_metrics;
use crate::bindstats::render::munin::{self as bind_munin, split_list, MasterZones, Settings};
use crate::common::escape::clean;
use crate::common::units::{clap_parsers, parse_duration};
use crate::common::Context;
use crate::common::{fsread, munin_state, serve};
use crate::exit::{Outcome, UsageError};
use crate::format::munin::{self as munin_out, Values};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Verb {
    /// print the graph definitions
    Config,
    /// say whether the statistics channel answers (always exit 0)
    Autoconf,
    /// print the link suffix munin-node-configure should use (`opskit`) when the channel
    /// answers
    Suggest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
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
        plugin's HOST, PORT, VIEWS (or VIEW), ANYWARN, ANYCRIT and MASTERZONES. A link with \
        another suffix (bind9_ns1) is an instance: its graph names start with `ns1_` and it \
        keeps its own state.",
    after_help = "Examples:\n  \
        opskit bindstats config                       # munin graph definitions\n  \
        opskit bindstats                              # munin values\n  \
        opskit bindstats --format prometheus --url http://127.0.0.1:8053/\n  \
        opskit bindstats --format json --file stats.xml\n\n\
        /etc/munin/plugin-conf.d/bind9_opskit:\n  \
        [bind9_opskit]\n  \
        env.url http://127.0.0.1:8053/\n  \
        env.MASTERZONES example.com,example.net"
)]
pub(crate) struct Args {
    /// munin verb: config, autoconf or suggest (none: print values)
    #[arg(value_enum, value_name = "VERB")]
    pub(crate) verb: Option<Verb>,

    /// Statistics channel URL (env: url; or HOST and PORT) [default: http://127.0.0.1:8053/]
    #[arg(long, value_name = "URL", env = "url", hide_env = true)]
    pub(crate) url: Option<String>,

    /// Time allowed for the whole fetch, every request and body together, above 0 and at most
    /// 1h (env: timeout)
    #[arg(
        long,
        value_name = "DURATION",
        env = "timeout",
        hide_env = true,
        default_value = "10s"
    )]
    pub(crate) timeout: String,

    /// Read a saved document instead of fetching (- for stdin)
    #[arg(long, value_name = "PATH")]
    pub(crate) file: Option<PathBuf>,

    /// Output format [default: munin]; with --listen, prometheus (the default there) or json
    /// (listed first; /json is always served)
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub(crate) format: Option<Format>,

    /// Views to graph, comma or space separated (env: VIEW, else VIEWS) [default: all but
    /// _bind]
    #[arg(long, value_name = "LIST")]
    pub(crate) views: Option<String>,

    /// Warning threshold on ANY queries per second: a number or a munin range (`N:M`, `N:`,
    /// `:M`); a bad one is reported and the default used (env: ANYWARN)
    #[arg(
        long,
        value_name = "RANGE",
        env = "ANYWARN",
        hide_env = true,
        default_value = "10"
    )]
    pub(crate) any_warn: String,

    /// Critical threshold on ANY queries per second, as --any-warn (env: ANYCRIT)
    #[arg(
        long,
        value_name = "RANGE",
        env = "ANYCRIT",
        hide_env = true,
        default_value = "50"
    )]
    pub(crate) any_crit: String,

    /// Zones on the per-zone graph (and with every counter in JSON), comma or space separated,
    /// `none` for no graph (env: MASTERZONES) [default: autodetected, as the perl plugin]
    #[arg(long, value_name = "LIST", env = "MASTERZONES", hide_env = true)]
    pub(crate) master_zones: Option<String>,

    /// At most this many autodetected zones per view, the busiest by authoritative answers
    /// (zones graphed by the last run kept first); a bad value is reported and 50 used
    /// (env: MAXZONES)
    #[arg(
        long,
        value_name = "N",
        env = "MAXZONES",
        hide_env = true,
        default_value = "50"
    )]
    pub(crate) max_zones: String,

    /// Largest document accepted
    #[arg(long, value_name = "SIZE", default_value = "64M", value_parser = clap_parsers::size)]
    pub(crate) max_size: u64,

    /// Serve Prometheus metrics at /metrics and the JSON document at /json on ADDR:PORT,
    /// fetching BIND once per scrape. `:PORT` (or `PORT`) listens on every address, as
    /// Prometheus exporters do; `localhost:PORT` is resolved; the address taken is printed.
    /// A scrape is answered before the scraper's X-Prometheus-Scrape-Timeout-Seconds (less a
    /// tenth, at most 0.5 s), and never later than --timeout or 9.5 s: a BIND that does not
    /// answer in time is `bind_up 0`, not a failed scrape. When opskit itself is starved (out
    /// of file descriptors) the answer is 503, never a false `bind_up 0`.
    #[arg(long, value_name = "ADDR:PORT", conflicts_with_all = ["verb", "file"],
        value_parser = serve::parse_listen)]
    pub(crate) listen: Option<serve::Listen>,

    /// named's pid file, for named's own CPU, memory, open files and start time
    /// (`bind_process_*`, as bind_exporter's --bind.pid-file) in Prometheus and JSON output.
    /// Without it they are read when the URL is on this host: from /run/named/named.pid,
    /// else from the one process named `named`
    #[arg(long, value_name = "PATH")]
    pub(crate) pid_file: Option<PathBuf>,

    /// Instance name (set from a `bind9_NAME` link): graph names start with `NAME_`
    #[arg(long, value_name = "NAME", hide = true)]
    pub(crate) instance: Option<String>,
}

impl Args {
    /// The output format asked for, munin when none was.
    fn format(&self) -> Format {
        self.format.unwrap_or(Format::Munin)
    }

    fn url(&self) -> String {
        self.url
            .clone()
            .or_else(url_from_env)
            .unwrap_or_else(|| "http://127.0.0.1:8053/".into())
    }

    fn settings(&self) -> Settings {
        let views = self
            .views
            .clone()
            .or_else(views_from_env)
            .unwrap_or_default();
        Settings {
            views: split_list(&views).map(str::to_string).collect(),
            zones: MasterZones::parse(self.master_zones.as_deref()),
            zone_cap: zone_cap(&self.max_zones),
            any_warn: threshold("ANYWARN", &self.any_warn, "10"),
            any_crit: threshold("ANYCRIT", &self.any_crit, "50"),
            prefix: self
                .instance
                .as_deref()
                .map(|i| format!("{}_", munin_out::clean_fieldname(i)))
                .unwrap_or_default(),
            graphed_before: Default::default(),
        }
    }

    /// The zones worth parsing in full: the ones `MASTERZONES` names. Every other zone is
    /// only summarised (serial, authoritative answers: a quick scan), or skipped when
    /// `MASTERZONES=none` leaves munin nothing to draw.
    fn zone_filter(&self) -> ZoneFilter {
        let listed = |z: &[String]| -> Vec<String> {
            z.iter()
                .map(|k| {
                    k.rsplit_once('/')
                        .map_or(k.as_str(), |(n, _)| n)
                        .to_string()
                })
                .collect()
        };
        let zones = MasterZones::parse(self.master_zones.as_deref());
        match (self.format(), zones) {
            (Format::Munin, MasterZones::Off) if self.listen.is_none() => ZoneFilter::None,
            (Format::Munin, MasterZones::List(z)) if self.listen.is_none() => {
                ZoneFilter::Only(listed(&z))
            }
            (_, MasterZones::List(z)) => ZoneFilter::Summary(listed(&z)),
            _ => ZoneFilter::Summary(Vec::new()),
        }
    }

    fn state_name(&self) -> String {
        match &self.instance {
            Some(i) => format!("opskit-bindstats-{}.json", munin_out::clean_fieldname(i)),
            None => "opskit-bindstats.json".into(),
        }
    }
}

/// A checked ANY threshold; a bad one is one line on stderr and the perl plugin's default,
/// so munin keeps its graphs (as with a bad env.timeout).
fn threshold(name: &str, value: &str, default: &str) -> String {
    bind_munin::check_threshold(value).unwrap_or_else(|e| {
        eprintln!(
            "opskit bindstats: bad {name} '{}': {e}; using {default}",
            crate::common::escape::clean(value)
        );
        default.to_string()
    })
}

/// `MAXZONES` / `--max-zones`: a whole number; a bad one is one line on stderr and the
/// default, so munin keeps its graphs (as a bad ANYWARN).
fn zone_cap(value: &str) -> usize {
    value.trim().parse::<usize>().unwrap_or_else(|_| {
        eprintln!(
            "opskit bindstats: bad MAXZONES '{}': expected a whole number >= 0; using 50",
            clean(value)
        );
        50
    })
}

/// The longest `--timeout` / env.timeout taken; longer is a mistake (munin-node kills a
/// plugin after 10 s by default).
const MAX_TIMEOUT: Duration = Duration::from_secs(3600);

/// `--timeout` / env.timeout: a duration above zero and at most an hour.
fn timeout(args: &Args) -> anyhow::Result<Duration> {
    let t = parse_duration(&args.timeout)
        .map_err(|e| anyhow::anyhow!("bad timeout '{}': {e}", clean(&args.timeout)))?;
    if t.is_zero() || t > MAX_TIMEOUT {
        anyhow::bail!(
            "bad timeout '{}': expected a duration above 0 and at most 1h",
            clean(&args.timeout)
        );
    }
    Ok(t)
}

/// A bad `--timeout` typed on the command line is a usage error (exit 2) before anything
/// runs; a bad env.timeout takes the failure path (munin keeps its graphs, values `U`).
fn check_cli_timeout(args: &Args) -> anyhow::Result<()> {
    // args_os: an argument that is not UTF-8 (a --file path) must not panic here
    let on_cli = std::env::args_os()
        .any(|a| a == "--timeout" || a.to_str().is_some_and(|s| s.starts_with("--timeout=")));
    match timeout(args) {
        Err(e) if on_cli => Err(UsageError(crate::exit::one_line(&e)).into()),
        _ => Ok(()),
    }
}

/// Gather: the document from `--file` (capped, FIFOs refused) or the statistics channel.
fn fetch(args: &Args) -> anyhow::Result<Stats> {
    let timeout = timeout(args)?;
    fetch_by(args, Deadline::after(timeout))
}

/// [`fetch`] under a deadline of the caller's; a counter that is not a count is one warning
/// line naming it (it is unknown in every format, never 0).
fn fetch_by(args: &Args, deadline: Deadline) -> anyhow::Result<Stats> {
    let st = fetch_quiet(args, deadline)?;
    for (group, names) in &st.unknown {
        for (name, text) in names {
            eprintln!(
                "opskit bindstats: warning: counter {}/{} is '{}', not a count: reported as \
                 unknown",
                clean(group),
                clean(name),
                clean(text)
            );
        }
    }
    Ok(st)
}

fn fetch_quiet(args: &Args, deadline: Deadline) -> anyhow::Result<Stats> {
    let zones = args.zone_filter();
    if let Some(f) = &args.file {
        // streamed: a 5 MB document is parsed as it is read, never held whole
        let doc = fsread::open_capped(f, args.max_size)?;
        let what = match f.as_os_str() == "-" {
            true => "standard input".to_string(),
            false => f.display().to_string(),
        };
        return parse_reader(doc, &zones).map_err(|e| anyhow::anyhow!("{what}: {e}"));
    }
    Fetcher::new(deadline, args.max_size)?.fetch(&args.url(), &zones)
}

fn emit(out: &[u8]) -> anyhow::Result<()> {
    crate::common::print(out).context("writing to stdout")
}

/// Whether a statistics-channel URL names this host (loopback or `localhost`).
fn url_is_local(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let auth = rest.split('/').next().unwrap_or("");
    let auth = auth.rsplit_once('@').map_or(auth, |(_, h)| h);
    let host = match auth.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => auth.split(':').next().unwrap_or(""),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// named's own process: from --pid-file, or found on this host when the URL is on it.
fn named_process(args: &Args) -> Option<NamedProcess> {
    let explicit = args.pid_file.is_some();
    if !explicit && (args.file.is_some() || !url_is_local(&args.url())) {
        return None;
    }
    match gather::named_process(args.pid_file.as_deref()) {
        Ok(p) => p,
        Err(e) if explicit => {
            eprintln!("opskit bindstats: warning: {}", crate::exit::one_line(&e));
            None
        }
        Err(_) => None,
    }
}

/// One Prometheus exposition: the families of the document, or `bind_up 0` (and the cause
/// on stderr) when the fetch failed; named's process families either way when known.
fn exposition(
    result: anyhow::Result<Stats>,
    process: Option<NamedProcess>,
) -> anyhow::Result<Vec<u8>> {
    let fams = match result {
        Ok(mut st) => {
            st.named_process = process;
            bind_metrics::families(&st)
        }
        Err(e) => {
            report(&e);
            let mut f = bind_metrics::down();
            if let Some(p) = &process {
                f.extend(bind_metrics::process_families(p));
            }
            f
        }
    };
    let mut out = Vec::new();
    crate::format::prometheus::write(&mut out, &fams)?;
    Ok(out)
}

/// The longest a scrape waits for BIND when the scraper does not say (below Prometheus'
/// default scrape timeout of 10 s).
const LISTEN_DEFAULT: Duration = Duration::from_millis(9500);

/// Whether a failed fetch failed for want of the exporter's own resources (file descriptors,
/// threads): then the scrape is answered 503, not `bind_up 0`.
fn starved(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.is::<gather::Starved>()
            || c.downcast_ref::<std::io::Error>().is_some_and(|io| {
                matches!(
                    io.raw_os_error(),
                    Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::EAGAIN)
                )
            })
    })
}

/// `--listen`: Prometheus text at /metrics, the JSON document at /json.
fn listen(args: Args, at: &serve::Listen) -> anyhow::Result<()> {
    use std::sync::Arc;
    let cap = timeout(&args)?.min(LISTEN_DEFAULT);
    let args = Arc::new(args);
    // one fetch at a time across /metrics and /json: a scrape holds at most one document's
    // worth (MAX_KEPT across its subsets), never one per endpoint
    let one = Arc::new(std::sync::Mutex::new(()));
    let by = move |args: &Args, until: std::time::Instant| {
        let d = until
            .checked_duration_since(std::time::Instant::now())
            .unwrap_or_default();
        fetch_by(args, Deadline::after(d.min(cap)))
    };
    let a = args.clone();
    let o = one.clone();
    let metrics: Arc<serve::Render> = Arc::new(move |until| {
        let _one = o.lock().unwrap_or_else(|e| e.into_inner());
        match by(&a, until) {
            Err(e) if starved(&e) => serve::Reply::Unavailable(crate::exit::one_line(&e)),
            r => serve::Reply::Body(exposition(r, named_process(&a)).unwrap_or_default()),
        }
    });
    let a = args.clone();
    let json: Arc<serve::Render> = Arc::new(move |until| {
        let _one = one.lock().unwrap_or_else(|e| e.into_inner());
        match by(&a, until) {
            Ok(mut st) => {
                bind_munin::declare_known(&mut st);
                st.named_process = named_process(&a);
                let mut out = Vec::new();
                match crate::format::json::write_pretty_clean(&mut out, &st) {
                    Ok(()) => serve::Reply::Body(out),
                    Err(e) => serve::Reply::Unavailable(e.to_string()),
                }
            }
            Err(e) => {
                report(&e);
                serve::Reply::Unavailable(crate::exit::one_line(&e))
            }
        }
    });
    // the server has said why on stderr already
    let late: Arc<serve::Late> = Arc::new(|| {
        let mut out = Vec::new();
        let _ = crate::format::prometheus::write(&mut out, &bind_metrics::down());
        out
    });
    let mut eps = vec![
        serve::Endpoint {
            path: "/metrics",
            content_type: serve::PROMETHEUS_TEXT,
            render: metrics,
            late: Some(late),
        },
        serve::Endpoint {
            path: "/json",
            content_type: "application/json",
            render: json,
            late: None,
        },
    ];
    if args.format == Some(Format::Json) {
        eps.reverse();
    }
    serve::serve_endpoints(
        at,
        eps,
        serve::Options {
            tool: "opskit bindstats",
            default_timeout: cap,
        },
    )
}

pub(crate) fn run(args: Args, _ctx: &Context) -> anyhow::Result<Outcome> {
    check_cli_timeout(&args)?;
    if args.listen.is_some() && args.format == Some(Format::Munin) {
        return Err(UsageError(
            "--format munin cannot be served by --listen (it serves Prometheus text at /metrics \
             and JSON at /json); run the munin plugin without --listen"
                .into(),
        )
        .into());
    }
    if let Some(at) = args.listen.clone() {
        listen(args, &at)?;
        return Ok(Outcome::Success);
    }
    match args.verb {
        Some(Verb::Autoconf) => {
            // a real probe; always exit 0 (munin's rule)
            let answer = match fetch(&args) {
                Ok(_) => "yes".to_string(),
                Err(e) => format!("no ({})", crate::exit::one_line(&e)),
            };
            emit(format!("{answer}\n").as_bytes())?;
            return Ok(Outcome::Success);
        }
        Some(Verb::Suggest) => {
            // for a wildcard link (`bind9_`, as munin-node-configure names one): the suffix
            // of the plain plugin, when the channel answers
            if fetch(&args).is_ok() {
                emit(b"opskit\n")?;
            }
            return Ok(Outcome::Success);
        }
        _ => {}
    }
    let result = fetch(&args);
    let mut out = Vec::new();
    match args.format() {
        Format::Json => {
            let mut st = result?;
            bind_munin::declare_known(&mut st);
            st.named_process = named_process(&args);
            crate::format::json::write_pretty_clean(&mut out, &st)?
        }
        // textfile mode (cron): a failure is `bind_up 0`, exit 0, the cause on stderr
        Format::Prometheus => out = exposition(result, named_process(&args))?,
        Format::Munin => munin(&args, result, &mut out)?,
    }
    emit(&out)?;
    Ok(Outcome::Success)
}

/// VIEWS naming a view the server does not have: one line on stderr per such view (the perl
/// plugin printed nothing at all for it).
fn warn_unknown_views(st: &Stats, s: &Settings) {
    for v in &s.views {
        if !st.views.iter().any(|x| &x.name == v) {
            let have: Vec<String> = st
                .views
                .iter()
                .map(|x| clean(&x.name).into_owned())
                .collect();
            eprintln!(
                "opskit bindstats: warning: VIEWS names '{}', which the server does not have \
                 (it has: {})",
                clean(v),
                have.join(", ")
            );
        }
    }
}

/// A fetch failure that does not fail the run: one line on stderr.
fn report(e: &anyhow::Error) {
    // every fetch error names its file or URL already
    eprintln!("opskit bindstats: {}", crate::exit::one_line(e));
}

/// The munin plugin: graphs from the document, or, when it failed, the graphs of the last good
/// run (or the ones every server has) with every value `U` and the cause on stderr.
fn munin(args: &Args, result: anyhow::Result<Stats>, out: &mut Vec<u8>) -> anyhow::Result<()> {
    let verb = match args.verb {
        Some(Verb::Config) => munin_out::Verb::Config,
        _ => munin_out::Verb::Fetch,
    };
    let state = munin_state::state_file(&args.state_name());
    let mut settings = args.settings();
    // one warning for a state file that is there and unusable (the good run below rewrites it)
    let saved = state.as_deref().and_then(|p| match munin_state::load(p) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("opskit bindstats: warning: {}", crate::exit::one_line(&e));
            None
        }
    });
    let (graphs, values) = match result {
        Ok(st) => {
            warn_unknown_views(&st, &settings);
            if let Some(saved) = &saved {
                settings.graphed_before = bind_munin::zones_graphed(saved, &settings, &st);
            }
            let gs = bind_munin::graphs(&st, &settings);
            if let Some(p) = &state {
                if let Err(e) = munin_state::save(p, &gs) {
                    eprintln!("opskit bindstats: warning: {}", crate::exit::one_line(&e));
                }
            }
            (gs, Values::Known)
        }
        Err(e) => {
            // one line for munin-node's log; every known field unknown, never a zero
            report(&e);
            let gs = saved.unwrap_or_else(|| bind_munin::graphs(&Stats::default(), &settings));
            (gs, Values::Unknown)
        }
    };
    munin_out::write(out, &graphs, verb, munin_state::dirty(), values)?;
    Ok(())
}
