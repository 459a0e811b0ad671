//! The reference text of each tool's manual: examples, TUI keys, JSON fields, environment,
//! exit status, files and see-also, beside the options clap documents.
//!
//! One source for two places: [`command`] hangs each page's text on its subcommand as
//! `after_long_help` (so `opskit TOOL --help` prints it, rendered by [`to_text`]), and
//! [`crate::generate`] renders the same sections as real roff sections of the man pages
//! ([`to_roff`]). The text states what the code does today; change it with the code.
//! `tests/system/docs_commands.rs` runs every command of every EXAMPLES section (read back
//! from the generated pages).

use clap::CommandFactory;

/// The date of the manual pages' `.TH` line: the last time this text or an option changed
/// (fixed, so that the generated pages do not change with the day they are built).
pub const DATE: &str = "2026-12-06";

/// A piece of a section.
#[derive(Debug, Clone, Copy)]
pub enum Block {
    /// A paragraph of running text.
    P(&'static str),
    /// A term and its description (a roff tagged paragraph).
    Item(&'static str, &'static str),
    /// A shell command and what it does (EXAMPLES).
    Ex(&'static str, &'static str),
    /// Literal lines (a configuration file), shown as they are.
    Pre(&'static str),
}

use Block::{Ex, Item, Pre, P};

/// A man page section, with its roff name (`EXIT STATUS`).
#[derive(Debug, Clone, Copy)]
pub struct Section {
    pub title: &'static str,
    pub blocks: &'static [Block],
}

const fn s(title: &'static str, blocks: &'static [Block]) -> Section {
    Section { title, blocks }
}

/// The sections of a page: `None` for opskit itself, else the tool's subcommand name.
pub(crate) fn sections(tool: Option<&str>) -> &'static [Section] {
    match tool {
        None => OPSKIT,
        Some("itop") => ITOP,
        Some("bindstats") => BINDSTATS,
        Some("ssd-align") => SSD_ALIGN,
        Some("conn-audit") => CONN_AUDIT,
        Some(_) => &[],
    }
}

/// `Cli::command()` with each page's sections as `after_long_help`: the command opskit
/// parses with, and the one the man pages and completions are generated from.
pub(crate) fn command() -> clap::Command {
    let mut cmd = crate::cli::Cli::command().after_long_help(to_text(sections(None)));
    let tools: Vec<String> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| s.get_name().to_string())
        .collect();
    for tool in tools {
        let text = to_text(sections(Some(&tool)));
        if !text.is_empty() {
            cmd = cmd.mut_subcommand(tool, |sub| sub.after_long_help(text));
        }
    }
    cmd
}

const WIDTH: usize = 100;

/// The sections as plain text for `--help` (wrapped at 100 columns, as clap's own text).
pub(crate) fn to_text(sections: &[Section]) -> String {
    let mut out = String::new();
    for (i, sec) in sections.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(sec.title);
        out.push_str(":\n");
        for (j, b) in sec.blocks.iter().enumerate() {
            match *b {
                P(t) => {
                    if j > 0 {
                        out.push('\n');
                    }
                    wrap(&mut out, t, 2, 2)
                }
                Item(tag, t) => {
                    out.push_str("  ");
                    out.push_str(tag);
                    out.push('\n');
                    wrap(&mut out, t, 10, 10);
                }
                Ex(desc, cmd) => {
                    out.push_str("  ");
                    out.push_str(cmd);
                    out.push('\n');
                    wrap(&mut out, desc, 10, 10);
                }
                Pre(lines) => {
                    for l in lines.lines() {
                        out.push_str("      ");
                        out.push_str(l);
                        out.push('\n');
                    }
                }
            }
        }
    }
    out.truncate(out.trim_end().len());
    out
}

fn wrap(out: &mut String, text: &str, first: usize, rest: usize) {
    let mut col = 0;
    let mut indent = first;
    for word in text.split_whitespace() {
        if col > 0 && col + 1 + word.len() > WIDTH {
            out.push('\n');
            col = 0;
            indent = rest;
        }
        if col == 0 {
            out.push_str(&" ".repeat(indent));
            col = indent;
        } else {
            out.push(' ');
            col += 1;
        }
        out.push_str(word);
        col += word.chars().count();
    }
    out.push('\n');
}

/// Text for a roff text line: backslashes and hyphens escaped, a leading `.` or `'` kept
/// from being read as a request.
pub(crate) fn roff_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\e"),
            '-' => out.push_str("\\-"),
            '\'' => out.push_str("\\(aq"),
            '`' => out.push_str("\\(ga"),
            '"' => out.push_str("\\(dq"),
            _ => out.push(c),
        }
    }
    if out.starts_with('.') {
        out.insert_str(0, "\\&");
    }
    out
}

/// The sections as roff (`.SH` per section), for the man page.
pub(crate) fn to_roff(sections: &[Section]) -> String {
    let mut out = String::new();
    for sec in sections {
        out.push_str(&format!(".SH \"{}\"\n", sec.title));
        let mut first = true;
        for b in sec.blocks {
            match *b {
                P(t) => {
                    if !first {
                        out.push_str(".PP\n");
                    }
                    out.push_str(&roff_escape(t));
                    out.push('\n');
                }
                Item(tag, t) => {
                    out.push_str(".TP\n");
                    out.push_str(&format!("\\fB{}\\fR\n", roff_escape(tag)));
                    out.push_str(&roff_escape(t));
                    out.push('\n');
                }
                Ex(desc, cmd) => {
                    out.push_str(".TP\n");
                    out.push_str(&format!("\\fB{}\\fR\n", roff_escape(cmd)));
                    out.push_str(&roff_escape(desc));
                    out.push('\n');
                }
                Pre(lines) => {
                    out.push_str(if first { ".RS 4\n" } else { ".PP\n.RS 4\n" });
                    out.push_str(".nf\n");
                    for l in lines.lines() {
                        out.push_str(&roff_escape(l));
                        out.push('\n');
                    }
                    out.push_str(".fi\n.RE\n");
                }
            }
            first = false;
        }
    }
    out
}

