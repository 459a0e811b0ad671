//! `opskit conn-audit`: find stale ESTABLISHED TCP connections, by peer and by process.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::net::{IpAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _};
use serde::Serialize;

use crate::cmd::Context;
use crate::domain::tcp::{
    canonical, classify, group, idle_ms, reconcile_idle, state_name, Cidr, Direction, Group,
    Reason, Sock, Stale, Timer, CLOSE_WAIT, ESTABLISHED,
};
use crate::domain::units::clap_parsers;
use crate::exit::Outcome;
use crate::output::munin;
use crate::output::nagios::{self, Perf, Range, State};
use crate::output::prometheus::Family;
use crate::sys::net;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Groups, verdicts and totals for people
    Table,
    /// One JSON document
    Json,
    /// A Nagios/Icinga check: one status line, perfdata, exit 0/1/2/3
    Nagios,
    /// A munin plugin (add `config` for the graph definitions)
    Munin,
    /// Prometheus text exposition (node_exporter textfile collector)
    Prometheus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Source {
    /// netlink, falling back to /proc/net/tcp when netlink is unavailable
    Auto,
    /// NETLINK_SOCK_DIAG with tcp_info (idle times)
    Netlink,
    /// /proc/net/tcp and tcp6 (no idle times)
    Procfs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Verb {
    /// munin: print the graph definitions
    Config,
    /// munin: say whether the plugin can run here
    Autoconf,
}

fn parse_range(s: &str) -> Result<Range, String> {
    Range::parse(s).map_err(|e| e.to_string())
}

#[derive(Debug, clap::Args)]
#[command(
    about = "Find stale ESTABLISHED TCP connections, by peer and by process",
    long_about = "Find stale ESTABLISHED TCP connections, by peer and by process.\n\n\
        Reads the ESTABLISHED, CLOSE_WAIT and LISTEN TCP sockets of the current network namespace \
        over NETLINK_SOCK_DIAG with \
        tcp_info (time since data was last sent and received), finds the owners through \
        /proc/PID/fd, and reports the sockets that look stuck, grouped by remote endpoint and \
        process, with a one-line verdict per group (outbound connections by remote address and \
        port; inbound ones, to a local listening port, by client address and that local port):\n\
        \x20 idle               no data either way for --idle, nothing queued, no timer (a client \
        without a read timeout)\n\
        \x20 keepalive-idle     idle, but keepalive is answered (lower severity)\n\
        \x20 keepalive-probing  keepalive probes go unanswered: the peer is gone\n\
        \x20 retransmitting     unacknowledged data being retransmitted\n\
        \x20 zero-window        the peer stopped reading (persist timer)\n\
        \x20 unread             data waiting in the receive queue for --idle\n\
        \x20 close-wait         the peer closed, the local program never did (fd leak)\n\n\
        Without netlink (or with --root) it reads /proc/net/tcp{,6}, which has no idle times, \
        and says which fields are missing.",
    after_help = "Examples:\n  \
        opskit conn-audit                               # everything stale for 60 s\n  \
        opskit conn-audit --port 80 --idle 5m --resolve\n  \
        opskit conn-audit --format nagios --warning 10 --critical 50\n  \
        opskit conn-audit --format json | jq '.groups[0]'\n  \
        opskit conn-audit --watch 10s                   # how each group grows\n  \
        opskit conn-audit --peer 2001:db8::/32 --kill   # close them (asks first)\n\n\
        It audits its own network namespace. For a container's or another namespace's:\n  \
        nsenter -t PID -n opskit conn-audit\n  \
        ip netns exec NAME opskit conn-audit"
)]
pub struct Args {
    /// munin verb (with --format munin, or when run as a munin plugin)
    #[arg(value_enum, value_name = "VERB")]
    pub verb: Option<Verb>,

