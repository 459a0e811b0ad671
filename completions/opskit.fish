# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_opskit_global_optspecs
    string join \n root= h/help V/version
end

function __fish_opskit_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_opskit_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_opskit_using_subcommand
    set -l cmd (__fish_opskit_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c opskit -n "__fish_opskit_needs_command" -l root -d 'Read /proc and /sys under DIR instead of / (captured trees, sosreports)' -r -F
complete -c opskit -n "__fish_opskit_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c opskit -n "__fish_opskit_needs_command" -s V -l version -d 'Print version'
complete -c opskit -n "__fish_opskit_needs_command" -f -a "itop" -d 'Top-like per-CPU interrupt rates from /proc/interrupts'
complete -c opskit -n "__fish_opskit_needs_command" -f -a "bindstats" -d 'BIND statistics channel to munin (plugin protocol), Prometheus or JSON'
complete -c opskit -n "__fish_opskit_needs_command" -f -a "ssd-align" -d 'Compute and check SSD alignment of partitions, LVM and filesystems'
complete -c opskit -n "__fish_opskit_needs_command" -f -a "conn-audit" -d 'Find stale TCP connections, by peer and by process, causes first'
complete -c opskit -n "__fish_opskit_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c opskit -n "__fish_opskit_using_subcommand itop" -s d -l delay -d 'Seconds between samples (0.5, 2, 500ms)' -r
complete -c opskit -n "__fish_opskit_using_subcommand itop" -l cpus -d 'Only these CPUs, in kernel list syntax (0-3,8,10-11)' -r
complete -c opskit -n "__fish_opskit_using_subcommand itop" -l top -d 'Show only the N busiest rows (after sorting and filtering)' -r
complete -c opskit -n "__fish_opskit_using_subcommand itop" -l sort -d 'Sort by: rate (default), irq, name, or a CPU id (cpu3 or 3)' -r
complete -c opskit -n "__fish_opskit_using_subcommand itop" -l filter -d 'Only rows whose IRQ label or name contains TEXT (case-insensitive)' -r
complete -c opskit -n "__fish_opskit_using_subcommand itop" -s n -l iterations -d 'Stop after N samples (batch mode)' -r
complete -c opskit -n "__fish_opskit_using_subcommand itop" -l format -d 'Batch output format' -r -f -a "text\t'An aligned table per sample'
json\t'One JSON object per line per sample'
prometheus\t'One Prometheus exposition (one sample, then exit; --listen serves it)'"
complete -c opskit -n "__fish_opskit_using_subcommand itop" -l from -d 'Rates between captured snapshots instead of live sampling (repeat: --from a --from b)' -r -F
complete -c opskit -n "__fish_opskit_using_subcommand itop" -l stat -d 'Captured /proc/stat files, one per --from, for the time in handlers (repeat)' -r -F
complete -c opskit -n "__fish_opskit_using_subcommand itop" -l listen -d 'Serve the Prometheus exposition of the latest sample at http://ADDR:PORT/metrics' -r
complete -c opskit -n "__fish_opskit_using_subcommand itop" -l root -d 'Read /proc and /sys under DIR instead of / (captured trees, sosreports)' -r -F
complete -c opskit -n "__fish_opskit_using_subcommand itop" -s a -l all -d 'A column per CPU (the default with 8 CPUs or fewer)'
complete -c opskit -n "__fish_opskit_using_subcommand itop" -s t -l total -d 'Only the per-IRQ total (the default above 8 CPUs)'
complete -c opskit -n "__fish_opskit_using_subcommand itop" -l hide-idle -d 'Hide rows with no interrupts during the interval'
complete -c opskit -n "__fish_opskit_using_subcommand itop" -l softirq -d 'Show /proc/softirqs instead of /proc/interrupts'
complete -c opskit -n "__fish_opskit_using_subcommand itop" -l by-device -d 'Fold the queue IRQs of one device (eth0-TxRx-0, -1...) into one line with their sum'
complete -c opskit -n "__fish_opskit_using_subcommand itop" -s b -l batch -d 'Plain samples even on a terminal (automatic when stdout is not a terminal)'
complete -c opskit -n "__fish_opskit_using_subcommand itop" -s i -l interactive -d 'The interactive screen even with --from: the snapshots are replayed at --delay pace'
complete -c opskit -n "__fish_opskit_using_subcommand itop" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c opskit -n "__fish_opskit_using_subcommand itop" -s V -l version -d 'Print version'
complete -c opskit -n "__fish_opskit_using_subcommand bindstats" -l url -d 'Statistics channel URL (env: url; or HOST and PORT) [default: http://127.0.0.1:8053/]' -r
complete -c opskit -n "__fish_opskit_using_subcommand bindstats" -l timeout -d 'Time allowed for the whole fetch, every request and body together, above 0 and at most 1h (env: timeout)' -r
complete -c opskit -n "__fish_opskit_using_subcommand bindstats" -l file -d 'Read a saved document instead of fetching (- for stdin)' -r -F
complete -c opskit -n "__fish_opskit_using_subcommand bindstats" -l format -d 'Output format [default: munin]; with --listen, prometheus (the default there) or json (listed first; /json is always served)' -r -f -a "munin\t'munin plugin protocol (multigraph)'
prometheus\t'Prometheus text exposition'
json\t'the normalised counters as JSON'"
complete -c opskit -n "__fish_opskit_using_subcommand bindstats" -l views -d 'Views to graph, comma or space separated (env: VIEW, else VIEWS) [default: all but _bind]' -r
complete -c opskit -n "__fish_opskit_using_subcommand bindstats" -l any-warn -d 'Warning threshold on ANY queries per second: a number or a munin range (`N:M`, `N:`, `:M`); a bad one is reported and the default used (env: ANYWARN)' -r
complete -c opskit -n "__fish_opskit_using_subcommand bindstats" -l any-crit -d 'Critical threshold on ANY queries per second, as --any-warn (env: ANYCRIT)' -r
complete -c opskit -n "__fish_opskit_using_subcommand bindstats" -l master-zones -d 'Zones on the per-zone graph (and with every counter in JSON), comma or space separated, `none` for no graph (env: MASTERZONES) [default: autodetected, as the perl plugin]' -r
complete -c opskit -n "__fish_opskit_using_subcommand bindstats" -l max-zones -d 'At most this many autodetected zones per view, the busiest by authoritative answers (zones graphed by the last run kept first); a bad value is reported and 50 used (env: MAXZONES)' -r
complete -c opskit -n "__fish_opskit_using_subcommand bindstats" -l max-size -d 'Largest document accepted' -r
complete -c opskit -n "__fish_opskit_using_subcommand bindstats" -l listen -d 'Serve Prometheus metrics at /metrics and the JSON document at /json on ADDR:PORT, fetching BIND once per scrape. `:PORT` (or `PORT`) listens on every address, as Prometheus exporters do; `localhost:PORT` is resolved; the address taken is printed. A scrape is answered before the scraper\'s X-Prometheus-Scrape-Timeout-Seconds (less a tenth, at most 0.5 s), and never later than --timeout or 9.5 s: a BIND that does not answer in time is `bind_up 0`, not a failed scrape. When opskit itself is starved (out of file descriptors) the answer is 503, never a false `bind_up 0`' -r
complete -c opskit -n "__fish_opskit_using_subcommand bindstats" -l pid-file -d 'named\'s pid file, for named\'s own CPU, memory, open files and start time (`bind_process_*`, as bind_exporter\'s --bind.pid-file) in Prometheus and JSON output. Without it they are read when the URL is on this host: from /run/named/named.pid, else from the one process named `named`' -r -F
complete -c opskit -n "__fish_opskit_using_subcommand bindstats" -l root -d 'Read /proc and /sys under DIR instead of / (captured trees, sosreports)' -r -F
complete -c opskit -n "__fish_opskit_using_subcommand bindstats" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c opskit -n "__fish_opskit_using_subcommand bindstats" -s V -l version -d 'Print version'
complete -c opskit -n "__fish_opskit_using_subcommand ssd-align" -l erase-block -d 'The SSD\'s erase block size (512k, 1536K, 4M, 4MiB, bytes, or 2048s in 512-byte sectors)' -r
complete -c opskit -n "__fish_opskit_using_subcommand ssd-align" -l fs-block -d 'The filesystem block size' -r
complete -c opskit -n "__fish_opskit_using_subcommand ssd-align" -l raid -d 'RAID level under the filesystem (0, 1, 4, 5, 6, 10); needs --devices and --chunk' -r
complete -c opskit -n "__fish_opskit_using_subcommand ssd-align" -l devices -d 'Number of devices in the RAID (with --raid)' -r
complete -c opskit -n "__fish_opskit_using_subcommand ssd-align" -l chunk -d 'RAID chunk size (with --raid): 64k, 512k...' -r
complete -c opskit -n "__fish_opskit_using_subcommand ssd-align" -l sector-size -d 'Sector size of an image\'s MBR (an MBR does not record it)' -r -f -a "512\t''
4096\t''"
complete -c opskit -n "__fish_opskit_using_subcommand ssd-align" -l format -d 'Output format' -r -f -a "text\t'A report for people'
json\t'One JSON document for scripts'"
complete -c opskit -n "__fish_opskit_using_subcommand ssd-align" -l root -d 'Read /proc and /sys under DIR instead of / (captured trees, sosreports)' -r -F
complete -c opskit -n "__fish_opskit_using_subcommand ssd-align" -l layout -d 'Also print the commands that lay out the disk from scratch (shown without this only by the calculator and for an empty disk: they destroy what is on it)'
complete -c opskit -n "__fish_opskit_using_subcommand ssd-align" -l legacy-fdisk -d 'Explain why the old `fdisk -H32 -S32` recipe no longer aligns'
complete -c opskit -n "__fish_opskit_using_subcommand ssd-align" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c opskit -n "__fish_opskit_using_subcommand ssd-align" -s V -l version -d 'Print version'
complete -c opskit -n "__fish_opskit_using_subcommand conn-audit" -l idle -d 'How long a condition must last before a connection counts as stale (500ms, 60s, 5m)' -r
complete -c opskit -n "__fish_opskit_using_subcommand conn-audit" -l port -d 'Only connections to or from this service port: the remote port of outbound connections, the listening port of inbound ones' -r
complete -c opskit -n "__fish_opskit_using_subcommand conn-audit" -l sport -d 'Only connections with this local port, whatever the direction (as ss\'s sport)' -r
complete -c opskit -n "__fish_opskit_using_subcommand conn-audit" -l dport -d 'Only connections with this remote port, whatever the direction (as ss\'s dport)' -r
complete -c opskit -n "__fish_opskit_using_subcommand conn-audit" -l peer -d 'Only connections to this peer: an address, a CIDR block or a host name (resolved within 2 s)' -r
complete -c opskit -n "__fish_opskit_using_subcommand conn-audit" -l process -d 'Only connections owned by this process name or PID' -r
complete -c opskit -n "__fish_opskit_using_subcommand conn-audit" -l netns -d 'Audit another network namespace: a name from `ip netns list`, or the PID of a process living in it (as root: a thread enters it with setns). JSON names each socket\'s namespace' -r
complete -c opskit -n "__fish_opskit_using_subcommand conn-audit" -l format -d 'Output format' -r -f -a "table\t'Verdicts, groups and totals for people'
json\t'One JSON document'
nagios\t'A Nagios/Icinga check: one status line, perfdata, exit 0/1/2/3'
munin\t'A munin plugin (add `config` for the graph definitions)'
prometheus\t'Prometheus text exposition (node_exporter textfile collector)'"
complete -c opskit -n "__fish_opskit_using_subcommand conn-audit" -l warning -d 'Nagios warning threshold on the stale count (range syntax: 10, 10:, @10:20, -5:5)' -r
complete -c opskit -n "__fish_opskit_using_subcommand conn-audit" -l critical -d 'Nagios critical threshold on the stale count (range syntax)' -r
complete -c opskit -n "__fish_opskit_using_subcommand conn-audit" -l source -d 'Where socket data comes from' -r -f -a "auto\t'netlink, falling back to /proc/net/tcp when netlink is unavailable'
netlink\t'NETLINK_SOCK_DIAG with tcp_info (idle times)'
procfs\t'/proc/net/tcp and tcp6 (no idle times)'"
complete -c opskit -n "__fish_opskit_using_subcommand conn-audit" -l state -d 'State file remembering when each stale or connecting socket was first seen, per network namespace (the kernel\'s idle counters wrap after 49.7 days; handshakes have no age); /dev/null turns it off [default: $XDG_STATE_HOME/opskit/conn-audit.json]' -r -F
complete -c opskit -n "__fish_opskit_using_subcommand conn-audit" -l watch -d 'Refresh every INTERVAL (default 5s, at most 1d) and show how each group grows' -r
complete -c opskit -n "__fish_opskit_using_subcommand conn-audit" -s n -l iterations -d 'With --watch: stop after N reports' -r
complete -c opskit -n "__fish_opskit_using_subcommand conn-audit" -l top -d 'Groups to show in the table, and to export to munin and Prometheus (the N largest, the rest summed as one "other" entry); 0 = all. JSON lists every group (up to 10,000, the rest summed in `beyond`)' -r
complete -c opskit -n "__fish_opskit_using_subcommand conn-audit" -l root -d 'Read /proc and /sys under DIR instead of / (captured trees, sosreports)' -r -F
complete -c opskit -n "__fish_opskit_using_subcommand conn-audit" -l all-netns -d 'Audit every network namespace of the host (the named ones and those of every process; as root); groups, sockets and JSON name their namespace'
complete -c opskit -n "__fish_opskit_using_subcommand conn-audit" -l resolve -d 'Show reverse-DNS names of peers (2 s timeout, cached per run)'
complete -c opskit -n "__fish_opskit_using_subcommand conn-audit" -l kill -d 'Close the stale sockets listed, and only those (matched by socket cookie), with SOCK_DESTROY (as `ss -K`), after printing them; "already gone" is counted apart from "closed". Refused for sockets without a cookie (--source procfs, the procfs fallback) and for --root captures (another machine\'s sockets)'
complete -c opskit -n "__fish_opskit_using_subcommand conn-audit" -l yes -d 'With --kill: do not ask (required when stdin is not a terminal)'
complete -c opskit -n "__fish_opskit_using_subcommand conn-audit" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c opskit -n "__fish_opskit_using_subcommand conn-audit" -s V -l version -d 'Print version'
complete -c opskit -n "__fish_opskit_using_subcommand help; and not __fish_seen_subcommand_from itop bindstats ssd-align conn-audit help" -f -a "itop" -d 'Top-like per-CPU interrupt rates from /proc/interrupts'
complete -c opskit -n "__fish_opskit_using_subcommand help; and not __fish_seen_subcommand_from itop bindstats ssd-align conn-audit help" -f -a "bindstats" -d 'BIND statistics channel to munin (plugin protocol), Prometheus or JSON'
complete -c opskit -n "__fish_opskit_using_subcommand help; and not __fish_seen_subcommand_from itop bindstats ssd-align conn-audit help" -f -a "ssd-align" -d 'Compute and check SSD alignment of partitions, LVM and filesystems'
complete -c opskit -n "__fish_opskit_using_subcommand help; and not __fish_seen_subcommand_from itop bindstats ssd-align conn-audit help" -f -a "conn-audit" -d 'Find stale TCP connections, by peer and by process, causes first'
complete -c opskit -n "__fish_opskit_using_subcommand help; and not __fish_seen_subcommand_from itop bindstats ssd-align conn-audit help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
