//! `/proc/stat`: time each CPU spent in hard-IRQ and softirq handlers, as `mpstat -P ALL`
//! shows it (%irq, %soft).
//!
//! Hand-parsed rather than with `procfs-core`: its `KernelStats` keeps per-CPU times in a `Vec`
//! in file order and drops the `cpuN` id, so on a box with an offline CPU (`cpu6` missing in
//! sysstat's root3 capture) every later CPU would get its neighbour's times; and its errors
//! carry no line number. Only the `cpu` lines matter here; the rest of the file (the `intr`
//! line is 131 KB on some boxes) is skipped without being split.

use std::fmt;

/// Clock ticks of one CPU, by state (the kernel's order; absent trailing fields are 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTicks {
    pub user: u64,
    pub nice: u64,
    pub system: u64,
    pub idle: u64,
    pub iowait: u64,
    pub irq: u64,
    pub softirq: u64,
    pub steal: u64,
}

impl CpuTicks {
    /// All ticks, as mpstat sums them (guest time is already inside user and nice); `None`
    /// when the sum does not fit in 64 bits (no real counter gets there: a forged file).
    pub fn total(&self) -> Option<u64> {
        [
            self.user,
            self.nice,
            self.system,
            self.idle,
            self.iowait,
            self.irq,
            self.softirq,
            self.steal,
        ]
        .iter()
        .try_fold(0u64, |a, &b| a.checked_add(b))
    }
}

/// The per-CPU lines of one `/proc/stat`, by CPU id (increasing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuStat {
    pub cpus: Vec<(u32, CpuTicks)>,
}

/// What went wrong, and on which line (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatError {
    pub line: usize,
    pub kind: StatErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatErrorKind {
    NoCpuLines,
    BadCpuId,
    /// A CPU id not above the one before it.
    CpuOrder(u32),
    TooFewFields(usize),
    /// The times of this CPU add up past 2^64.
    Overflow(u32),
    BadNumber(String),
    NotUtf8,
}

impl fmt::Display for StatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = self.line;
        match &self.kind {
            StatErrorKind::NoCpuLines => write!(f, "no cpuN lines"),
            StatErrorKind::BadCpuId => write!(f, "line {line}: expected cpuN"),
            StatErrorKind::CpuOrder(id) => {
                write!(f, "line {line}: cpu{id} is not above the CPU before it")
            }
            StatErrorKind::TooFewFields(n) => {
                write!(f, "line {line}: {n} time fields (at least 4 expected)")
            }
            StatErrorKind::Overflow(id) => write!(
                f,
                "line {line}: the times of cpu{id} add up past 2^64 (18446744073709551615)"
            ),
            StatErrorKind::BadNumber(s) => write!(f, "line {line}: '{s}' is not a number"),
            StatErrorKind::NotUtf8 => write!(f, "line {line}: not valid UTF-8"),
        }
    }
}

impl std::error::Error for StatError {}

/// The ticks of one `cpuN` line (after the `cpuN` token).
fn parse_ticks(fields: &str) -> Result<CpuTicks, StatErrorKind> {
    let mut v = [0u64; 8];
    let mut n = 0;
    for tok in fields.split_ascii_whitespace() {
        let x = tok
            .parse::<u64>()
            .map_err(|_| StatErrorKind::BadNumber(tok.chars().take(24).collect()))?;
        if n < v.len() {
            v[n] = x;
        }
        n += 1;
    }
    if n < 4 {
        return Err(StatErrorKind::TooFewFields(n));
    }
    let [user, nice, system, idle, iowait, irq, softirq, steal] = v;
    Ok(CpuTicks {
        user,
        nice,
        system,
        idle,
        iowait,
        irq,
        softirq,
        steal,
    })
}

impl CpuStat {
    pub fn parse(text: &[u8]) -> Result<CpuStat, StatError> {
        let mut out = CpuStat::default();
        for (i, line) in text.split(|&b| b == b'\n').enumerate() {
            let Some(rest) = line.strip_prefix(b"cpu") else {
                continue;
            };
            let err = |kind| StatError { line: i + 1, kind };
            let rest = std::str::from_utf8(rest).map_err(|_| err(StatErrorKind::NotUtf8))?;
            if rest.starts_with(' ') {
                continue; // the all-CPU line
            }
            let (id, fields) = rest.split_once(' ').unwrap_or((rest, ""));
            if !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err(StatErrorKind::BadCpuId));
            }
            let id: u32 = id.parse().map_err(|_| err(StatErrorKind::BadCpuId))?;
            if out.cpus.last().is_some_and(|&(last, _)| id <= last) {
                return Err(err(StatErrorKind::CpuOrder(id)));
            }
            let ticks = parse_ticks(fields).map_err(err)?;
            if ticks.total().is_none() {
                return Err(err(StatErrorKind::Overflow(id)));
            }
            out.cpus.push((id, ticks));
        }
        if out.cpus.is_empty() {
            return Err(StatError {
                line: 1,
                kind: StatErrorKind::NoCpuLines,
            });
        }
        Ok(out)
    }

    pub fn get(&self, id: u32) -> Option<&CpuTicks> {
        self.cpus
            .binary_search_by_key(&id, |&(c, _)| c)
            .ok()
            .map(|k| &self.cpus[k].1)
    }
}

