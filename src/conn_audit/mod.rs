//! `opskit conn-audit`: find stale TCP connections, by peer and by process, causes first.
//! Only wiring: `gather` reads (netlink/procfs, owners, state file, names), `model` parses,
//! `judge` judges (each socket; `judge::verdict`: groups, causes, ranking), `render` renders
//! through the shared [`crate::format`] writers.

mod args;
pub(crate) mod gather;
pub(crate) mod judge;
mod kill;
pub(crate) mod model;
pub(crate) mod render;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{IsTerminal, Write as _};
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _};

pub(crate) use args::{Args, Format, SourceArg, Verb};

use crate::common::munin_state;
use crate::common::Context;
use crate::conn_audit::gather::state::{self as conn_state, Loaded};
use crate::conn_audit::gather::{net, owners};
use crate::conn_audit::judge::verdict::{report, GroupKey, Meta, Report};
use crate::conn_audit::judge::{
    attach_owners, judge, Judged, Memory, Options, PeerFilter, PortFilter, ProcessFilter, Source,
};
use crate::conn_audit::model::tcp::{Cidr, Sock};
use crate::exit::Outcome;
use crate::format::munin::{self, Values};
use crate::format::{nagios, prometheus};

/// How long a `--peer HOST` lookup or a `--resolve` round may take.
const DNS_TIMEOUT: Duration = Duration::from_secs(2);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn peer_filter(p: &str) -> anyhow::Result<PeerFilter> {
    if let Ok(c) = Cidr::parse(p) {
        return Ok(PeerFilter::Cidr(c));
    }
    if p.contains('/') || p.parse::<f64>().is_ok() {
        bail!(
            "invalid --peer '{p}': expected an address, a CIDR block (192.0.2.0/24) or a host name"
        );
    }
    Ok(PeerFilter::Addrs(net::resolve_host(p, DNS_TIMEOUT)?))
}

fn options(args: &Args) -> anyhow::Result<Options> {
    Ok(Options {
        idle_ms: u64::try_from(args.idle.as_millis()).unwrap_or(u64::MAX),
        ports: PortFilter {
            port: args.port,
            sport: args.sport,
            dport: args.dport,
        },
        peer: args.peer.as_deref().map(peer_filter).transpose()?,
        process: args.process.as_deref().map(ProcessFilter::parse),
    })
}

/// Every TCP socket and where they came from: netlink, or /proc/net/tcp under `--root` or
/// when netlink is unavailable (with a warning).
fn read_sockets(
    args: &Args,
    ctx: &Context,
    warnings: &mut Vec<String>,
) -> anyhow::Result<(Vec<Sock>, Source)> {
    Ok(match (args.source, ctx.root.is_live()) {
        (SourceArg::Procfs, _) | (SourceArg::Auto, false) => {
            (net::read_procfs(&ctx.root)?, Source::Procfs)
        }
        (SourceArg::Netlink, true) => (net::dump_netlink()?, Source::Netlink),
        (SourceArg::Netlink, false) => {
            bail!("--source netlink reads the live kernel: it cannot be combined with --root")
        }
        (SourceArg::Auto, true) => match net::dump_netlink() {
            Ok(v) => (v, Source::Netlink),
            Err(e) => {
                warnings.push(format!(
                    "netlink unavailable ({}): read /proc/net/tcp instead",
                    crate::exit::one_line(&e)
                ));
                (net::read_procfs(&ctx.root)?, Source::Procfs)
            }
        },
    })
}

/// The state file for this namespace (netlink only: procfs has no idle times to remember).
fn load_state(
    args: &Args,
    netns: Option<u64>,
    warnings: &mut Vec<String>,
) -> Option<(conn_state::StateFile, Memory)> {
    let path = conn_state::path(args.state.as_deref())?;
    match conn_state::load(&path, netns.unwrap_or(0)) {
        Loaded::Ready(file, memory, warning) => {
            warnings.extend(warning);
            Some((file, memory))
        }
        Loaded::Off(warning) => {
            warnings.extend(warning);
            None
        }
    }
}

/// Reverse-DNS names of the stale peers (`--resolve`), cached across `--watch` reports.
fn names(
    stale: &[crate::conn_audit::judge::Stale],
    dns: &mut HashMap<IpAddr, Option<String>>,
) -> BTreeMap<IpAddr, String> {
    let mut ips: Vec<IpAddr> = stale.iter().map(|s| s.sock.remote.ip()).collect();
    ips.sort();
    ips.dedup();
    net::reverse_dns(&ips, DNS_TIMEOUT, dns);
    ips.iter()
        .filter_map(|ip| Some((*ip, dns.get(ip)?.clone()?)))
        .collect()
}