    /// How long without data before a connection counts as stale (500ms, 60s, 5m)
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = clap_parsers::duration)]
    pub idle: Duration,

    /// Only connections with this local or remote port
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,

    /// Only connections to this peer: an address, a CIDR block or a host name
    #[arg(long, value_name = "ADDR|CIDR|HOST")]
    pub peer: Option<String>,

    /// Only connections owned by this process name or PID
    #[arg(long, value_name = "NAME|PID")]
    pub process: Option<String>,

    /// Show reverse-DNS names of peers (2 s timeout, cached per run)
    #[arg(long)]
    pub resolve: bool,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table, value_name = "FORMAT")]
    pub format: Format,

    /// Nagios warning threshold on the stale count (range syntax: 10, 10:, @10:20)
    #[arg(long, value_name = "RANGE", value_parser = parse_range)]
    pub warning: Option<Range>,

    /// Nagios critical threshold on the stale count (range syntax)
    #[arg(long, value_name = "RANGE", value_parser = parse_range)]
    pub critical: Option<Range>,

    /// Where socket data comes from
    #[arg(long, value_enum, default_value_t = Source::Auto, value_name = "SOURCE")]
    pub source: Source,

    /// State file remembering when each stale socket was first seen (the kernel's idle
    /// counters wrap after 49.7 days) [default: $XDG_STATE_HOME/opskit/conn-audit.json]
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,

    /// Refresh every INTERVAL (default 5s) and show how each group grows
    #[arg(long, value_name = "INTERVAL", num_args = 0..=1, default_missing_value = "5s", value_parser = clap_parsers::duration)]
    pub watch: Option<Duration>,

    /// With --watch: stop after N reports
    #[arg(short = 'n', long, value_name = "N")]
    pub iterations: Option<u64>,

    /// Groups to show in the table, and to export to munin and Prometheus (the N largest, the
    /// rest summed as one "other" entry); 0 = all. JSON always lists every group
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub top: usize,

    /// Close the stale sockets listed with SOCK_DESTROY (as `ss -K`), after printing them
    #[arg(long)]
    pub kill: bool,

    /// With --kill: do not ask (required when stdin is not a terminal)
    #[arg(long)]
    pub yes: bool,
}

/// The stale sockets, serialized straight from the audit's records: no per-socket strings
/// are built (a busy server can have tens of thousands).
#[derive(Debug, Default)]
struct Sockets(Vec<Stale>);

/// An address serialized through its `Display` (`1.2.3.4:80`, `[2001:db8::1]:80`).
struct Addr(std::net::SocketAddr);

impl Serialize for Addr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

#[derive(Serialize)]
struct SockOut<'a> {
    local: Addr,
    remote: Addr,
    state: &'static str,
    idle_s: Option<f64>,
    pid: Option<u32>,
    pids: &'a [u32],
    process: Option<&'a str>,
    reason: &'static str,
    severity: u8,
    inode: u64,
    send_q: u32,
    recv_q: u32,
    timer: Timer,
}

impl Serialize for Sockets {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        ser.collect_seq(self.0.iter().map(|s| SockOut {
            local: Addr(s.sock.local),
            remote: Addr(s.sock.remote),
            state: state_name(s.sock.state),
            idle_s: s.idle_ms.map(|m| m as f64 / 1000.0),
            pid: s.pids.first().copied(),
            pids: &s.pids,
            process: s.process.as_deref(),
            reason: s.reason.label(),
            severity: s.reason.severity(),
            inode: s.sock.inode,
            send_q: s.sock.send_q,
            recv_q: s.sock.recv_q,
            timer: s.sock.timer,
        }))
    }
}

#[derive(Debug, Serialize)]
struct ByProcess {
    process: Option<String>,
    pids: Vec<u32>,
    count: usize,
}

#[derive(Debug, Serialize)]
struct Report {
    source: &'static str,
    /// The `--root` a capture was read from (`None`: the live system).
    root: Option<String>,
    netns: Option<String>,
    missing_fields: Vec<&'static str>,
    idle_threshold_s: f64,
    scanned: usize,
    /// The states read: the netlink dump asks the kernel for these only; procfs has all.
    scanned_states: Vec<&'static str>,
    established: usize,
    close_wait: usize,
    stale: usize,
    unowned: usize,
    by_reason: BTreeMap<&'static str, usize>,
    groups: Vec<Group>,
    by_process: Vec<ByProcess>,
    warnings: Vec<String>,
    sockets: Sockets,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn state_path(args: &Args) -> Option<PathBuf> {
    if let Some(p) = &args.state {
        return Some(p.clone());
    }
    // under munin-node: its plugin state directory
    if let Some(d) = std::env::var_os("MUNIN_PLUGSTATE").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d).join("opskit-conn-audit.json"));
    }
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
    Some(base.join("opskit/conn-audit.json"))
}