/// Percent of one CPU's time in handlers over an interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HandlerTime {
    pub irq: f64,
    pub softirq: f64,
}

impl HandlerTime {
    pub fn total(&self) -> f64 {
        self.irq + self.softirq
    }
}

/// %irq and %soft of CPU `id` between two readings, as mpstat computes them (delta of the
/// state over delta of all ticks). `None` (unknown) when the CPU is missing from either
/// reading, no tick passed, its ticks do not add up in 64 bits, or any counter went down (a
/// reset: the CPU was hot-plugged in between). So irq + softirq is never above 100 %.
pub fn handler_time(prev: &CpuStat, cur: &CpuStat, id: u32) -> Option<HandlerTime> {
    let (p, c) = (prev.get(id)?, cur.get(id)?);
    if went_back(p, c) {
        return None;
    }
    let total = c.total()?.checked_sub(p.total()?)?;
    if total == 0 {
        return None;
    }
    let (irq, softirq) = (c.irq - p.irq, c.softirq - p.softirq);
    if irq.checked_add(softirq)? > total {
        return None;
    }
    let pct = |d: u64| d as f64 * 100.0 / total as f64;
    Some(HandlerTime {
        irq: pct(irq),
        softirq: pct(softirq),
    })
}

/// Whether any of a CPU's counters is lower in the newer reading (the CPU was hot-plugged, or
/// its counters otherwise restarted).
fn went_back(p: &CpuTicks, c: &CpuTicks) -> bool {
    let fields = |t: &CpuTicks| {
        [
            t.user, t.nice, t.system, t.idle, t.iowait, t.irq, t.softirq, t.steal,
        ]
    };
    fields(p).iter().zip(fields(c)).any(|(a, b)| b < *a)
}

/// The CPUs of `cpus` in both readings whose counters went back: their handler time is unknown
/// for this interval, and the operator is told why rather than shown a bare `-`.
pub fn stat_resets(prev: &CpuStat, cur: &CpuStat, cpus: &[u32]) -> Vec<u32> {
    cpus.iter()
        .copied()
        .filter(|&id| matches!((prev.get(id), cur.get(id)), (Some(p), Some(c)) if went_back(p, c)))
        .collect()
}

/// Share of time above which a CPU is called out as busy in handlers, whatever its rate.
pub const BUSY_PERCENT: f64 = 80.0;

/// [`handler_time`] for each CPU id in `cpus` (a snapshot's columns).
pub fn handler_times(prev: &CpuStat, cur: &CpuStat, cpus: &[u32]) -> Vec<Option<HandlerTime>> {
    cpus.iter().map(|&id| handler_time(prev, cur, id)).collect()
}