const OPSKIT: &[Section] = &[
    s("PROGRAM NAMES", &[
        P("Run under another name (a symlink to the binary, or argv[0] as munin's wrappers set it), \
           opskit runs the tool of that name with the arguments it was given:"),
        Item("itop, bindstats, ssd-align (or ssd_align), conn-audit*", "that tool"),
        Item("bind*", "bindstats, as a munin plugin (bind9_opskit, bind9_statchannel); another suffix \
              names an instance (bind9_ns1: graph names start with ns1_, own state file)"),
        Item("conn_audit*", "conn-audit with --format munin (munin's plugin naming)"),
        P("Any other name is an error (exit 2)."),
    ]),
    s("EXAMPLES", &[
        Ex("The busiest IRQs, three plain samples a second apart.", "opskit itop --batch -n 3"),
        Ex("Stale TCP connections, as a table.", "opskit conn-audit"),
        Ex("The layout for an SSD with a 512 KiB erase block.", "opskit ssd-align --erase-block 512k"),
    ]),
    s("EXIT STATUS", &[
        Item("0", "success, --help, --version; a reader that closed the pipe early (broken pipe)"),
        Item("1", "findings (ssd-align: misaligned data; conn-audit --kill: a socket left open); \
              the runtime errors of itop and bindstats"),
        Item("2", "a usage error (a bad option or value, also one found only once input is read, \
              such as itop --cpus naming a CPU the box lacks); the runtime errors of ssd-align and \
              conn-audit"),
        Item("0-3", "a Nagios check (conn-audit --format nagios): OK, WARNING, CRITICAL, UNKNOWN; \
              with --format nagios on the command line a usage error is an UNKNOWN status line, \
              exit 3"),
        Item("128+N", "stopped by signal N (SIGINT, SIGTERM, SIGHUP) after restoring the terminal"),
        P("Each tool's page says what its codes mean for it. Errors are one line on standard \
           error (opskit TOOL: what: cause; a usage error: opskit: what), with control characters \
           escaped."),
    ]),
    s("SEE ALSO", &[P(
        "opskit-itop(1), opskit-bindstats(1), opskit-ssd-align(1), opskit-conn-audit(1)",
    )]),
];