/// A socket's identity in the state file: its inode and 4-tuple, hashed.
fn sock_key(s: &Sock) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (s.inode, s.local, s.remote).hash(&mut h);
    h.finish()
}

/// Peers to keep: a CIDR, or the addresses a host name resolves to.
enum PeerFilter {
    Cidr(Cidr),
    Addrs(Vec<IpAddr>),
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
    let addrs: Vec<IpAddr> = (p, 0)
        .to_socket_addrs()
        .with_context(|| {
            format!("--peer '{p}': not an address or CIDR, and the name does not resolve")
        })?
        .map(|a| a.ip())
        .collect();
    Ok(PeerFilter::Addrs(addrs))
}

impl PeerFilter {
    fn matches(&self, ip: IpAddr) -> bool {
        match self {
            PeerFilter::Cidr(c) => c.contains(ip),
            PeerFilter::Addrs(v) => v
                .iter()
                .any(|a| canonical(std::net::SocketAddr::new(*a, 0)).ip() == ip),
        }
    }
}

/// Every TCP socket and where they came from: netlink, or /proc/net/tcp under `--root` or
/// when netlink is unavailable (with a warning).
fn read_sockets(
    args: &Args,
    ctx: &Context,
    warnings: &mut Vec<String>,
) -> anyhow::Result<(Vec<Sock>, &'static str)> {
    let (socks, source) = match (args.source, ctx.root.is_live()) {
        (Source::Procfs, _) | (Source::Auto, false) => (net::read_procfs(&ctx.root)?, "procfs"),
        (Source::Netlink, true) => (net::dump_netlink()?, "netlink"),
        (Source::Netlink, false) => {
            bail!("--source netlink reads the live kernel: it cannot be combined with --root")
        }
        (Source::Auto, true) => match net::dump_netlink() {
            Ok(v) => (v, "netlink"),
            Err(e) => {
                warnings.push(format!(
                    "netlink unavailable ({}): read /proc/net/tcp instead",
                    crate::exit::one_line(&e)
                ));
                (net::read_procfs(&ctx.root)?, "procfs")
            }
        },
    };
    Ok((socks, source))
}