/// Sockets per namespace, with the namespace's label and inode (the state file's key).
type PerNamespace = Vec<((String, Option<u64>), Vec<Sock>)>;

/// The sockets of the namespaces chosen by `--netns` or `--all-netns` (netlink only). With
/// --all-netns, a namespace that vanished meanwhile is a warning, not a failure.
fn dump_namespaces(
    nss: &[net::Netns],
    all: bool,
    warnings: &mut Vec<String>,
) -> anyhow::Result<(PerNamespace, Source)> {
    let mut out = Vec::new();
    for ns in nss {
        match net::dump_netlink_in(ns) {
            Ok(socks) => out.push(((ns.label.clone(), Some(ns.inode)), socks)),
            Err(e) if all => warnings.push(format!(
                "network namespace {} not audited: {}",
                ns.label,
                crate::exit::one_line(&e)
            )),
            Err(e) => return Err(e),
        }
    }
    Ok((out, Source::Netlink))
}

/// `--process NAME|PID` living in a network namespace that was not audited: say where, and
/// how to audit it (its sockets are not in this namespace's dump).
fn elsewhere(p: &ProcessFilter, own: Option<u64>, chosen: Option<&[net::Netns]>) -> Option<String> {
    let name = match p {
        ProcessFilter::Pid(pid) => pid.to_string(),
        ProcessFilter::Name(n) => n.clone(),
    };
    let audited: HashSet<u64> = match chosen {
        Some(nss) => nss.iter().map(|n| n.inode).collect(),
        None => own.into_iter().collect(),
    };
    let away: Vec<(u32, u64)> = net::process_netns(&name)
        .into_iter()
        .filter(|(_, ns)| !audited.contains(ns))
        .collect();
    let (pid, ns) = *away.first()?;
    let more = match away.len() {
        1 => String::new(),
        n => format!(" (and {} more of its processes)", n - 1),
    };
    Some(format!(
        "{} (pid {pid}){more} lives in network namespace net:[{ns}], which was not audited: use --netns {pid} or --all-netns (as root)",
        crate::common::escape::clean(&name)
    ))
}