/// Every CPU spending at least [`BUSY_PERCENT`] of its time in handlers: (column, time),
/// busiest first.
pub fn busy_cpus(times: &[Option<HandlerTime>]) -> Vec<(usize, HandlerTime)> {
    let mut v: Vec<(usize, HandlerTime)> = times
        .iter()
        .enumerate()
        .filter_map(|(j, t)| t.map(|t| (j, t)))
        .filter(|(_, t)| t.total() >= BUSY_PERCENT)
        .collect();
    v.sort_by(|a, b| b.1.total().total_cmp(&a.1.total()).then(a.0.cmp(&b.0)));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &[u8] = b"cpu  10 0 10 80 0 0 0 0 0 0\ncpu0 5 0 5 40 0 0 0 0 0 0\ncpu2 5 0 5 40 0 0 0\nintr 5 1 2 3\nsoftirq 1 2\n";
    const B: &[u8] = b"cpu  20 0 20 160 0 0 0 0 0 0\ncpu0 5 0 5 60 0 10 20 0 0 0\ncpu2 10 0 10 70 0 0 10\nintr 9 1 2 3\n";

    #[test]
    fn cpu_lines_by_id() {
        let s = CpuStat::parse(A).unwrap();
        assert_eq!(s.cpus.len(), 2);
        assert_eq!(s.get(2).unwrap().total(), Some(50));
        assert!(s.get(1).is_none(), "an offline CPU is absent, not shifted");
    }

    #[test]
    fn percentages_as_mpstat() {
        let (a, b) = (CpuStat::parse(A).unwrap(), CpuStat::parse(B).unwrap());
        // cpu0: 50 ticks passed, 10 in irq, 20 in softirq
        assert_eq!(
            handler_time(&a, &b, 0),
            Some(HandlerTime {
                irq: 20.0,
                softirq: 40.0
            })
        );
        assert_eq!(handler_time(&a, &b, 2).unwrap().softirq, 20.0);
        assert_eq!(handler_time(&a, &b, 1), None);
        assert_eq!(
            handler_time(&b, &a, 0),
            None,
            "counters going down: unknown"
        );
    }

    #[test]
    fn counters_near_2_64_are_an_error_naming_the_line_and_cpu() {
        let max = u64::MAX;
        let text = format!("cpu  {max} {max} 1 1 1 1 1 1 0 0\ncpu0 1 1 1 1 1 1 1 1 0 0\ncpu1 {max} {max} {max} {max} {max} {max} {max} {max} 0 0\n");
        let e = CpuStat::parse(text.as_bytes()).unwrap_err();
        assert_eq!(e.kind, StatErrorKind::Overflow(1));
        assert_eq!(
            e.to_string(),
            "line 3: the times of cpu1 add up past 2^64 (18446744073709551615)"
        );
        // one field at the top, the rest 0: fits, and is a plain number
        let one = format!("cpu0 {max} 0 0 0\n");
        assert_eq!(
            CpuStat::parse(one.as_bytes())
                .unwrap()
                .get(0)
                .unwrap()
                .total(),
            Some(max)
        );
    }

    #[test]
    fn handler_time_is_never_above_100_percent() {
        let at = |irq: u64, soft: u64, user: u64| {
            let t = format!("cpu0 {user} 0 0 0 0 {irq} {soft} 0\n");
            CpuStat::parse(t.as_bytes()).unwrap()
        };
        let a = at(0, 0, 0);
        let h = handler_time(&a, &at(50, 50, 0), 0).unwrap();
        assert_eq!(h.total(), 100.0);
        // a counter reset (user went down) is unknown, not a huge value, and is named
        assert_eq!(handler_time(&at(0, 0, 100), &at(60, 60, 10), 0), None);
        assert_eq!(stat_resets(&at(0, 0, 100), &at(60, 60, 10), &[0, 1]), [0]);
        assert!(stat_resets(&at(0, 0, 10), &at(60, 60, 100), &[0]).is_empty());
        // no tick passing is not a reset
        assert!(stat_resets(&a, &a, &[0]).is_empty());
        // no tick passed: unknown, not 0 % or NaN
        assert_eq!(handler_time(&a, &a, 0), None);
        // any pair of readings: unknown or within 0..=100
        let vals = [0, 1, 7, 1 << 40, u64::MAX / 4];
        for &x in &vals {
            for &y in &vals {
                for &z in &vals {
                    let (p, c) = (at(x, y, z), at(y, z, x));
                    if let Some(h) = handler_time(&p, &c, 0) {
                        assert!(
                            h.irq >= 0.0 && h.softirq >= 0.0 && h.total() <= 100.0,
                            "{h:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn busy_cpus_busiest_first() {
        let t = |irq, softirq| Some(HandlerTime { irq, softirq });
        let times = [
            t(1.0, 2.0),
            t(10.0, 75.0),
            None,
            t(0.0, 95.0),
            t(40.0, 39.9),
        ];
        let busy: Vec<usize> = busy_cpus(&times).into_iter().map(|b| b.0).collect();
        assert_eq!(busy, [3, 1], "79.9 % is under the line");
        assert!(busy_cpus(&[]).is_empty());
    }

    #[test]
    fn errors_name_the_line() {
        let e = CpuStat::parse(b"cpu  1 2 3 4\ncpu0 1 2 x 4\n").unwrap_err();
        assert_eq!(e.to_string(), "line 2: 'x' is not a number");
        let e = CpuStat::parse(b"cpu0 1 2 3 4\ncpu0 1 2 3 4\n").unwrap_err();
        assert_eq!(e.kind, StatErrorKind::CpuOrder(0));
        let e = CpuStat::parse(b"cpu0 1 2\n").unwrap_err();
        assert_eq!(e.kind, StatErrorKind::TooFewFields(2));
        let e = CpuStat::parse(b"cpuX 1 2 3 4\n").unwrap_err();
        assert_eq!(e.kind, StatErrorKind::BadCpuId);
        let e = CpuStat::parse(b"intr 1\n").unwrap_err();
        assert_eq!(e.kind, StatErrorKind::NoCpuLines);
        let e = CpuStat::parse(b"cpu0 1 2 3 \xff\n").unwrap_err();
        assert_eq!(e.kind, StatErrorKind::NotUtf8);
    }
}