fn audit(
    args: &Args,
    ctx: &Context,
    peer: Option<&PeerFilter>,
    dns: &mut HashMap<IpAddr, Option<String>>,
) -> anyhow::Result<Report> {
    let mut warnings = Vec::new();
    // listing every process's fds (the cheap half of the owner walk) runs beside the dump
    // when there is a core to spare
    let spare_core = std::thread::available_parallelism().is_ok_and(|n| n.get() > 1);
    let (dumped, prelisted) = std::thread::scope(|sc| {
        let lister = spare_core.then(|| sc.spawn(|| net::list_fds(&ctx.root)));
        let dumped = read_sockets(args, ctx, &mut warnings);
        (dumped, lister.and_then(|h| h.join().ok()))
    });
    let (mut socks, source) = dumped?;
    let missing_fields = if source == "procfs" {
        vec![
            "idle_s (last data sent/received)",
            "keepalive probes",
            "unacked",
        ]
    } else {
        Vec::new()
    };
    let scanned = socks.len();
    let listening: HashSet<u16> = socks
        .iter()
        .filter(|s| s.state == 10)
        .map(|s| s.local.port())
        .collect();
    for s in &mut socks {
        s.local = canonical(s.local);
        s.remote = canonical(s.remote);
    }
    // sockets outside the filters keep their state-file entries (another check with other
    // filters shares the file)
    let (kept, filtered_out): (Vec<Sock>, Vec<Sock>) = socks.into_iter().partition(|s| {
        args.port
            .is_none_or(|p| s.local.port() == p || s.remote.port() == p)
            && peer.is_none_or(|f| f.matches(s.remote.ip()))
    });
    let socks = kept;
    let others: HashSet<u64> = filtered_out.iter().map(sock_key).collect();
    let established = socks.iter().filter(|s| s.state == ESTABLISHED).count();
    let close_wait = socks.iter().filter(|s| s.state == CLOSE_WAIT).count();

    // idle times, reconciled with the state file (u32 ms counters wrap after 49.7 days)
    let threshold = args.idle.as_millis() as u64;
    let spath = state_path(args);
    // [[key, stale-since ms], ...]
    let old: HashMap<u64, u64> = spath
        .as_ref()
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|t| serde_json::from_slice::<Vec<(u64, u64)>>(&t).ok())
        .map(|v| v.into_iter().collect())
        .unwrap_or_default();
    let now = now_ms();
    let mut new_state: Vec<(u64, u64)> = Vec::new();
    let mut stale = Vec::new();
    for s in socks {
        let reported = s.info.as_ref().and_then(idle_ms);
        let key = sock_key(&s);
        let idle = reported.map(|r| {
            let (idle, since) = reconcile_idle(old.get(&key).copied(), now, r);
            (idle, since)
        });
        if let Some(reason) = classify(&s, threshold, idle.map(|i| i.0)) {
            if let Some((_, since)) = idle {
                new_state.push((key, since));
            }
            stale.push(Stale {
                sock: s,
                reason,
                idle_ms: idle.map(|i| i.0),
                pids: Vec::new(),
                process: None,
            });
        }
    }
    // entries of sockets this run did not judge (other filters) stay; those of sockets that
    // are gone or no longer stale go. procfs has no idle times: it leaves the file alone.
    new_state.extend(
        old.iter()
            .filter(|(k, _)| others.contains(k))
            .map(|(k, v)| (*k, *v)),
    );
    if let Some(p) = spath.as_ref().filter(|_| source == "netlink") {
        if let Err(e) = save_state(p, &new_state) {
            warnings.push(format!("state file {} not written: {e:#}", p.display()));
        }
    }

    // owners, only as far as needed
    let wanted: HashSet<u64> = stale
        .iter()
        .map(|s| s.sock.inode)
        .filter(|i| *i != 0)
        .collect();
    let owners = match prelisted {
        Some(table) => net::find_owners_in(&ctx.root, table, &wanted),
        None => net::find_owners(&ctx.root, &wanted),
    };
    for s in &mut stale {
        if let Some(pids) = owners.by_inode.get(&s.sock.inode) {
            s.pids = pids.clone();
            s.process = pids.iter().find_map(|p| owners.comm.get(p).cloned());
        }
    }
    if let Some(p) = &args.process {
        match p.parse::<u32>() {
            Ok(pid) => stale.retain(|s| s.pids.contains(&pid)),
            Err(_) => stale.retain(|s| s.process.as_deref() == Some(p.as_str())),
        }
    }
    let unowned = stale.iter().filter(|s| s.pids.is_empty()).count();
    if unowned > 0 && owners.denied > 0 {
        warnings.push(format!(
            "{unowned} stale sockets have no known owner: {} processes' fds could not be read (run as root, or grant CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH)",
            owners.denied
        ));
    }
    // oldest idle first
    stale.sort_by(|a, b| {
        b.idle_ms
            .unwrap_or(0)
            .cmp(&a.idle_ms.unwrap_or(0))
            .then(a.reason.cmp(&b.reason))
    });

    let names: BTreeMap<IpAddr, String> = if args.resolve {
        let mut ips: Vec<IpAddr> = stale.iter().map(|s| s.sock.remote.ip()).collect();
        ips.sort();
        ips.dedup();
        net::reverse_dns(&ips, Duration::from_secs(2), dns);
        ips.iter()
            .filter_map(|ip| Some((*ip, dns.get(ip)?.clone()?)))
            .collect()
    } else {
        BTreeMap::new()
    };
    let groups = group(&stale, threshold, &names, &listening);
    let mut procs: BTreeMap<Option<String>, (HashSet<u32>, usize)> = BTreeMap::new();
    for s in &stale {
        let e = procs.entry(s.process.clone()).or_default();
        e.0.extend(s.pids.iter().copied());
        e.1 += 1;
    }
    let mut by_process: Vec<ByProcess> = procs
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
    by_process.sort_by_key(|p| std::cmp::Reverse(p.count));
    let mut by_reason = BTreeMap::new();
    for r in Reason::ALL {
        by_reason.insert(r.label(), stale.iter().filter(|s| s.reason == r).count());
    }
    Ok(Report {
        source,
        root: (!ctx.root.is_live()).then(|| ctx.root.base().display().to_string()),
        netns: net::netns(&ctx.root),
        missing_fields,
        idle_threshold_s: args.idle.as_secs_f64(),
        scanned,
        scanned_states: if source == "netlink" {
            net::NETLINK_STATES.to_vec()
        } else {
            vec!["all"]
        },
        established,
        close_wait,
        stale: stale.len(),
        unowned,
        by_reason,
        groups,
        by_process,
        warnings,
        sockets: Sockets(stale),
    })
}