const ITOP: &[Section] = &[
    s("EXAMPLES", &[
        Ex("The TUI: a column per CPU up to 8 CPUs, per-IRQ totals above (press ? for keys).", "opskit itop"),
        Ex("Totals only, as on a 24-core box taking 400,000 interrupts/s: the busiest CPUs, and a CPU taking too large a share called out with its devices and the fix.", "opskit itop -t"),
        Ex("A column per CPU, only CPUs 0 and 1.", "opskit itop -a --cpus 0-1"),
        Ex("Five plain samples of the 10 busiest IRQs, idle rows hidden.", "opskit itop -b -n 5 --top 10 --hide-idle"),
        Ex("One JSON object per sample, pretty-printed by jq.", "opskit itop -b -n 1 --format json | jq ."),
        Ex("One Prometheus exposition of one sample (--listen ADDR:PORT serves it instead).",
           "opskit itop -b -n 1 --format prometheus"),
        Ex("Softirqs (NET_RX, NET_TX, BLOCK...) per CPU.", "opskit itop --softirq -b -n 2"),
        Ex("Busiest on CPU 1 first, only rows whose name holds eth0.", "opskit itop -b -n 2 --sort cpu1 --filter eth0"),
        Ex("Capture two snapshots 5 s apart (on the box that misbehaves)...",
           "cat /proc/interrupts > a; cat /proc/stat > sa; sleep 5; cat /proc/interrupts > b; cat /proc/stat > sb"),
        Ex("...and compute the rates and the time in handlers between them, anywhere (-i replays them in the TUI).",
           "opskit itop --from a --from b --stat sa --stat sb -d 5"),
        Ex("A captured tree (an sosreport): its proc/interrupts, proc/irq, sys/devices/system/node and sys/bus/pci/devices.",
           "opskit --root /var/tmp/sosreport-x itop -b -n 2"),
    ]),
    s("OUTPUT", &[
        P("Rates are per second over the measured interval, per IRQ per CPU. Rows are matched by \
           label and CPUs by id, so an IRQ that appears shows - (JSON null) on its first sample, \
           and a CPU going offline never shifts the columns (it is named: went offline). A counter \
           that went down is a 32-bit wrap only when the modular increase is plausible; otherwise \
           the counter restarted (a driver reload): the row has no rate for that interval and a \
           note names it. Numbers are never cut: a column widens instead."),
        P("With a column per CPU, a SUM row (each CPU's interrupts/s) and a % row (its share of all) \
           close the table. With -t, a line names the busiest CPUs and their share of all \
           interrupts. AFFINITY is /proc/irq/N/effective_affinity_list (else smp_affinity_list), \
           cut with ... when too long. NODE (on a NUMA box) is /proc/irq/N/node. On s390x the \
           members of a summary row (EXT, I/O, AIO) are drawn under it and counted once. \
           --by-device folds the queue IRQs of one device into one line; --top applies after it."),
        P("A CPU is called out below the table when it takes a large share of the machine's device \
           interrupts: at least 1000/s, 3 times the mean per online CPU and 20 % of all numbered \
           IRQs' interrupts (with --softirq: of one of NET_RX, NET_TX, BLOCK), whatever the affinity \
           masks allow; or when it spends at least 80 % of its time in hard-IRQ and softirq handlers \
           (or at least 30 % and 3 times the mean), from /proc/stat as mpstat computes %irq and \
           %soft. Per-CPU interrupts (LOC, RES, CAL, TLB...) never count. The verdict names the \
           devices that put the load there (netdev and NVMe names from sysfs, their IRQs, pinned \
           to the CPU or allowed others, kernel-managed or not) and the remedy for each kind: RPS \
           over the node's other CPUs for a single-queue NIC (with the rps_cpus command; none when \
           RPS already spreads it), a CPU per queue for queues piled on one CPU (the \
           smp_affinity_list commands), more queues (ethtool -L) for a NIC already spread, a \
           quieter CPU for a single line, and nothing for kernel-managed queues (the load follows \
           the CPUs that submit the I/O). Each command follows on a \"fix:\" line."),
        P("A device is named when most of its interrupts are handled on another NUMA node's CPUs \
           while its own node's CPUs are online, with the affinity commands that move them; never \
           for kernel-managed queues."),
        P("--format prometheus: opskit_itop_interval_seconds, opskit_itop_cpu_interrupts_per_second, \
           opskit_itop_cpu_device_interrupts_per_second, opskit_itop_cpu_softirqs_per_second, \
           opskit_itop_cpu_handler_time_ratio, opskit_itop_irq_per_second, opskit_itop_hot_cpus, \
           opskit_itop_hot_cpu_share and opskit_itop_numa_remote_share. With --listen, a \
           background sampler refreshes them every --delay and each scrape gets the latest."),
    ]),
    s("TUI KEYS", &[
        P("The screen: a header (PAUSED first when paused, so it is always seen), a heat map of \
           every CPU on a linear scale against the busiest, the findings stacked one per line \
           (the last says how many more there are), then the table: RATE/s (over the last \
           interval), TOTAL (the lifetime count from /proc/interrupts), MAX/s (the highest rate \
           seen), and with a column per CPU the SUM and % rows."),
        Item("q, Esc, Ctrl-C", "quit (the terminal is restored, also on SIGTERM, SIGHUP, hangup and panic)"),
        Item("p, space", "pause or resume sampling"),
        Item("s", "cycle the sort key: rate, irq, name"),
        Item("c", "sort by the first visible CPU column (totals mode has none: it says so)"),
        Item("a, t", "a column per CPU; per-IRQ totals only"),
        Item("Left, Right, l", "scroll the CPU columns by one; H and L by 8"),
        Item("Up, Down, j, k, PgUp, PgDn, Home, End", "scroll the rows"),
        Item("+, =, -", "sample less or more often (0.25, 0.5, 1, 2, 3, 5, 10, 30 s)"),
        Item("/", "filter rows by label or name (Enter applies, Esc cancels)"),
        Item("i", "hide or show idle rows"),
        Item("m", "heat map of interrupts/s or of time in handlers"),
        Item("g", "fold the queue IRQs of a device into one line (eth0-TxRx-* as eth0) or expand them"),
        Item("?, h, F1", "help; any key closes it"),
        P("Keys are read from /dev/tty, not standard input; every key that arrived is handled \
           before the next redraw. With --from and -i the snapshots are replayed at --delay pace."),
    ]),
    s("JSON FIELDS", &[
        P("--format json prints one object per sample, one per line:"),
        Item("timestamp", "when the newer snapshot was taken (ISO 8601, UTC; a --from file's modification time)"),
        Item("source", "interrupts or softirqs"),
        Item("elapsed_s", "the interval in seconds"),
        Item("cpus, absent_cpus", "the CPU ids shown; those missing from the older snapshot (no rate known)"),
        Item("irqs", "one object per row: irq (the label), description, change (known, new, reset, \
              no_count), group (s390x: the summary row of a member), total_rate, rates ({\"cpu id\": \
              rate}, zero cells omitted; empty and total_rate null unless change is known), affinity, \
              node (on NUMA boxes)"),
        Item("cpu_totals", "{\"cpu id\": rate} for every known CPU, zeros included"),
        Item("total_rate", "interrupts per second over all rows (s390x summary rows counted once)"),
        Item("resets", "labels of the rows whose counters restarted"),
        Item("hot_cpus", "every CPU called out, worst first: [{cpu, load (device, or NET_RX, NET_TX, \
              BLOCK), trigger (rate, handler_time, both), rate, share (of all), ratio (to the mean per \
              CPU), cpus (the online CPUs the mean is over), handler_time ({cpu, irq, softirq} or \
              null), culprits, message}]"),
        Item("culprits", "the devices behind a hot CPU: [{device, kind (net, nvme, other), pci, irqs, \
              rate, placement (pinned, allows_others, unknown), allowed_cpus (with allows_others), \
              managed, remedy {kind (rps, rps_in_place, spread, more_queues, managed, one_line), \
              netdev, cpus, moves [{irq, cpu}], commands, message}}]"),
        Item("imbalance", "the first of hot_cpus, or null"),
        Item("cpu_time", "{\"cpu id\": {irq, softirq}} in % of the interval; null without /proc/stat"),
        Item("busy_cpus", "[{cpu, irq, softirq}] at least 80 % in handlers, busiest first; null without /proc/stat"),
        Item("stat_resets", "CPUs whose /proc/stat counters went back (hot-plug): their time is unknown"),
        Item("numa_nodes, numa_warnings", "{\"node\": \"cpu list\"} (empty on one node); the NUMA verdicts as text"),
        Item("numa", "[{device, node, remote_share, rate, local_cpus, irqs, commands, message}]: devices \
              handled off their node"),
        Item("went_offline", "CPUs in the older snapshot missing from the newer one"),
        Item("devices", "[{device, kind, pci, node, affinity, irqs, total_rate, rates}] for each device \
              with two or more queue IRQs among the rows (before --top)"),
        P("Every string taken from the system (labels, names, affinity) is escaped: a control \
           character is written as \\x1b, never as a raw byte or \\u001b."),
    ]),
    s("ENVIRONMENT", &[
        Item("TERM", "dumb (or no usable terminal: stdout not a tty, no /dev/tty, a window under 40x8) \
              makes itop print plain samples instead of the TUI, saying why"),
    ]),
    s("EXIT STATUS", &[
        Item("0", "success (the TUI quit with q, or the batch samples printed)"),
        Item("1", "a file could not be read or holds bad input (a label twice, a short row, CPU ids out \
              of order, a line over 1 MiB, more than 100,000 rows); the message names the file and line"),
        Item("2", "a usage error: a bad option, -n 0, --top 0, -d under 10 ms or over a day, --cpus or \
              --sort cpuN naming a CPU the snapshot lacks"),
        Item("128+N", "stopped by signal N after restoring the terminal"),
    ]),
    s("FILES", &[
        Item("/proc/interrupts, /proc/softirqs", "the counters (under --root DIR: DIR/proc/...)"),
        Item("/proc/stat", "time in hard-IRQ and softirq handlers per CPU"),
        Item("/proc/irq/N/effective_affinity_list, /proc/irq/N/smp_affinity_list, /proc/irq/N/node",
             "each IRQ's affinity and NUMA node"),
        Item("/sys/bus/pci/devices/ADDR/{msi_irqs,irq,numa_node,net,nvme}", "which device an IRQ \
              belongs to, its node, its netdev or NVMe name"),
        Item("/sys/class/net/DEV/queues/rx-N/rps_cpus", "a NIC's receive queues and their RPS mask"),
        Item("/sys/kernel/debug/irq/irqs/N", "whether the kernel manages an IRQ's affinity (debugfs; \
              else NVMe I/O and virtio request queues are taken as managed)"),
        Item("/sys/devices/system/node/nodeN/cpulist", "the CPUs of each NUMA node"),
        Item("/dev/tty", "the TUI's keys"),
    ]),
    s("SEE ALSO", &[P(
        "irqtop(1), lsirq(1), mpstat(1), irqbalance(1), ethtool(8), proc(5), opskit(1)",
    )]),
];