/// One audit: gather, judge, remember, find owners, group.
fn audit(
    args: &Args,
    ctx: &Context,
    opts: &Options,
    dns: &mut HashMap<IpAddr, Option<String>>,
) -> anyhow::Result<Report> {
    let mut warnings = Vec::new();
    if (args.netns.is_some() || args.all_netns)
        && (!ctx.root.is_live() || args.source == SourceArg::Procfs)
    {
        bail!("--netns and --all-netns enter live namespaces over netlink: not with --root or --source procfs");
    }
    // other namespaces (--netns, --all-netns): one thread enters each
    let chosen = match (&args.netns, args.all_netns) {
        (Some(n), _) => Some(vec![net::netns_named(n)?]),
        (None, true) => Some(net::all_netns()),
        (None, false) => None,
    };
    // listing every process's fds (the cheap half of the owner walk) runs beside the dump
    // when there is a core to spare
    let spare_core = std::thread::available_parallelism().is_ok_and(|n| n.get() > 1);
    let (dumped, prelisted) = std::thread::scope(|sc| {
        let lister = spare_core.then(|| sc.spawn(|| owners::list_fds(&ctx.root)));
        let dumped = match &chosen {
            Some(nss) => dump_namespaces(nss, args.all_netns, &mut warnings),
            None => read_sockets(args, ctx, &mut warnings).map(|(socks, source)| {
                let own = ctx
                    .root
                    .is_live()
                    .then(|| net::netns_id(&ctx.root))
                    .flatten();
                let ns = own.map(|(label, inode)| (label, Some(inode)));
                (vec![(ns.unwrap_or(("?".into(), None)), socks)], source)
            }),
        };
        (dumped, lister.and_then(|h| h.join().ok()))
    });
    let (per_ns, source) = dumped?;
    let own = ctx
        .root
        .is_live()
        .then(|| net::netns_id(&ctx.root))
        .flatten();
    let mut judged = Judged::default();
    let mut namespaces = Vec::new();
    for (i, ((label, inode), socks)) in per_ns.into_iter().enumerate() {
        namespaces.push(label);
        let state = match (source, inode) {
            (Source::Netlink, Some(ino)) => load_state(args, Some(ino), &mut warnings),
            _ => None,
        };
        let empty = Memory::new();
        let mut one = judge(
            socks,
            opts,
            now_ms(),
            state.as_ref().map_or(&empty, |s| &s.1),
        );
        if let Some((file, _)) = &state {
            if let Err(e) = file.save(&one.memory) {
                warnings.push(format!("state file not written: {e:#}"));
            }
        }
        let n = u32::try_from(i).unwrap_or(u32::MAX);
        for s in one.stale.iter_mut().chain(one.context.iter_mut()) {
            s.netns = n;
        }
        judged.merge(one);
    }
    // owners, only as far as needed: the stale sockets and their listeners (and with
    // --process every connection, to count only that process's)
    let wanted: HashSet<u64> = judged
        .stale
        .iter()
        .chain(&judged.context)
        .map(|s| s.sock.inode)
        .chain(judged.listener_inodes.iter().copied())
        .chain(judged.kept.iter().map(|k| k.0))
        .filter(|i| *i != 0)
        .collect();
    let owners = match prelisted {
        Some(table) => owners::find_owners_in(&ctx.root, table, &wanted),
        None => owners::find_owners(&ctx.root, &wanted),
    };
    attach_owners(&mut judged.stale, &owners, opts.process.as_ref());
    attach_owners(&mut judged.context, &owners, None);
    if let Some(p) = &opts.process {
        judged.counts = judged.counts_of_process(&owners, p);
        if let Some(w) = elsewhere(p, own.as_ref().map(|o| o.1), chosen.as_deref()) {
            warnings.push(w);
        }
    }
    let names = if args.resolve {
        names(&judged.stale, dns)
    } else {
        BTreeMap::new()
    };
    let meta = Meta {
        source,
        root: (!ctx.root.is_live()).then(|| ctx.root.base().display().to_string()),
        netns: own.map(|n| n.0),
        namespaces,
        scanned_states: match source {
            Source::Netlink => net::NETLINK_STATES.to_vec(),
            Source::Procfs => vec!["all"],
        },
        warnings,
        idle_ms: opts.idle_ms,
    };
    Ok(report(
        meta,
        judged.stale,
        &judged.context,
        judged.counts,
        &names,
        &owners,
        &judged.queues,
    ))
}

/// `--format nagios`: every failure is UNKNOWN (exit 3), on the one status line.
fn run_nagios(args: &Args, ctx: &Context) -> anyhow::Result<Outcome> {
    let mut out = Vec::new();
    let checked = validate(args)
        .and_then(|()| options(args))
        .and_then(|opts| audit(args, ctx, &opts, &mut HashMap::new()))
        .and_then(|r| {
            let check = render::nagios_check(&r, args.warning.as_ref(), args.critical.as_ref());
            Ok(check.write(&mut out)?)
        });
    let state = match checked {
        Ok(state) => state,
        Err(e) => {
            out.clear();
            nagios::write_unknown(&mut out, render::SERVICE, &crate::exit::one_line(&e))?
        }
    };
    crate::common::print(&out).context("writing to stdout")?;
    Ok(Outcome::Nagios(state))
}

fn autoconf(ctx: &Context) -> Outcome {
    let answer = match net::dump_netlink() {
        Ok(_) => "yes".to_string(),
        Err(e) => match net::read_procfs(&ctx.root) {
            Ok(_) => "yes".to_string(),
            Err(_) => format!("no ({})", crate::exit::one_line(&e)),
        },
    };
    println!("{answer}");
    Outcome::Success
}

/// One report in the chosen format.
fn render_report(
    args: &Args,
    r: &Report,
    prev: Option<&HashMap<GroupKey, usize>>,
) -> anyhow::Result<Vec<u8>> {
    let top = usize::try_from(args.top).unwrap_or(usize::MAX);
    let mut out = Vec::new();
    if is_munin(args) {
        write_munin(&mut out, args, &render::munin_graphs(r, top), Values::Known)?;
        return Ok(out);
    }
    match args.format {
        // streamed, not buffered: every stale socket is listed (430k of them in a capture)
        Format::Json => {
            let stdout = std::io::stdout();
            let mut w = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
            // pretty for people, compact (much smaller) for pipes and files
            if std::io::stdout().is_terminal() {
                crate::format::json::write_pretty(&mut w, &render::json(r))?
            } else {
                crate::format::json::write_line(&mut w, &render::json(r))?
            }
            w.flush().context("writing to stdout")?;
        }
        Format::Prometheus => prometheus::write(&mut out, &render::prometheus_families(r, top))?,
        _ => {
            let mut s = String::new();
            if args.watch.is_some() {
                if std::io::stdout().is_terminal() {
                    s.push_str("\x1b[H\x1b[2J");
                }
                s.push_str(&crate::itop::model::interrupts::rfc3339_utc(
                    (now_ms() / 1000) as i64,
                    0,
                ));
                s.push('\n');
            }
            render::write_table(&mut s, r, prev, top);
            out.extend_from_slice(s.as_bytes());
        }
    }
    Ok(out)
}