fn save_state(p: &std::path::Path, st: &[(u64, u64)]) -> anyhow::Result<()> {
    // `--state /dev/null` turns the state off: never replace a device or anything else
    // that is not a regular file
    if let Ok(m) = std::fs::metadata(p) {
        if !m.is_file() {
            return Ok(());
        }
    }
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let tmp = p.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(st)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, p).with_context(|| format!("renaming to {}", p.display()))?;
    Ok(())
}

fn fmt_idle(s: Option<f64>) -> String {
    let Some(s) = s else { return "-".into() };
    let s = s as u64;
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m{}s", s / 60, s % 60),
        7200..=172_799 => format!("{}h{}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{}h", s / 86400, s % 86400 / 3600),
    }
}

/// The groups beyond the first ones shown: how many, and their sockets.
struct Rest {
    groups: usize,
    sockets: usize,
}

fn rest_of<'a>(rest: impl Iterator<Item = &'a Group>) -> Option<Rest> {
    let (groups, sockets) = rest.fold((0, 0), |(g, s), x| (g + 1, s + x.count));
    (groups > 0).then_some(Rest { groups, sockets })
}

/// The `top` largest groups for munin and Prometheus (0 = all), in report order, and the
/// rest: exported series stay few on a server with thousands of idle clients.
fn exported(groups: &[Group], top: usize) -> (Vec<&Group>, Option<Rest>) {
    if top == 0 || groups.len() <= top {
        return (groups.iter().collect(), None);
    }
    let mut by_size: Vec<usize> = (0..groups.len()).collect();
    by_size.sort_by_key(|i| std::cmp::Reverse(groups[*i].count));
    let mut keep = vec![false; groups.len()];
    for i in &by_size[..top] {
        keep[*i] = true;
    }
    let rest = rest_of(
        groups
            .iter()
            .zip(&keep)
            .filter(|(_, k)| !**k)
            .map(|(g, _)| g),
    );
    let kept = groups
        .iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .map(|(g, _)| g)
        .collect();
    (kept, rest)
}

