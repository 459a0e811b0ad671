//! itop's one judge, called by every front end (batch text and JSON, Prometheus, the TUI):
//! one interval's rates and what was read beside them in, a typed [`Report`] out. Pure:
//! values in, findings out; [`crate::itop::render`] turns them into words and commands.
//!
//! - [`hot`]: is one CPU overloaded by device interrupts (or softirqs) or handler time, judged
//!   against the whole machine, and which devices put it there with the remedy for each;
//! - [`numa`]: is a device's load handled on another NUMA node;
//! - [`view`]: which rows and columns the renderers show.

pub(crate) mod hot;
pub(crate) mod numa;
pub(crate) mod view;

use crate::itop::model::cpustat::{handler_times, stat_resets, CpuStat, HandlerTime};
use crate::itop::model::devices::Facts;
use crate::itop::model::interrupts::Snapshot;
use crate::itop::model::rates::Rates;
use crate::itop::model::Source;
use hot::{device_hotspots, softirq_hotspots, HotInput, Hotspot};
use numa::{numa_mismatches, CpuNodes, NumaMismatch};

/// Everything read for one interval.
pub struct Input<'a> {
    pub source: Source,
    /// The CPU ids of the older snapshot.
    pub prev_cpus: &'a [u32],
    pub snap: &'a Snapshot,
    pub rates: &'a Rates,
    /// Affinities and devices per row (empty when unknown).
    pub facts: &'a Facts,
    pub nodes: &'a CpuNodes,
    /// /proc/stat at both ends of the interval, when readable.
    pub prev_stat: Option<&'a CpuStat>,
    pub stat: Option<&'a CpuStat>,
}

/// The verdicts on one interval.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// Overloaded CPUs, worst first.
    pub hot: Vec<Hotspot>,
    /// Devices served off their node, worst first.
    pub numa: Vec<NumaMismatch>,
    /// Time in handlers per snapshot column (empty without /proc/stat).
    pub cpu_time: Vec<Option<HandlerTime>>,
    /// CPUs whose /proc/stat counters went back (hot-plug): handler time unknown.
    pub stat_resets: Vec<u32>,
    /// CPUs in the older snapshot missing from the newer one: they went offline.
    pub went_offline: Vec<u32>,
}

/// One finding, for the notice line, most important first ([`Report::findings`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Finding<'a> {
    Hot(&'a Hotspot),
    Numa(&'a NumaMismatch),
    WentOffline(&'a [u32]),
    StatResets(&'a [u32]),
}

impl Report {
    /// Every finding, most important first: overloaded CPUs (worst first), devices off their
    /// node, CPUs that went offline, /proc/stat resets.
    pub fn findings(&self) -> Vec<Finding<'_>> {
        let mut out: Vec<Finding> = self.hot.iter().map(Finding::Hot).collect();
        out.extend(self.numa.iter().map(Finding::Numa));
        if !self.went_offline.is_empty() {
            out.push(Finding::WentOffline(&self.went_offline));
        }
        if !self.stat_resets.is_empty() {
            out.push(Finding::StatResets(&self.stat_resets));
        }
        out
    }
}

/// Judge one interval.
pub fn judge(inp: &Input) -> Report {
    let (cpu_time, resets) = match (inp.prev_stat, inp.stat) {
        (Some(a), Some(b)) => (
            handler_times(a, b, &inp.snap.cpus),
            stat_resets(a, b, &inp.snap.cpus),
        ),
        _ => Default::default(),
    };
    let hot = match inp.source {
        Source::Interrupts => device_hotspots(&HotInput {
            snap: inp.snap,
            rates: inp.rates,
            facts: inp.facts,
            nodes: inp.nodes,
            cpu_time: &cpu_time,
        }),
        Source::Softirqs => softirq_hotspots(inp.snap, inp.rates, &cpu_time),
    };
    let numa = match inp.source {
        Source::Interrupts => numa_mismatches(inp.snap, inp.rates, inp.facts, inp.nodes),
        Source::Softirqs => Vec::new(),
    };
    let went_offline = inp
        .prev_cpus
        .iter()
        .copied()
        .filter(|&c| inp.snap.cpu_column(c).is_none())
        .collect();
    Report {
        hot,
        numa,
        cpu_time,
        stat_resets: resets,
        went_offline,
    }
}
