//! named's own health from `/proc/PID` (what bind_exporter exports as `bind_process_*` from
//! its `--bind.pid-file`): pure parsers of the files gather read.

use serde::Serialize;

/// named's process, as /proc reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NamedProcess {
    pub pid: u32,
    /// user + system CPU time, seconds
    pub cpu_seconds: f64,
    /// start time, seconds since the epoch
    pub start_time_seconds: f64,
    pub resident_memory_bytes: u64,
    pub virtual_memory_bytes: u64,
    /// `None` when /proc/PID/fd cannot be read (another user's process, not root)
    pub open_fds: Option<u64>,
    /// the soft `Max open files` limit (`None`: unlimited)
    pub max_fds: Option<u64>,
}

/// The fields of `/proc/PID/stat` used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub utime: u64,
    pub stime: u64,
    /// clock ticks after boot
    pub starttime: u64,
    pub vsize: u64,
    /// pages
    pub rss: u64,
}

/// `/proc/PID/stat`: the command name is in parentheses and may hold spaces and `)`, so the
/// fields are counted from the last `)`.
pub fn parse_stat(s: &str) -> Option<Stat> {
    let rest = &s[s.rfind(')')? + 1..];
    // fields from 3 (state) on; utime is field 14
    let f: Vec<&str> = rest.split_whitespace().collect();
    let at = |n: usize| -> Option<u64> { f.get(n - 3)?.parse().ok() };
    Some(Stat {
        utime: at(14)?,
        stime: at(15)?,
        starttime: at(22)?,
        vsize: at(23)?,
        rss: at(24)?,
    })
}

/// The boot time (`btime`) from `/proc/stat`.
pub fn parse_btime(s: &str) -> Option<u64> {
    s.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// The soft `Max open files` limit from `/proc/PID/limits` (`Some(None)`: unlimited).
pub fn parse_max_fds(s: &str) -> Option<Option<u64>> {
    let l = s.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = l["Max open files".len()..].split_whitespace().next()?;
    match soft {
        "unlimited" => Some(None),
        n => n.parse().ok().map(Some),
    }
}

/// The process from what /proc said: `ticks` clock ticks per second, `page` bytes per page.
pub fn process(
    pid: u32,
    st: Stat,
    btime: u64,
    ticks: u64,
    page: u64,
    open_fds: Option<u64>,
    max_fds: Option<u64>,
) -> NamedProcess {
    let t = ticks.max(1) as f64;
    NamedProcess {
        pid,
        cpu_seconds: (st.utime + st.stime) as f64 / t,
        start_time_seconds: btime as f64 + st.starttime as f64 / t,
        resident_memory_bytes: st.rss.saturating_mul(page),
        virtual_memory_bytes: st.vsize,
        open_fds,
        max_fds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_a_hostile_command_name() {
        let line = "4242 (na) med) S 1 4242 4242 0 -1 4194624 1234 0 0 0 150 50 0 0 20 0 8 0 \
                    98765 1073741824 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0";
        let st = parse_stat(line).unwrap();
        assert_eq!(
            st,
            Stat {
                utime: 150,
                stime: 50,
                starttime: 98765,
                vsize: 1_073_741_824,
                rss: 2048
            }
        );
        let p = process(4242, st, 1_700_000_000, 100, 4096, Some(37), Some(1024));
        assert_eq!(p.cpu_seconds, 2.0);
        assert_eq!(p.start_time_seconds, 1_700_000_987.65);
        assert_eq!(p.resident_memory_bytes, 2048 * 4096);
        assert!(parse_stat("4242 (named").is_none());
        assert!(parse_stat("4242 (named) S 1").is_none());
    }

    #[test]
    fn btime_and_limits() {
        assert_eq!(
            parse_btime("cpu 1 2 3\nbtime 1700000000\nprocesses 5\n"),
            Some(1_700_000_000)
        );
        assert_eq!(parse_btime("cpu 1\n"), None);
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(parse_max_fds(limits), Some(Some(1024)));
        assert_eq!(
            parse_max_fds(
                "Max open files            unlimited            unlimited            files\n"
            ),
            Some(None)
        );
        assert_eq!(parse_max_fds("nothing"), None);
    }
}