fn write_table(out: &mut String, r: &Report, prev: Option<&HashMap<String, usize>>, top: usize) {
    let shown = if top == 0 {
        r.groups.len()
    } else {
        top.min(r.groups.len())
    };
    let (groups, rest) = (&r.groups[..shown], rest_of(r.groups[shown..].iter()));
    use crate::output::table::{Align, Table};
    let _ = match &r.root {
        Some(root) => writeln!(
            out,
            "conn-audit: source {} under {root} (a capture, not this system)",
            r.source
        ),
        None => writeln!(
            out,
            "conn-audit: source {}, network namespace {} (this process's own)",
            r.source,
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
    let _ = writeln!(
        out,
        "scanned {} TCP sockets ({}): {} ESTABLISHED, {} CLOSE_WAIT, {} stale (idle threshold {} s), {} without a known owner",
        r.scanned,
        if r.scanned_states == ["all"] { "all states".to_string() } else { r.scanned_states.join(", ") },
        r.established, r.close_wait, r.stale, r.idle_threshold_s, r.unowned
    );
    for w in &r.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    if r.groups.is_empty() {
        let _ = writeln!(out, "no stale connections");
        return;
    }
    let _ = writeln!(out, "\nby remote endpoint, oldest idle first:");
    let mut headers = vec![("COUNT", Align::Right)];
    if prev.is_some() {
        headers.push(("GROWTH", Align::Right));
    }
    headers.extend([
        ("REMOTE", Align::Left),
        ("PROCESS", Align::Left),
        ("PIDS", Align::Left),
        ("MAX IDLE", Align::Right),
        ("REASONS", Align::Left),
    ]);
    let mut t = Table::new(headers);
    for g in groups {
        let mut row = vec![g.count.to_string()];
        if let Some(prev) = prev {
            let key = group_key(g);
            let d = g.count as i64 - prev.get(&key).copied().unwrap_or(0) as i64;
            row.push(format!("{d:+}"));
        }
        let remote = g.endpoint(true);
        let mut pids: Vec<String> = g.pids.iter().take(8).map(|p| p.to_string()).collect();
        if g.pids.len() > 8 {
            pids.push(format!("+{}", g.pids.len() - 8));
        }
        row.extend([
            remote,
            g.process.clone().unwrap_or_else(|| "?".into()),
            pids.join(","),
            fmt_idle(g.max_idle_s),
            g.reasons
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" "),
        ]);
        t.push(row);
    }
    let mut buf = Vec::new();
    let _ = t.render(&mut buf);
    out.push_str(&String::from_utf8_lossy(&buf));
    if let Some(rest) = &rest {
        let _ = writeln!(
            out,
            "... and {} more groups with {} sockets (--top 0 lists them all; --format json has every one)",
            rest.groups, rest.sockets
        );
    }
    let _ = writeln!(out, "\nverdicts:");
    for g in groups {
        let _ = writeln!(out, "  {}", g.verdict);
    }
    let _ = writeln!(out, "\nby process:");
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
    let mut buf = Vec::new();
    let _ = t.render(&mut buf);
    out.push_str(&String::from_utf8_lossy(&buf));
}

fn group_key(g: &Group) -> String {
    format!(
        "{}|{}",
        g.endpoint(false),
        g.process.as_deref().unwrap_or("")
    )
}

fn nagios_perf(r: &Report, args: &Args) -> Vec<Perf> {
    let mut stale = Perf::new("stale", r.stale as f64);
    stale.warn = args.warning.as_ref().map(|w| w.as_str().to_string());
    stale.crit = args.critical.as_ref().map(|c| c.as_str().to_string());
    stale.min = Some(0.0);
    let mut perf = vec![stale];
    let mut est = Perf::new("established", r.established as f64);
    est.min = Some(0.0);
    perf.push(est);
    for (k, v) in &r.by_reason {
        let mut p = Perf::new(k.replace('-', "_"), *v as f64);
        p.min = Some(0.0);
        perf.push(p);
    }
    perf
}

fn write_nagios(out: &mut Vec<u8>, r: &Report, args: &Args) -> anyhow::Result<State> {
    let state = nagios::state_of(
        r.stale as f64,
        args.warning.as_ref(),
        args.critical.as_ref(),
    );
    let mut text = format!(
        "{} stale of {} established TCP connections",
        r.stale, r.established
    );
    if r.source != "netlink" {
        // without tcp_info, idle, unread and keepalive shapes cannot be seen at all
        let _ = write!(
            text,
            " (source {}: no idle times, only CLOSE_WAIT and timer shapes are judged)",
            r.source
        );
    }
    if let Some(g) = r.groups.first() {
        let _ = write!(text, "; {}", g.verdict);
        if r.groups.len() > 1 {
            let _ = write!(text, " (+{} more groups)", r.groups.len() - 1);
        }
    }
    nagios::write_status(out, "CONN-AUDIT", state, &text, &nagios_perf(r, args))?;
    Ok(state)
}

fn write_munin(out: &mut String, r: &Report, config: bool, top: usize) {
    let _ = munin::multigraph(&mut StrW(out), "conn_audit");
    if config {
        out.push_str("graph_title Stale TCP connections by reason\ngraph_vlabel connections\ngraph_category network\ngraph_args --base 1000 -l 0\ngraph_info Connections opskit conn-audit finds stuck: idle without a read timeout, unanswered keepalive, retransmitting, zero window, unread, CLOSE_WAIT.\n");
        for k in r.by_reason.keys() {
            let f = munin::clean_fieldname(k);
            let _ = writeln!(out, "{f}.label {k}\n{f}.draw AREASTACK\n{f}.min 0");
        }
        out.push_str(
            "established.label ESTABLISHED (all)\nestablished.draw LINE1\nestablished.min 0\n",
        );
    } else {
        for (k, v) in &r.by_reason {
            let _ = writeln!(out, "{}.value {v}", munin::clean_fieldname(k));
        }
        let _ = writeln!(out, "established.value {}", r.established);
    }
    let _ = munin::multigraph(&mut StrW(out), "conn_audit.groups");
    let mut namer = munin::FieldNamer::new();
    if config {
        out.push_str("graph_title Stale TCP connections by peer and process\ngraph_vlabel connections\ngraph_category network\ngraph_args --base 1000 -l 0\n");
    }
    let (groups, rest) = exported(&r.groups, top);
    for g in groups {
        let label = format!(
            "{} {}",
            g.endpoint(false),
            g.process.as_deref().unwrap_or("?")
        );
        let f = namer.name(&format!("g_{label}"));
        if config {
            let _ = writeln!(out, "{f}.label {}\n{f}.min 0", munin::clean_text(&label));
        } else {
            let _ = writeln!(out, "{f}.value {}", g.count);
        }
    }
    if let Some(rest) = rest {
        if config {
            out.push_str("other_groups.label other groups\nother_groups.min 0\n");
        } else {
            let _ = writeln!(out, "other_groups.value {}", rest.sockets);
        }
    }
}

/// `fmt::Write` over a String for the munin helpers that take `io::Write`.
struct StrW<'a>(&'a mut String);

