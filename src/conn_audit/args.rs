//! conn-audit's command line: the one source of its `--help`, man page and completions.

use std::path::PathBuf;
use std::time::Duration;

use crate::common::units::clap_parsers;
use crate::format::nagios::Range;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// Verdicts, groups and totals for people
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
pub(crate) enum SourceArg {
    /// netlink, falling back to /proc/net/tcp when netlink is unavailable
    Auto,
    /// NETLINK_SOCK_DIAG with tcp_info (idle times)
    Netlink,
    /// /proc/net/tcp and tcp6 (no idle times)
    Procfs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Verb {
    /// munin: print the graph definitions
    Config,
    /// munin: say whether the plugin can run here
    Autoconf,
}

fn parse_range(s: &str) -> Result<Range, String> {
    Range::parse(s).map_err(|e| e.to_string())
}

/// A duration that is not zero and at most a day (`--idle`, `--watch`).
fn positive_duration(s: &str) -> Result<Duration, String> {
    let d = clap_parsers::duration(s)?;
    if d.is_zero() {
        return Err("must be more than 0 (e.g. 500ms, 5s, 1m)".into());
    }
    if d > Duration::from_secs(366 * 86_400) {
        return Err("must be at most a year".into());
    }
    Ok(d)
}

fn watch_interval(s: &str) -> Result<Duration, String> {
    let d = positive_duration(s)?;
    if d > Duration::from_secs(86_400) {
        return Err("must be at most a day".into());
    }
    Ok(d)
}

#[derive(Debug, clap::Args)]
#[command(
    about = "Find stale TCP connections, by peer and by process, causes first",
    long_about = "Find stale TCP connections, by peer and by process, causes first.\n\n\
        Reads the ESTABLISHED, CLOSE_WAIT, SYN_SENT, SYN_RECV, FIN_WAIT2 and LISTEN TCP sockets \
        of the network namespace over NETLINK_SOCK_DIAG with tcp_info (time since data was \
        last sent, received and acknowledged; data segments each way), finds the owners \
        through /proc/PID/fd, and reports the sockets that have been stuck for --idle, grouped \
        by remote endpoint and process (inbound: by listening port and process, whatever the \
        clients' addresses). A connection is inbound when its local address (or a wildcard on \
        its port) is a LISTEN socket of the namespace; otherwise it is outbound. Every label \
        means the condition has lasted --idle:\n\
        \x20 connecting         SYN_SENT: the peer drops SYNs, the client has no connect timeout\n\
        \x20 half-open          SYN_RECV: the client never completed the handshake (its age from\n\
        \x20                    the SYN-ACK backoff, 1, 3, 7, 15, 31, 63 s)\n\
        \x20 retransmitting     data not acknowledged (no ACK for --idle)\n\
        \x20 keepalive-probing  keepalive probes go unanswered: the peer is gone\n\
        \x20 zero-window        the peer stopped reading (no new data sent for --idle)\n\
        \x20 unread             data waiting in the receive queue for --idle\n\
        \x20 close-wait         the peer closed, the local program did not\n\
        \x20 half-closed        FIN_WAIT2 held by a process: it shut down its sending half and\n\
        \x20                    waits for the answer\n\
        \x20 idle               no data either way, nothing queued, no timer\n\
        \x20 keepalive-idle     idle, and a keepalive probe was sent and answered (an ACK came\n\
        \x20                    after the last data); an armed keepalive timer alone is idle\n\n\
        A cause needs evidence: a group of outbound sockets is named the cause (\"N processes \
        blocked on X\") only when the peer does not answer them: a request unanswered (data \
        sent after the last data received, or sent and never answered), data unacknowledged, \
        retransmissions, SYN retries, keepalive probes unanswered; and never when the other \
        end is held by the same process. JSON's `evidence` counts them (unanswered_requests, \
        unacked, retransmits, syn_retries, keepalive_unanswered, blocked, answered, \
        self_loop, half_closed_clients, oldest_ms). Idle connections whose requests were all \
        answered (a pool, keep-alive) are idle, never a cause. The inbound clients of a \
        blocked process whose requests are unanswered are its symptoms: waiting while their \
        connection is open, gave up once it is in CLOSE_WAIT, counted per socket; processes \
        are counted by pid, sockets by socket. Groups are ranked by what to fix first: a \
        silent or dead peer, a full local accept queue, a stuck connect, then symptoms, then \
        the rest (by processes, sockets, age), in every format (JSON `rank` and `class`, \
        Prometheus `opskit_conn_audit_group_rank`). Without owners (an unprivileged run) the \
        same groups and causes are found, with \"owner unknown: run as root to name the \
        process\". Connections no process has accepted are reported per listener and count \
        for its process. Handshakes have no age in the kernel: the state file remembers when \
        each was first seen, and SYN retransmissions prove a least age.\n\n\
        Without netlink (or with --root) it reads /proc/net/tcp{,6}, streamed, which has no \
        idle times, and says which fields are missing; --kill refuses such sockets (no \
        cookie). At most 10,000 groups are kept, the rest summed in JSON's `beyond`.\n\n\
        As a munin plugin, owners need root: put `[conn_audit*]` and `user root` in \
        /etc/munin/plugin-conf.d/opskit (munin-node runs plugins as nobody by default; field \
        names do not depend on it).",
    after_help = "Examples:\n  \
        opskit conn-audit                               # everything stale for 60 s\n  \
        opskit conn-audit --port 80 --idle 5m --resolve\n  \
        opskit conn-audit --format nagios --warning 10 --critical 50\n  \
        opskit conn-audit --format json | jq '.groups[0]'\n  \
        opskit conn-audit --watch 10s                   # how each group grows\n  \
        opskit conn-audit --peer 2001:db8::/32 --kill   # close them (asks first)\n\n\
        It audits its own network namespace; as root, others too:\n  \
        opskit conn-audit --netns NAME                  # ip netns list; or a PID living there\n  \
        opskit conn-audit --all-netns --format json"
)]
pub(crate) struct Args {
    /// munin verb (with --format munin, or when run as a munin plugin)
    #[arg(value_enum, value_name = "VERB")]
    pub(crate) verb: Option<Verb>,

