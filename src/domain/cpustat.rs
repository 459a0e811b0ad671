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
    /// All ticks, as mpstat sums them (guest time is already inside user and nice).
    pub fn total(&self) -> u64 {
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
        .fold(0u64, |a, &b| a.saturating_add(b))
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
            out.cpus.push((id, parse_ticks(fields).map_err(err)?));
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
/// state over delta of all ticks). `None` when the CPU is missing from either reading, no
/// tick passed, or a counter went down (the CPU was hot-plugged in between).
pub fn handler_time(prev: &CpuStat, cur: &CpuStat, id: u32) -> Option<HandlerTime> {
    let (p, c) = (prev.get(id)?, cur.get(id)?);
    let total = c.total().checked_sub(p.total())?;
    if total == 0 {
        return None;
    }
    let pct = |a: u64, b: u64| b.checked_sub(a).map(|d| d as f64 * 100.0 / total as f64);
    Some(HandlerTime {
        irq: pct(p.irq, c.irq)?,
        softirq: pct(p.softirq, c.softirq)?,
    })
}

/// Share of time above which a CPU is called out as busy in handlers, whatever its rate.
pub const BUSY_PERCENT: f64 = 80.0;

/// [`handler_time`] for each CPU id in `cpus` (a snapshot's columns).
pub fn handler_times(prev: &CpuStat, cur: &CpuStat, cpus: &[u32]) -> Vec<Option<HandlerTime>> {
    cpus.iter().map(|&id| handler_time(prev, cur, id)).collect()
}

/// The CPU spending the largest share of its time in handlers, when that is at least
/// [`BUSY_PERCENT`]: (column, time).
pub fn busiest_handlers(times: &[Option<HandlerTime>]) -> Option<(usize, HandlerTime)> {
    times
        .iter()
        .enumerate()
        .filter_map(|(j, t)| t.map(|t| (j, t)))
        .filter(|(_, t)| t.total() >= BUSY_PERCENT)
        .max_by(|a, b| a.1.total().total_cmp(&b.1.total()))
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
        assert_eq!(s.get(2).unwrap().total(), 50);
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