impl std::io::Write for StrW<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.push_str(&String::from_utf8_lossy(b));
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn write_prometheus(out: &mut Vec<u8>, r: &Report, top: usize) -> std::io::Result<()> {
    let mut f = Family::new(
        "opskit_conn_audit_sockets",
        "gauge",
        "TCP sockets scanned by conn-audit (scanned: every socket read; netlink reads ESTABLISHED, CLOSE_WAIT and LISTEN only), by state.",
    );
    f.push(&[("state", "scanned")], r.scanned as f64);
    f.push(&[("state", "established")], r.established as f64);
    f.push(&[("state", "close_wait")], r.close_wait as f64);
    f.render(out)?;
    let mut f = Family::new(
        "opskit_conn_audit_stale",
        "gauge",
        "Stale TCP connections by reason.",
    );
    for (k, v) in &r.by_reason {
        f.push(&[("reason", k)], *v as f64);
    }
    f.render(out)?;
    let mut f = Family::new(
        "opskit_conn_audit_unowned",
        "gauge",
        "Stale sockets whose owning process could not be found.",
    );
    f.push(&[], r.unowned as f64);
    f.render(out)?;
    let mut c = Family::new(
        "opskit_conn_audit_group_stale",
        "gauge",
        "Stale TCP connections per remote endpoint and process; port is the remote port for outbound connections, the local (listening) port for inbound ones.",
    );
    let mut m = Family::new(
        "opskit_conn_audit_group_max_idle_seconds",
        "gauge",
        "Longest idle time in the group.",
    );
    let (groups, rest) = exported(&r.groups, top);
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
    c.render(out)?;
    m.render(out)
}