const BINDSTATS: &[Section] = &[
    s("EXAMPLES", &[
        Ex("munin graph definitions.", "opskit bindstats config"),
        Ex("munin values (U for every field when the channel does not answer).", "opskit bindstats"),
        Ex("Prometheus text exposition (bind_up 0 when BIND is down).", "opskit bindstats --format prometheus --url http://127.0.0.1:8053/"),
        Ex("The normalised counters of a saved document.", "opskit bindstats --format json --file stats.xml"),
        Ex("The same from standard input.", "curl -s http://127.0.0.1:8053/json/v1 | opskit bindstats --format json --file -"),
        Ex("A Prometheus exporter: /metrics, one BIND fetch per scrape.", "opskit bindstats --listen 127.0.0.1:9119"),
        Ex("As munin-node runs the packaged plugin.", "munin-run bind9_opskit config"),
        P("The packaged plugin settings, /etc/munin/plugin-conf.d/opskit:"),
        Pre("[bind9_opskit]\nenv.url http://127.0.0.1:8053/\nenv.timeout 10s\nenv.MASTERZONES example.com example.net"),
    ]),
    s("MUNIN", &[
        P("Graphs (multigraph, graph_category dns) keep the perl bind9_statchannel plugin's graph \
           names, field names (!A stored as _A), types and draw order, so its RRD files carry on: \
           queries_in (ANY with warning and critical), server_statistics, socket_io_statistics, \
           memory_usage_summary, memory_contexts, tasks (where BIND reports tasks), and per view \
           queries_out_VIEW, resolver_statistics_VIEW, cache_db_rrsets_VIEW, masterzone_reqs_VIEW. \
           opskit adds requests_ip, rcodes and opcodes. Every declared field is printed (0 where \
           BIND left a counter out), so fields never come and go."),
        P("autoconf probes the channel (yes, or no with the reason; exit 0); suggest prints opskit \
           when the channel answers. On failure every field is U and config still works from the \
           graphs saved in the state file."),
        P("Install it by linking the packaged wrapper, /usr/share/munin/plugins/bind9_opskit, from \
           /etc/munin/plugins: it carries the magic markers munin-node-configure reads (a link \
           straight to /usr/bin/opskit runs the same way under munin-run, but munin-node-configure \
           cannot see it). Differences from the perl plugin, checked by running both on the same \
           documents:"),
        Item("XML v3 (BIND 9.10+), JSON v1", "the same graphs (the perl plugin prints nothing)"),
        Item("resolver_statistics_VIEW", "the same 25 fields (raw name QryRTT1600+, stored by \
              the munin master as QryRTT1600_)"),
        Item("masterzone_reqs_VIEW, zones whose field names collide", "distinct fields ending in \
              a hash of the zone's name, labelled with the zone, said in graph_info (the perl \
              plugin prints them under one name and the master merges them into one RRD)"),
        Item("counters absent from the document", "printed as 0 (the perl plugin left the field out)"),
        Item("memory_contexts", "contexts sharing a name are summed (the perl plugin kept the last)"),
        Item("masterzone_reqs_VIEW", "no graph for a view without zones (the perl plugin drew an empty one)"),
        Item("graph_category", "dns instead of bind (RRD files do not depend on it)"),
        Item("MASTERZONES", "commas or spaces; unset, the zones with a serial of at least 100 and \
              per-zone counters are autodetected, at most MAXZONES (50) per view: the zones graphed \
              last time first (their RRDs keep going), then the busiest by answers, with a \
              graph_info note saying how to raise the cap when it is hit"),
    ]),
    s("STATISTICS CHANNEL", &[
        P("The format is detected from the document: XML v3 (BIND 9.10+), XML v2 (9.5-9.9) or JSON \
           v1. XML v3 servers are asked only for /xml/v3/server, /net, /mem, /tasks (a 404, as on \
           9.20, means no tasks graph) and /zones (not with MASTERZONES=none); deflate and gzip \
           are accepted; a document over --max-size (64 MiB, standard input too) is an error. \
           --timeout is one deadline for every connect, request and body read together. A \
           kept-alive connection the server closed under a request is retried once on a new one; \
           redirects are never followed (the error names both URLs). The root URL tries XML v3, \
           then XML v2 at /, then /json/v1."),
        P("Documents are bounded whatever the server sends: elements nested deeper than 32 \
           (BIND's are under 10), a text or tag over 1 MiB, or more than 400,000 counters per \
           scrape (a zone counts as 5, a name one more per 32 bytes: at most 80,000 zones), \
           across the subsets of one fetch together, are refused with one line naming the URL \
           or file, so memory stays under 200 MB. A counter named twice in one group, or \
           written as CDATA, is unknown with a warning. A counter that is not a \
           count (2^64, -5, 12abc) is unknown, never 0: U in munin, absent from Prometheus and \
           JSON (listed under unknown_counters), with a warning naming it."),
    ]),
    s("EXPORTER", &[
        P("--listen takes ADDR:PORT, HOST:PORT, :PORT (every address) or PORT and serves \
           /metrics (Prometheus text) and /json; the address bound is printed. Each scrape \
           fetches BIND once (concurrent scrapes share the fetch) and answers before the \
           scraper's X-Prometheus-Scrape-Timeout-Seconds less a tenth (9.5 s without it), so a \
           hung BIND is bind_up 0, never a failed scrape; a scrape waits only up to its own \
           deadline and never shortens another's. A fetch that finished less than 1 s ago \
           answers the next scrape (so for up to 1 s after BIND dies a scrape can still say \
           bind_up 1). Clients are not trusted: the soft fd \
           limit is raised to the hard one, connections are capped below it (the oldest idle \
           one is closed first), request heads are capped at 4 KiB, and when opskit itself is \
           starved it answers 503, never a false bind_up 0. Only GET and HEAD (405 with Allow \
           otherwise)."),
        P("named's own health, as bind_exporter's bind_process_* metrics (CPU, resident and \
           virtual memory, open and maximum fds, start time), comes from /proc/PID of the \
           --pid-file, else, when the URL is on this host, /run/named/named.pid or the one \
           process called named."),
        P("Alerting rules (BIND down, SERVFAIL ratio, recursive clients near the limit, zone \
           transfer failures, query rate collapse) with their promtool unit tests, and a Grafana \
           dashboard for the same metrics, are in /usr/share/doc/opskit/examples/prometheus and \
           examples/grafana."),
    ]),
    s("PROMETHEUS", &[
        P("As prometheus-community/bind_exporter names them: bind_up, bind_boot_time_seconds, \
           bind_config_time_seconds, bind_incoming_queries_total{type}, \
           bind_incoming_requests_total{opcode}, bind_responses_total{result}, \
           bind_response_rcodes_total{rcode}, bind_query_errors_total{error}, \
           bind_query_recursions_total, bind_zone_transfer_*, bind_resolver_*{view} (with the \
           bind_resolver_query_duration_seconds histogram), bind_zone_serial{view,zone_name}, \
           bind_tasks_running, bind_worker_threads; bind_recursive_clients is a gauge. opskit adds \
           bind_socket_stats_total{name}, bind_memory_bytes{name} and bind_tasks{state}."),
    ]),
    s("JSON FIELDS", &[
        P("--format json prints one document:"),
        Item("format, schema", "xml-v2, xml-v3 or json-v1; the statistics schema version"),
        Item("server_version, boot_time, config_time", "as BIND reports them (null where absent)"),
        Item("opcodes, rcodes, qtypes", "incoming requests by opcode, responses by rcode, queries by type"),
        Item("nsstat, zonestat, resstat, sockstat", "server, zone, resolver and socket counters by name"),
        Item("views", "[{name, resqtype, resstats, cache, zones: [{name, class, serial, qtypes, rcodes}]}]; \
              every zone with its serial; per-zone counters for the zones --master-zones names"),
        Item("memory, contexts", "the memory summary; memory in use per context name"),
        Item("tasks", "null, or {by_state, distinct_names}"),
        Item("thread_model", "null, or the task manager's numbers (worker-threads, ...)"),
        P("Counters the graphs declare are present as 0 where BIND left them out. Names from the \
           document are capped at 255 bytes and escaped (\\x1b, never \\u001b)."),
    ]),
    s("ENVIRONMENT", &[
        P("As a munin plugin its settings come from plugin-conf.d env.* lines (a command-line option \
           wins over the variable):"),
        Item("url", "the statistics channel (--url)"),
        Item("HOST, PORT", "the perl plugin's way to name it, when url is unset (an IPv6 HOST is bracketed)"),
        Item("timeout", "the deadline for the whole run (--timeout; a bad value: every field U)"),
        Item("VIEW, VIEWS", "views to graph (--views; VIEW is read first, as the perl plugin did)"),
        Item("ANYWARN, ANYCRIT", "ANY queries per second thresholds (--any-warn, --any-crit; a bad value \
              is one line on stderr and the default)"),
        Item("MASTERZONES, MAXZONES", "zones on the per-zone graph (--master-zones; none: no graph); \
              the cap on autodetected zones per view (--max-zones)"),
        Item("MUNIN_PLUGSTATE", "the directory of the state file (below)"),
        Item("MUNIN_CAP_DIRTYCONFIG", "1: config prints the values too"),
    ]),
    s("EXIT STATUS", &[
        Item("0", "success; also a failed fetch as a munin plugin (fields U) or with --format \
              prometheus (bind_up 0), and autoconf whatever it answers"),
        Item("1", "a failed fetch or a document that is not BIND's with --format json (nothing on stdout)"),
        Item("2", "a usage error (a bad option; --timeout 0 or over 1h on the command line)"),
    ]),
    s("FILES", &[
        Item("$MUNIN_PLUGSTATE/opskit-bindstats.json", "the graphs of the last good run, for config \
              while BIND is down (opskit-bindstats-NAME.json for an instance link bind9_NAME)"),
        Item("/usr/share/munin/plugins/bind9_opskit", "the packaged plugin wrapper (link it from \
              /etc/munin/plugins)"),
        Item("/usr/share/doc/opskit/examples/munin-plugin-conf.d-opskit", "the settings above, to copy \
              to /etc/munin/plugin-conf.d/opskit"),
        Item("opskit-bindstats-exporter.service", "the packaged exporter unit (--listen 127.0.0.1:9119)"),
    ]),
    s("SEE ALSO", &[P(
        "named(8), named.conf(5), munin-run(8), munin-node-configure(8), opskit(1)",
    )]),
];