/// A munin run: `--format munin`, a munin verb, or the `conn_audit` link.
fn is_munin(args: &Args) -> bool {
    args.format == Format::Munin || args.verb.is_some()
}

/// What munin asked for (with dirtyconfig, `config` carries the values too).
fn write_munin(
    out: &mut Vec<u8>,
    args: &Args,
    graphs: &[munin::Graph],
    values: Values,
) -> anyhow::Result<()> {
    let verb = match args.verb {
        Some(Verb::Config) => munin::Verb::Config,
        _ => munin::Verb::Fetch,
    };
    munin::write(out, graphs, verb, munin_state::dirty(), values)?;
    Ok(())
}

/// A failed audit under munin: the cause on stderr (munin-node's log), the by-reason graph
/// with every value `U`, exit 0 (munin records the gap instead of dropping the plugin).
fn munin_failed(args: &Args, e: &anyhow::Error) -> anyhow::Result<Outcome> {
    eprintln!("opskit conn-audit: {}", crate::exit::one_line(e));
    let mut out = Vec::new();
    write_munin(
        &mut out,
        args,
        &render::munin_graphs_failed(),
        Values::Unknown,
    )?;
    crate::common::print(&out).context("writing to stdout")?;
    Ok(Outcome::Success)
}

/// Usage errors clap cannot word well (exit 2 as conn-audit's runtime errors; UNKNOWN with
/// --format nagios).
fn validate(args: &Args) -> anyhow::Result<()> {
    if args.yes && !args.kill {
        bail!("--yes answers --kill's question: it is only valid with --kill");
    }
    if args.iterations.is_some() && args.watch.is_none() {
        bail!("-n/--iterations counts --watch reports: it is only valid with --watch");
    }
    if args.kill && args.format != Format::Table {
        bail!(
            "--kill lists what it closes and asks: use it with the table format, not --format {}",
            format!("{:?}", args.format).to_lowercase()
        );
    }
    Ok(())
}

pub(crate) fn run(args: Args, ctx: &Context) -> anyhow::Result<Outcome> {
    if args.format == Format::Nagios {
        return run_nagios(&args, ctx);
    }
    validate(&args)?;
    if args.kill && (args.source == SourceArg::Procfs || !ctx.root.is_live()) {
        bail!(
            "{}",
            kill::refusal(Source::Procfs, !ctx.root.is_live(), &[]).unwrap_or_default()
        );
    }
    if args.verb == Some(Verb::Autoconf) {
        return Ok(autoconf(ctx));
    }
    let opts = options(&args)?;
    let mut prev: Option<HashMap<GroupKey, usize>> = None;
    // reverse-DNS answers, kept across --watch reports
    let mut dns = HashMap::new();
    let mut n = 0u64;
    loop {
        let report = match audit(&args, ctx, &opts, &mut dns) {
            Ok(r) => r,
            Err(e) if is_munin(&args) => return munin_failed(&args, &e),
            Err(e) => return Err(e),
        };
        let out = render_report(&args, &report, prev.as_ref())?;
        crate::common::print(&out).context("writing to stdout")?;
        if args.kill {
            if let Some(why) =
                kill::refusal(report.source, report.root.is_some(), &report.sockets.0)
            {
                bail!("{why}");
            }
            let confirm = match args.yes {
                true => kill::Confirm::Assumed,
                false => kill::Confirm::Ask,
            };
            return kill::kill(&report.sockets.0, confirm);
        }
        n += 1;
        let Some(every) = args.watch else { break };
        if args.iterations.is_some_and(|max| n >= max) {
            break;
        }
        prev = Some(
            report
                .groups
                .iter()
                .map(|g| (g.key.clone(), g.count))
                .collect(),
        );
        std::thread::sleep(every);
    }
    Ok(Outcome::Success)
}