pub fn run(args: Args, ctx: &Context) -> anyhow::Result<Outcome> {
    if args.kill && args.format != Format::Table {
        bail!(
            "--kill lists what it closes and asks: use it with the table format, not --format {}",
            format!("{:?}", args.format).to_lowercase()
        );
    }
    let munin_mode = args.format == Format::Munin || args.verb.is_some();
    if args.format == Format::Nagios {
        // every failure is UNKNOWN (exit 3), on the one status line
        let mut out = Vec::new();
        let code = match nagios_run(&args, ctx, &mut out) {
            Ok(code) => code,
            Err(e) => {
                out.clear();
                let _ = nagios::write_status(
                    &mut out,
                    "CONN-AUDIT",
                    State::Unknown,
                    &crate::exit::one_line(&e),
                    &[],
                );
                State::Unknown
            }
        };
        std::io::stdout()
            .lock()
            .write_all(&out)
            .context("writing to stdout")?;
        return Ok(Outcome::Nagios(code));
    }
    if munin_mode && args.verb == Some(Verb::Autoconf) {
        let answer = match net::dump_netlink() {
            Ok(_) => "yes".to_string(),
            Err(e) => match net::read_procfs(&ctx.root) {
                Ok(_) => "yes".to_string(),
                Err(_) => format!("no ({})", crate::exit::one_line(&e)),
            },
        };
        println!("{answer}");
        return Ok(Outcome::Success);
    }
    let peer = args.peer.as_deref().map(peer_filter).transpose()?;
    let mut prev: Option<HashMap<String, usize>> = None;
    // reverse-DNS answers, kept across --watch reports
    let mut dns = HashMap::new();
    let mut n = 0u64;
    loop {
        let report = audit(&args, ctx, peer.as_ref(), &mut dns)?;
        let mut out = Vec::new();
        if munin_mode {
            let mut s = String::new();
            let config = args.verb == Some(Verb::Config);
            write_munin(&mut s, &report, config, args.top);
            if config && std::env::var_os("MUNIN_CAP_DIRTYCONFIG").is_some_and(|v| v == "1") {
                write_munin(&mut s, &report, false, args.top);
            }
            out.extend_from_slice(s.as_bytes());
        } else {
            match args.format {
                // pretty for people, compact (much smaller) for pipes and files
                Format::Json if std::io::stdout().is_terminal() => {
                    crate::output::json::write_pretty(&mut out, &report)?
                }
                Format::Json => crate::output::json::write_line(&mut out, &report)?,
                Format::Prometheus => write_prometheus(&mut out, &report, args.top)?,
                _ => {
                    let mut s = String::new();
                    if args.watch.is_some() && std::io::stdout().is_terminal() {
                        s.push_str("\x1b[H\x1b[2J");
                    }
                    if args.watch.is_some() {
                        let _ = writeln!(
                            s,
                            "{}",
                            crate::domain::interrupts::rfc3339_utc((now_ms() / 1000) as i64, 0)
                        );
                    }
                    write_table(&mut s, &report, prev.as_ref(), args.top);
                    out.extend_from_slice(s.as_bytes());
                }
            }
        }
        {
            let mut so = std::io::stdout().lock();
            so.write_all(&out)
                .and_then(|()| so.flush())
                .context("writing to stdout")?;
        }
        if args.kill {
            return kill(&report, &args);
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
                .map(|g| (group_key(g), g.count))
                .collect(),
        );
        std::thread::sleep(every);
    }
    Ok(Outcome::Success)
}

fn nagios_run(args: &Args, ctx: &Context, out: &mut Vec<u8>) -> anyhow::Result<State> {
    let peer = args.peer.as_deref().map(peer_filter).transpose()?;
    let report = audit(args, ctx, peer.as_ref(), &mut HashMap::new())?;
    write_nagios(out, &report, args)
}

fn kill(r: &Report, args: &Args) -> anyhow::Result<Outcome> {
    if r.sockets.0.is_empty() {
        println!("nothing to kill");
        return Ok(Outcome::Success);
    }
    println!(
        "\nabout to close {} sockets with SOCK_DESTROY:",
        r.sockets.0.len()
    );
    for s in &r.sockets.0 {
        println!(
            "  {} -> {} {} {} pid {}",
            s.sock.local,
            s.sock.remote,
            state_name(s.sock.state),
            s.reason.label(),
            s.pids
                .first()
                .map(|p| p.to_string())
                .unwrap_or_else(|| "?".into())
        );
    }
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            bail!("refusing to --kill without --yes: stdin is not a terminal");
        }
        print!("close them? [y/N] ");
        std::io::stdout().flush()?;
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        if !matches!(line.trim(), "y" | "Y" | "yes") {
            println!("nothing closed");
            return Ok(Outcome::Success);
        }
    }
    let mut failed = 0;
    for s in &r.sockets.0 {
        if let Err(e) = net::destroy(&s.sock) {
            let msg = crate::exit::one_line(&e);
            if msg.contains("CONFIG_INET_DIAG_DESTROY") {
                bail!("{msg}");
            }
            eprintln!(
                "opskit conn-audit: {} -> {}: {msg}",
                s.sock.local, s.sock.remote
            );
            failed += 1;
        }
    }
    println!(
        "closed {} of {} sockets",
        r.sockets.0.len() - failed,
        r.sockets.0.len()
    );
    Ok(if failed > 0 {
        Outcome::Findings
    } else {
        Outcome::Success
    })
}