    /// How long a condition must last before a connection counts as stale (500ms, 60s, 5m)
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = positive_duration)]
    pub(crate) idle: Duration,

    /// Only connections to or from this service port: the remote port of outbound
    /// connections, the listening port of inbound ones
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) port: Option<u16>,

    /// Only connections with this local port, whatever the direction (as ss's sport)
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) sport: Option<u16>,

    /// Only connections with this remote port, whatever the direction (as ss's dport)
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) dport: Option<u16>,

    /// Only connections to this peer: an address, a CIDR block or a host name (resolved
    /// within 2 s)
    #[arg(long, value_name = "ADDR|CIDR|HOST")]
    pub(crate) peer: Option<String>,

    /// Only connections owned by this process name or PID
    #[arg(long, value_name = "NAME|PID")]
    pub(crate) process: Option<String>,

    /// Audit another network namespace: a name from `ip netns list`, or the PID of a process
    /// living in it (as root: a thread enters it with setns). JSON names each socket's
    /// namespace
    #[arg(long, value_name = "NAME|PID", conflicts_with = "all_netns")]
    pub(crate) netns: Option<String>,

    /// Audit every network namespace of the host (the named ones and those of every
    /// process; as root); groups, sockets and JSON name their namespace
    #[arg(long)]
    pub(crate) all_netns: bool,

    /// Show reverse-DNS names of peers (2 s timeout, cached per run)
    #[arg(long)]
    pub(crate) resolve: bool,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table, value_name = "FORMAT")]
    pub(crate) format: Format,

    /// Nagios warning threshold on the stale count (range syntax: 10, 10:, @10:20, -5:5)
    #[arg(long, value_name = "RANGE", value_parser = parse_range, allow_hyphen_values = true)]
    pub(crate) warning: Option<Range>,

    /// Nagios critical threshold on the stale count (range syntax)
    #[arg(long, value_name = "RANGE", value_parser = parse_range, allow_hyphen_values = true)]
    pub(crate) critical: Option<Range>,

    /// Where socket data comes from
    #[arg(long, value_enum, default_value_t = SourceArg::Auto, value_name = "SOURCE")]
    pub(crate) source: SourceArg,

    /// State file remembering when each stale or connecting socket was first seen, per
    /// network namespace (the kernel's idle counters wrap after 49.7 days; handshakes have no
    /// age); /dev/null turns it off [default: $XDG_STATE_HOME/opskit/conn-audit.json]
    #[arg(long, value_name = "FILE")]
    pub(crate) state: Option<PathBuf>,

    /// Refresh every INTERVAL (default 5s, at most 1d) and show how each group grows
    #[arg(long, value_name = "INTERVAL", num_args = 0..=1, default_missing_value = "5s", value_parser = watch_interval)]
    pub(crate) watch: Option<Duration>,

    /// With --watch: stop after N reports
    #[arg(short = 'n', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub(crate) iterations: Option<u64>,

    /// Groups to show in the table, and to export to munin and Prometheus (the N largest, the
    /// rest summed as one "other" entry); 0 = all. JSON lists every group (up to 10,000, the
    /// rest summed in `beyond`)
    #[arg(long, value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(u64).range(0..=100_000))]
    pub(crate) top: u64,

    /// Close the stale sockets listed, and only those (matched by socket cookie), with
    /// SOCK_DESTROY (as `ss -K`), after printing them; "already gone" is counted apart from
    /// "closed". Refused for sockets without a cookie (--source procfs, the procfs fallback)
    /// and for --root captures (another machine's sockets)
    #[arg(long)]
    pub(crate) kill: bool,

    /// With --kill: do not ask (required when stdin is not a terminal)
    #[arg(long)]
    pub(crate) yes: bool,
}