const SSD_ALIGN: &[Section] = &[
    s("EXAMPLES", &[
        Ex("The calculator: grain, first aligned start, commands for an aligned layout.", "opskit ssd-align --erase-block 512k"),
        Ex("...and why fdisk -H32 -S32 recipes no longer work.", "opskit ssd-align --erase-block 512k --legacy-fdisk"),
        Ex("RAID 5 over 4 disks with a 64 KiB chunk: ext4 stride 16, stripe-width 48.",
           "opskit ssd-align --erase-block 512k --raid 5 --devices 4 --chunk 64k"),
        Ex("Check a disk: sysfs limits and on-disk metadata (read-only).", "opskit ssd-align --erase-block 512k /dev/sdb"),
        Ex("Check a disk image, as JSON.", "opskit ssd-align --erase-block 1536k --format json disk.img"),
        Ex("An md array in a captured /sys/block tree.", "opskit --root /var/tmp/capture ssd-align --erase-block 512k md0"),
    ]),
    s("OUTPUT", &[
        P("Each partition's data is followed through every layer down to the flash: partition, md \
           superblock (0.90, 1.0, 1.1, 1.2), LUKS1/LUKS2, LVM2 PV and every LV segment on it, ext4, \
           XFS, btrfs; all read from on-disk metadata, so images and unassembled arrays work. The \
           innermost layers decide the verdict. Each check says why (p1 starts at sector 63 = \
           32256 B, 32256 mod 524288 = 32256). ext4 stride and XFS sunit/swidth are tuning (TUNE \
           lines with their fix), not misalignment."),
        P("The verdict comes first, then the chain per partition, then TRIM. What is read at each \
           layer: the partition table on the disk, compared with the kernel's (sysfs); the md \
           superblock's data offset; the LUKS1/LUKS2 data offset from the header whose checksum \
           holds (the secondary LUKS2 header when the primary's does not, as cryptsetup); the \
           LVM PV's pe_start and every LV segment, with lvm2's rule that the first of a \
           duplicated key wins; thin pools' chunk size, thin LVs and discards mode; ext4, XFS, \
           btrfs, vfat and swap signatures. A dm node (/dev/VG/LV, /dev/mapper/NAME) is followed \
           down through dm-crypt to the disk, and every offset is a position on the disk. For md \
           raid0/4/5/6/10 the grain is data disks x lcm(chunk, erase block)."),
        P("Fixes are printed, never run, and only when proven safe on the evidence: sfdisk \
           --move-data only when moving the partition puts every innermost layer on the grain and \
           it fits before the next partition (or an extended partition's boot record). When a \
           container's offset is at fault (a PV's pe_start, a LUKS offset), the move compensates \
           for it and the layer at fault is named. A layer misaligned inside its partition gets \
           its real remedy (recreate with --dataalignment, pvmove)."),
        P("Never printed: a move when the kernel's partition table differs from the disk's; when \
           the MBR's sector size is not settled by the signatures on the disk; for an md member, \
           an MBR logical partition, a mounted partition or one held by device-mapper or md (the \
           top device is named instead); a move that would run into the next partition. When the \
           evidence conflicts (the data is not where the disk's table says; --sector-size or the \
           device's block size contradicts the signatures, or the two sector-size readings find \
           signatures at different partition starts; a filesystem, PV or LUKS larger than its \
           partition; a signature at the start of the whole device beside the partition table; \
           a leftover GPT holding data behind an MBR without a protective entry; every LVM \
           metadata copy failing its checksum) opskit says why and exits 2. No move either for \
           an image mounted through a loop device, or past a GPT's last usable LBA. Layout \
           commands only come with --layout, from the calculator or on an empty disk, and then \
           after a warning naming the signature they would destroy (whole-disk filesystem, PV, \
           swap, LUKS)."),
    ]),
    s("TRIM", &[
        P("For each layer, whether a discard from the filesystem reaches the SSD: every holder's \
           queue discard_max_bytes and discard_granularity, the LUKS2 allow-discards flag in the \
           header, LVM's issue_discards (lvm.conf), a thin pool's discards mode, md raid4/5/6; \
           then whether anything sends one (the discard mount option or an enabled \
           fstrim.timer). Each blocking layer gets its one-line fix (cryptsetup refresh \
           --allow-discards --persistent, lvchange --discards passdown, systemctl enable --now \
           fstrim.timer); JSON carries it per layer under trim.layers."),
    ]),
    s("SIZES AND GEOMETRY", &[
        P("Sizes are 512k, 1536K, 4M, 4MiB, plain bytes, or 2048s (512-byte sectors): k, M, G and \
           KiB, MiB, GiB are powers of 1024, kB, MB, GB powers of 1000 (as parted). The erase \
           block and chunk are at most 1 GiB, --devices 1 to 1920."),
        P("The grain is the erase block (with RAID: its least common multiple with the full \
           stripe); the first aligned start is the first grain multiple at or after 1 MiB. ext4 \
           stride is the erase block (RAID: the chunk) over the block size, stripe-width the \
           stride times the data disks (n for raid0, 1 for raid1, n-1 for raid4/5, n-2 for raid6, \
           n/copies for raid10, or n when n is not a multiple of the copies), printed as one -E \
           stride=S,stripe-width=W."),
        P("The sector size of an MBR disk is never guessed from one partition: --sector-size, else \
           the device's logical block size, else the signatures found at the partition starts \
           under one reading only, else the one reading that keeps every partition inside the \
           image; when none settles it, ssd-align stops and asks for --sector-size. A GPT says it \
           (its header is at LBA 1). A bogus optimal_io_size (0, 33553920 from USB bridges, not a \
           multiple of the physical sector, over 16 MiB) is reported and ignored."),
    ]),
    s("JSON FIELDS", &[
        P("--format json prints one document:"),
        Item("target, source, table", "what was checked (null for the calculator), where it was read \
              (image or sysfs), the partition table (dos, gpt, none)"),
        Item("sector_evidence", "what settled the sector size: option, gpt_header, logical_block_size, signatures, fit, empty"),
        Item("erase_block_bytes, fs_block_bytes, grain_bytes, grain", "the units the starts are judged against"),
        Item("raid", "null, or {level, devices, data_disks, chunk_bytes, members, source}"),
        Item("stride, stripe_width, first_start_512, first_start_4096", "the ext4 geometry and the first aligned start"),
        Item("logical_sector, physical_sector, minimum_io, optimal_io, alignment_offset, \
              discard_granularity, discard_max_bytes, rotational", "sysfs limits (null when unknown)"),
        Item("partitions", "[{number, device, type, role, logical, via (an md/dm member), start_sector, \
              sector_bytes, start_bytes, size_bytes, aligned, reasons, checks: [{what, unit_bytes, \
              aligned, detail}], layers: [{kind, device, depth, start_bytes, offset_bytes, aligned, \
              innermost, reasons, info}], contents (tuning: {kind, ok, detail, fix}), misfits, \
              move, notes, fix}]"),
        Item("partitions[].move", "the typed plan: {move: {disk, part_device, number, from_bytes, \
              to_bytes, to_sector, sector_bytes, holds, culprit: {layer, ...}}} or {blocked: \
              {reason: md_member, logical, lv_extents, layers_disagree, does_not_fit, \
              kernel_table_stale, sector_size_unsettled, held, mounted, ...}}; fix is the same plan \
              as words and a command"),
        Item("commands, commands_destroy, layout, plan_warnings", "the layout commands (with \
              --layout, from the calculator or on an empty disk); those that write a new partition \
              table; the warnings naming what they would destroy"),
        Item("trim", "{reaches_ssd, trimmed, mount_discard, fstrim_timer, layers: [{device, kind, \
              passes, discard_max_bytes, discard_granularity, fix}]}"),
        Item("findings, warnings, notes", "conflicts and stale tables found; the text notes"),
        Item("verdict", "aligned, misaligned, or calculated (no target)"),
    ]),
    s("ENVIRONMENT", &[P("ssd-align reads no environment variables.")]),
    s("EXIT STATUS", &[
        Item("0", "the data of everything checked is aligned (tuning warnings do not change it), or the \
              calculator ran"),
        Item("1", "some data is misaligned (as parted -s align-check)"),
        Item("2", "an error: bad input, an unreadable or empty device, a bad partition table, an MBR \
              sector size nothing settles; one line on standard error"),
    ]),
    s("FILES", &[
        Item("/sys/class/block/DEV, /sys/block/DEV", "queue limits (logical_block_size, \
              physical_block_size, minimum_io_size, optimal_io_size, discard_granularity, \
              rotational), alignment_offset, start, size; under --root DIR: DIR/sys/..."),
        Item("/sys/dev/block/MAJ:MIN", "a device node found by its number (/dev/mapper/*, /dev/disk/by-id/*)"),
        Item("/sys/block/DEV/slaves/, md/, dm/uuid", "md and device-mapper members, level, chunk, layout, \
              member offsets"),
        Item("/dev/DEV", "partition table and layer headers, opened read-only"),
    ]),
    s("SEE ALSO", &[P(
        "parted(8), sfdisk(8), lsblk(8), mdadm(8), cryptsetup(8), pvcreate(8), mkfs.ext4(8), \
         mkfs.xfs(8), fstrim(8), opskit(1)",
    )]),
];

const CONN_AUDIT: &[Section] = &[
    s("EXAMPLES", &[
        Ex("Everything stale for 60 s, grouped, causes first.", "opskit conn-audit"),
        Ex("Connections of service port 80, stale for 5 minutes, with reverse DNS (2 s timeout).",
           "opskit conn-audit --port 80 --idle 5m --resolve"),
        Ex("The first group (the one to fix first) as JSON, with its evidence.", "opskit conn-audit --format json | jq '.groups[0]'"),
        Ex("A Nagios/Icinga check (NRPE).", "opskit conn-audit --format nagios --warning 10 --critical 50"),
        Ex("Refresh every 5 s, with each group's growth, twice.", "opskit conn-audit --watch 5s -n 2"),
        Ex("Close the stale connections to a network with SOCK_DESTROY, by socket cookie (asks first; --yes in scripts).",
           "opskit conn-audit --peer 2001:db8::/32 --kill"),
        Ex("Every network namespace of the host (as root); each group names its namespace.",
           "opskit conn-audit --all-netns"),
        Ex("One other namespace (a name from ip netns list, or a PID living there): --netns NAME; or, as before, entering it.",
           "nsenter -t PID -n opskit conn-audit"),
        Ex("As munin-node runs the packaged plugin.", "munin-run conn_audit"),
    ]),
    s("OUTPUT", &[
        P("Outbound connections are grouped by remote address, remote port and process; inbound ones \
           by listening port and process (whatever the clients' addresses); handshakes and \
           connections no process has accepted apart. Each stale socket has one label, the most \
           severe that holds for --idle:"),
        Item("connecting", "SYN_SENT: the peer drops SYNs, the client has no connect timeout"),
        Item("half-open", "SYN_RECV: the client never completed the handshake (its age from the \
              SYN-ACK backoff, 1, 3, 7, 15, 31, 63 s, and the state file)"),
        Item("retransmitting", "data not acknowledged (no ACK for --idle)"),
        Item("keepalive-probing", "keepalive probes go unanswered: the peer is gone"),
        Item("zero-window", "the peer stopped reading (no new data sent for --idle)"),
        Item("unread", "data waiting in the local receive queue for --idle"),
        Item("close-wait", "the peer closed, the local program did not (an fd leak; for inbound \
              clients whose request is unanswered: they gave up; whose local end is in FIN_WAIT2: \
              they half-closed and still wait)"),
        Item("half-closed", "FIN_WAIT2 held by a process: it shut down its sending half and waits \
              for the answer"),
        Item("idle", "no data either way, nothing queued, no timer (with every request answered: a \
              pool or keep-alive, never a cause)"),
        Item("keepalive-idle", "idle, and a keepalive probe was sent and answered (an ACK came after \
              the last data): the peer is alive; an armed keepalive timer alone is idle"),
        P("A cause needs evidence and carries it. An outbound group is named the cause (\"N \
           processes blocked on X for T - the peer does not answer, no read timeout\", or \"the peer \
           is gone\") only when the peer does not answer its sockets: a request unanswered (data \
           sent after the last data received), data unacknowledged, retransmissions, or keepalive \
           probes unanswered; \"stuck in connect to X\" needs SYN_SENT with SYN retries; never \
           when every request was answered, and never when the other end is held by the same \
           process. The verdict lists that evidence (\"3 retransmitting (no ACK), 30 requests \
           unanswered\") and the cause's clients: the inbound clients of the same processes whose \
           requests are unanswered, waiting while their connection is open, gave up once it is \
           in CLOSE_WAIT, counted per socket (processes by pid). Those clients' group is a \
           symptom and names its cause. Connections the kernel completed that no process \
           accepts are reported per listener (\"queue full: new SYNs are dropped\" past the \
           backlog) and count for its process."),
        P("Groups are ranked by what to fix first, the same in every output: a silent or dead \
           peer, a full accept queue, a stuck connect, then symptoms, then the rest (by \
           processes, sockets, age). A cause outside --port/--peer is still shown first, marked \
           outside_filters and not counted. Without root the owners are unknown, yet the same \
           groups and causes are found, worded \"owner unknown: run as root to name the \
           process\" (a capture under --root: \"owner unknown: not in the capture\")."),
        P("--netns NAME|PID audits another network namespace, --all-netns every one of the host \
           (as root); each group and socket names its namespace. --kill closes only the sockets \
           listed, matched by their cookie; it refuses sockets without one (the procfs source) \
           and --root captures."),
        P("Nagios: one status line, N stale (A close-wait, B idle, ...) of M TCP connections; the top \
           verdict, +K more groups, the thresholds (range syntax: 10, 10:, @10:20, -5:5) applying \
           to N, and perfdata stale, connections, established, close_wait and one per \
           label."),
        P("munin: the graph conn_audit (stale connections by label) and conn_audit.groups (by peer: \
           one field per endpoint and direction, never per process, so an unknown owner keeps its \
           RRD). Prometheus: opskit_conn_audit_sockets{state}, opskit_conn_audit_stale{reason}, \
           opskit_conn_audit_unowned, and per group (labels remote, port, process, direction, \
           kind: one label set per group) opskit_conn_audit_group_stale, \
           opskit_conn_audit_group_max_idle_seconds and opskit_conn_audit_group_rank; munin and \
           Prometheus export the --top largest groups and sum the rest as other."),
    ]),
    s("JSON FIELDS", &[
        P("--format json prints one document:"),
        Item("source, root, netns, namespaces", "netlink or procfs; the --root of a capture (else \
              null); this process's network namespace; the namespaces audited"),
        Item("missing_fields", "what the source cannot tell (procfs: idle times, keepalive probes, ...)"),
        Item("idle_threshold_s, scanned_states, scanned", "--idle; the states read; sockets read"),
        Item("connections, established, close_wait, syn_sent, syn_recv, fin_wait2", "connections by state"),
        Item("stale, unowned, by_reason", "stale connections, those with no known owner, and by label \
              (every label, zeros included)"),
        Item("groups", "every group, in rank order: [{rank (1 = fix first), class (silent-peer, \
              accept-queue, stuck-connect, symptom, other), kind (connections, handshakes, \
              accept-queue), direction, remote, scope_id (link-local), port (outbound: remote port), \
              local_port (inbound: the port its clients reached), client_addrs, name (reverse DNS, \
              with --resolve), process, pids, processes, count (sockets), max_idle_s, reasons, \
              reason, role (cause, symptom, alone), evidence, clients, cause_rank, symptoms, queue, \
              owner_unknown, outside_filters, netns, message (the verdict)}]"),
        Item("evidence", "what the group's sockets prove, counted in sockets: {unanswered_requests, \
              unacked, retransmits, syn_retries, keepalive_unanswered, blocked (any of those), \
              answered (every request answered), self_loop (the other end held by the same \
              process), half_closed_clients, oldest_ms}"),
        Item("clients, symptoms", "a cause's clients with requests unanswered, {waiting, gave_up}; a \
              symptom's sockets the same way (with cause_rank, the rank of its cause)"),
        Item("queue", "accept-queue groups: {queued, backlog, full}"),
        Item("beyond", "{groups, sockets} past the 10,000 groups kept"),
        Item("by_process", "[{process, pids, count}]"),
        Item("warnings", "what limited the audit (no permission to see owners, ...)"),
        Item("sockets", "[{netns, local, remote, state, direction, idle_s, pid, pids, process, reason, \
              severity, unanswered, unacked, inode, cookie, send_q, recv_q, timer}], every stale socket"),
        P("Process and peer names are escaped (\\x1b, never \\u001b)."),
    ]),
    s("ENVIRONMENT", &[
        Item("MUNIN_PLUGSTATE", "under munin-node: the state file is $MUNIN_PLUGSTATE/opskit-conn-audit.json"),
        Item("XDG_STATE_HOME, HOME", "otherwise: $XDG_STATE_HOME/opskit/conn-audit.json, else \
              ~/.local/state/opskit/conn-audit.json"),
        Item("MUNIN_CAP_DIRTYCONFIG", "1: config prints the values too"),
        P("The munin plugin has no env.* settings; it needs user root in plugin-conf.d to see \
           socket owners (the packaged /etc/munin/plugin-conf.d/opskit example has it)."),
    ]),
    s("EXIT STATUS", &[
        Item("0", "success, stale connections or not (the table is a report, not a check); --kill closed \
              every listed socket"),
        Item("1", "--kill could not close some sockets"),
        Item("2", "an error or a usage error (--port 0, --idle 0, --yes without --kill, -n without --watch)"),
        Item("0, 1, 2, 3", "with --format nagios: OK, WARNING, CRITICAL, UNKNOWN (every error, usage \
              errors included, is UNKNOWN)"),
    ]),
    s("FILES", &[
        Item("$XDG_STATE_HOME/opskit/conn-audit.json", "when each stale or connecting socket was first \
              seen, per network namespace (--state; /dev/null turns it off)"),
        Item("/proc/PID/fd/", "socket owners (all of them need root)"),
        Item("/proc/net/tcp, /proc/net/tcp6", "the source without netlink or with --root (no idle times)"),
        Item("/proc/self/ns/net, /proc/PID/ns/net, /run/netns/NAME", "the network namespaces audited \
              (--netns, --all-netns)"),
        Item("/var/lib/prometheus/node-exporter/opskit_conn_audit.prom", "written every minute by the \
              packaged opskit-conn-audit-textfile.timer (state in /var/lib/opskit/conn-audit.json)"),
        Item("/usr/share/munin/plugins/conn_audit", "the packaged plugin wrapper"),
    ]),
    s("SEE ALSO", &[P(
        "ss(8), lsof(8), netstat(8), tcp(7), ip-netns(8), nsenter(1), munin-run(8), opskit(1)",
    )]),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roff_escape_keeps_text_text() {
        assert_eq!(roff_escape(".groups[0]"), "\\&.groups[0]");
        assert_eq!(roff_escape("a\\x1b -n 'x'"), "a\\ex1b \\-n \\(aqx\\(aq");
        assert_eq!(roff_escape("plain text"), "plain text");
    }

    #[rustfmt::skip]
    const LONG: &str = "word word word word word word word word word word word word word word \
        word word word word word word word word word word word word word word word word word";

    #[test]
    fn text_is_wrapped_and_sections_are_titled() {
        let t = to_text(&[s("EXIT STATUS", &[P(LONG), Item("0", "ok")])]);
        assert!(t.starts_with("EXIT STATUS:\n  word"), "{t}");
        assert!(t.lines().all(|l| l.len() <= WIDTH), "{t}");
        assert!(t.ends_with("  0\n          ok"), "{t}");
    }
}
