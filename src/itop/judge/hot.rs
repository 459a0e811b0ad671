//! Is one CPU overloaded by device interrupts (or, in `--softirq`, by NET_RX/NET_TX/BLOCK), or
//! by the time it spends in handlers? Judged against the whole machine's load, whatever the
//! affinity masks say; then explained by the affinity: which devices put the load there,
//! whether their affinity allows other CPUs, whether the kernel manages them, and what to do
//! for each kind of device.
//!
//! A CPU is called out when
//! - its device interrupts are at least [`MIN_RATE`]/s, [`FACTOR`] times the machine's mean
//!   per CPU (all device interrupts over all online CPUs) and at least [`MIN_SHARE`] of them
//!   (per-CPU interrupts: LOC, RES, CAL, TLB... never count: only numbered IRQs do); or
//! - it spends at least [`BUSY_PERCENT`] of its time in handlers, or at least
//!   [`BUSY_FLOOR`] % and [`FACTOR`] times the machine's mean.
//!
//! A single-queue NIC whose RPS already spreads its packets to other CPUs is not called out
//! for its interrupt rate alone (one line can only be taken by one CPU; the work behind it is
//! spread).

use crate::itop::judge::numa::{device_name, device_of, CpuNodes};
use crate::itop::model::cpustat::{HandlerTime, BUSY_PERCENT};
use crate::itop::model::devices::{DeviceKind, Facts};
use crate::itop::model::interrupts::{is_numbered, RowKind, Snapshot};
use crate::itop::model::rates::{Rates, RowChange};

/// Interrupts/s below which a CPU's load is never called out.
pub const MIN_RATE: f64 = 1000.0;
/// How far above the machine's mean per CPU a CPU's load must be.
pub const FACTOR: f64 = 3.0;
/// The least share of all device interrupts (or softirqs of one kind) a hot CPU takes.
pub const MIN_SHARE: f64 = 0.2;
/// Time in handlers (%) under which a CPU is never called out for it.
pub const BUSY_FLOOR: f64 = 30.0;
/// A device contributes to a hot CPU's load when it brings at least this share of it.
const CULPRIT_SHARE: f64 = 0.1;
/// The most devices named per hot CPU.
const MAX_CULPRITS: usize = 4;

/// The softirqs whose spread an operator can change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoftirqKind {
    NetRx,
    NetTx,
    Block,
}

impl SoftirqKind {
    pub const ALL: [SoftirqKind; 3] = [SoftirqKind::NetRx, SoftirqKind::NetTx, SoftirqKind::Block];

    /// The row label in /proc/softirqs.
    pub fn label(self) -> &'static str {
        match self {
            SoftirqKind::NetRx => "NET_RX",
            SoftirqKind::NetTx => "NET_TX",
            SoftirqKind::Block => "BLOCK",
        }
    }
}

/// What kind of load is unbalanced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// Device (numbered) interrupts.
    Device,
    /// One softirq.
    Softirq(SoftirqKind),
}

/// Why the CPU is called out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// Its share of the interrupts.
    Rate,
    /// Its time in handlers.
    HandlerTime,
    /// Both.
    Both,
}

/// Where an IRQ may go, by its `smp_affinity_list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Only this CPU.
    Pinned,
    /// This many CPUs (more than one).
    AllowsOthers(usize),
    /// No affinity known (a capture without /proc/irq).
    Unknown,
}

/// What to do about one device's load on a hot CPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remedy {
    /// A single-queue NIC: spread its packet processing with RPS/RFS over these CPUs
    /// (`/sys/class/net/DEV/queues/rx-0/rps_cpus`), or give it more queues.
    Rps { netdev: String, cpus: Vec<u32> },
    /// A single-queue NIC whose RPS already spreads to these CPUs: nothing more to do for
    /// its rate.
    RpsInPlace { netdev: String, cpus: Vec<u32> },
    /// Several queue IRQs of one device on this CPU: give each its own CPU
    /// (`/proc/irq/N/smp_affinity_list`), (IRQ label, CPU) per IRQ to move.
    Spread { moves: Vec<(String, u32)> },
    /// A multi-queue NIC with one queue here: more queues (`ethtool -L DEV combined N`).
    MoreQueues { netdev: String, queues: usize },
    /// Kernel-managed queues: the kernel places them (affinity writes are refused).
    Managed,
    /// One interrupt line of a device that is not a NIC: it can only be moved, not spread.
    OneLine { irq: String },
}

/// One device's part of a hot CPU's load.
#[derive(Debug, Clone, PartialEq)]
pub struct Culprit {
    /// Its name (netdev, nvme controller, else the name in /proc/interrupts).
    pub device: String,
    pub kind: DeviceKind,
    pub pci: Option<String>,
    /// Its IRQs with load on this CPU, busiest first.
    pub irqs: Vec<String>,
    /// Its interrupts/s on this CPU.
    pub rate: f64,
    pub placement: Placement,
    pub managed: bool,
    pub remedy: Remedy,
}

/// A CPU overloaded by interrupts or handler time.
#[derive(Debug, Clone, PartialEq)]
pub struct Hotspot {
    pub cpu: u32,
    pub load: Load,
    /// Its interrupts/s of that load.
    pub rate: f64,
    /// Its share of the machine's, 0..=1.
    pub share: f64,
    /// Its rate over the machine's mean per CPU.
    pub ratio: f64,
    /// The online CPUs the mean is taken over.
    pub cpus: usize,
    /// Its time in handlers, when /proc/stat is known.
    pub handlers: Option<HandlerTime>,
    pub trigger: Trigger,
    /// The devices that put the load there, busiest first.
    pub culprits: Vec<Culprit>,
}

impl Hotspot {
    /// How bad it is, to order findings: the larger of its share and its time in handlers.
    pub fn severity(&self) -> f64 {
        let h = self.handlers.map_or(0.0, |t| t.total() / 100.0);
        if self.trigger == Trigger::Rate {
            self.share
        } else {
            self.share.max(h)
        }
    }
}

/// The columns with a known rate (CPUs online in both snapshots).
fn known_cols(rates: &Rates) -> Vec<usize> {
    (0..rates.cpu_totals.len())
        .filter(|&j| rates.cpu_totals[j].is_some())
        .collect()
}

/// Whether column `j` spends too much time in handlers against the machine.
fn handler_hot(j: usize, cpu_time: &[Option<HandlerTime>], cols: &[usize]) -> bool {
    let Some(t) = cpu_time.get(j).copied().flatten() else {
        return false;
    };
    let known: Vec<f64> = cols
        .iter()
        .filter_map(|&c| cpu_time.get(c).copied().flatten())
        .map(|t| t.total())
        .collect();
    let mean = known.iter().sum::<f64>() / known.len().max(1) as f64;
    t.total() >= BUSY_PERCENT || (t.total() >= BUSY_FLOOR && t.total() >= FACTOR * mean)
}

/// The device interrupt rows: known rates, per CPU, numbered.
fn device_rows(snap: &Snapshot, rates: &Rates) -> Vec<usize> {
    (0..rates.irqs.len())
        .filter(|&k| {
            let ir = &rates.irqs[k];
            let r = snap.row(ir.row);
            ir.change == RowChange::Known && r.kind == RowKind::PerCpu && is_numbered(r.label)
        })
        .collect()
}

/// Everything the hot-CPU verdict reads.
pub struct HotInput<'a> {
    pub snap: &'a Snapshot,
    pub rates: &'a Rates,
    pub facts: &'a Facts,
    pub nodes: &'a CpuNodes,
    pub cpu_time: &'a [Option<HandlerTime>],
}

/// The CPUs overloaded by device interrupts or handler time, worst first.
pub fn device_hotspots(inp: &HotInput) -> Vec<Hotspot> {
    let (snap, rates) = (inp.snap, inp.rates);
    let cols = known_cols(rates);
    if cols.len() < 2 {
        return Vec::new();
    }
    let rows = device_rows(snap, rates);
    let mut load = vec![0.0; snap.cpus.len()];
    let mut total = 0.0;
    for &k in &rows {
        for (j, v) in rates.irqs[k].per_cpu.nonzero() {
            load[j] += v;
            total += v;
        }
    }
    let mean = total / cols.len() as f64;
    let mut out = Vec::new();
    for &j in &cols {
        let by_rate = total > 0.0
            && load[j] >= MIN_RATE
            && load[j] >= FACTOR * mean
            && load[j] / total >= MIN_SHARE;
        let by_time = handler_hot(j, inp.cpu_time, &cols);
        let trigger = match (by_rate, by_time) {
            (true, true) => Trigger::Both,
            (true, false) => Trigger::Rate,
            (false, true) => Trigger::HandlerTime,
            (false, false) => continue,
        };
        let culprits = culprits(inp, &rows, &load, j);
        let rps_done = !culprits.is_empty()
            && culprits
                .iter()
                .all(|c| matches!(c.remedy, Remedy::RpsInPlace { .. }));
        if trigger == Trigger::Rate && rps_done {
            continue;
        }
        out.push(Hotspot {
            cpu: snap.cpus[j],
            load: Load::Device,
            rate: load[j],
            share: if total > 0.0 { load[j] / total } else { 0.0 },
            ratio: if mean > 0.0 { load[j] / mean } else { 0.0 },
            cpus: cols.len(),
            handlers: inp.cpu_time.get(j).copied().flatten(),
            trigger,
            culprits,
        });
    }
    out.sort_by(|a, b| {
        b.severity()
            .total_cmp(&a.severity())
            .then(a.cpu.cmp(&b.cpu))
    });
    out
}

/// A device's load on one CPU while it is being added up.
struct Part {
    device: String,
    dev_index: Option<usize>,
    irqs: Vec<(String, f64)>,
    rate: f64,
    managed: bool,
    pinned: bool,
    allows: usize,
    unknown: bool,
}

/// The devices behind column `j`'s load, each with its remedy.
fn culprits(inp: &HotInput, rows: &[usize], load: &[f64], j: usize) -> Vec<Culprit> {
    let (snap, rates, facts) = (inp.snap, inp.rates, inp.facts);
    let cpu = snap.cpus[j];
    let mut parts: Vec<Part> = Vec::new();
    for &k in rows {
        let Some(v) = rates.irqs[k].per_cpu.get(j).filter(|&v| v > 0.0) else {
            continue;
        };
        let r = snap.row(rates.irqs[k].row);
        let info = facts.get(k);
        let action = device_name(r.desc);
        let name = match facts.device(k) {
            Some(d) => d.name.clone(),
            None if !action.is_empty() => device_of(action).to_string(),
            None => r.label.to_string(),
        };
        let at = match parts
            .iter()
            .position(|p| p.device == name && p.dev_index == info.device)
        {
            Some(i) => i,
            None => {
                parts.push(Part {
                    device: name,
                    dev_index: info.device,
                    irqs: Vec::new(),
                    rate: 0.0,
                    managed: true,
                    pinned: true,
                    allows: 0,
                    unknown: false,
                });
                parts.len() - 1
            }
        };
        let p = &mut parts[at];
        p.irqs.push((r.label.to_string(), v));
        p.rate += v;
        p.managed &= info.managed;
        match &info.allowed {
            None => p.unknown = true,
            Some(a) if a.len() == 1 && a[0] == cpu => {}
            Some(a) => {
                p.pinned = false;
                p.allows = p.allows.max(a.len());
            }
        }
    }
    let floor = CULPRIT_SHARE * load[j];
    parts.retain(|p| p.rate >= floor);
    // a CPU's own per-CPU managed queues are not culprits when something else is
    if parts.iter().any(|p| !p.managed) {
        parts.retain(|p| !p.managed);
    }
    parts.sort_by(|a, b| b.rate.total_cmp(&a.rate));
    parts.truncate(MAX_CULPRITS);
    parts
        .into_iter()
        .map(|mut p| {
            p.irqs.sort_by(|a, b| b.1.total_cmp(&a.1));
            let remedy = remedy(inp, &p, load, j);
            let dev = p.dev_index.and_then(|d| facts.devices.get(d));
            Culprit {
                device: p.device,
                kind: dev.map_or(DeviceKind::Other, |d| d.kind),
                pci: dev.and_then(|d| d.pci.clone()),
                irqs: p.irqs.into_iter().map(|(l, _)| l).collect(),
                rate: p.rate,
                placement: if p.unknown {
                    Placement::Unknown
                } else if p.pinned {
                    Placement::Pinned
                } else {
                    Placement::AllowsOthers(p.allows)
                },
                managed: p.managed,
                remedy,
            }
        })
        .collect()
}

/// The CPUs a device's load may be spread to: its node's online CPUs (all online CPUs when
/// its node is unknown), least loaded first, `j`'s CPU last.
fn candidates(inp: &HotInput, node: Option<u32>, load: &[f64], j: usize) -> Vec<u32> {
    let snap = inp.snap;
    let local = |c: u32| match node {
        Some(n) if inp.nodes.is_numa() => inp.nodes.node_of(c) == Some(n),
        _ => true,
    };
    let mut cols: Vec<usize> = (0..snap.cpus.len())
        .filter(|&c| c != j && inp.rates.cpu_totals[c].is_some() && local(snap.cpus[c]))
        .collect();
    if cols.is_empty() {
        cols = (0..snap.cpus.len())
            .filter(|&c| c != j && inp.rates.cpu_totals[c].is_some())
            .collect();
    }
    cols.sort_by(|&a, &b| load[a].total_cmp(&load[b]).then(a.cmp(&b)));
    cols.into_iter().map(|c| snap.cpus[c]).collect()
}

fn remedy(inp: &HotInput, p: &Part, load: &[f64], j: usize) -> Remedy {
    if p.managed {
        return Remedy::Managed;
    }
    let dev = p.dev_index.and_then(|d| inp.facts.devices.get(d));
    let node = dev.and_then(|d| d.node);
    // all the device's IRQ rows in the sample, wherever they land
    let dev_rows = (0..inp.rates.irqs.len())
        .filter(|&k| match p.dev_index {
            Some(d) => inp.facts.get(k).device == Some(d),
            None => false,
        })
        .count();
    if let Some(d) = dev.filter(|d| d.kind == DeviceKind::Net) {
        let single = d.rx_queues == 1 || (d.rx_queues == 0 && dev_rows <= 1);
        if single {
            let others: Vec<u32> = d
                .rps_cpus
                .iter()
                .copied()
                .filter(|&c| c != inp.snap.cpus[j])
                .collect();
            if !others.is_empty() {
                return Remedy::RpsInPlace {
                    netdev: d.name.clone(),
                    cpus: d.rps_cpus.clone(),
                };
            }
            let mut cpus = candidates(inp, node, load, j);
            cpus.sort_unstable();
            return Remedy::Rps {
                netdev: d.name.clone(),
                cpus,
            };
        }
    }
    if p.irqs.len() >= 2 {
        let cands = candidates(inp, node, load, j);
        let moves = p
            .irqs
            .iter()
            .skip(1)
            .enumerate()
            .filter_map(|(i, (irq, _))| {
                let c = *cands.get(i % cands.len().max(1))?;
                Some((irq.clone(), c))
            })
            .collect();
        return Remedy::Spread { moves };
    }
    match dev.filter(|d| d.kind == DeviceKind::Net) {
        Some(d) => Remedy::MoreQueues {
            netdev: d.name.clone(),
            queues: d.rx_queues.max(dev_rows),
        },
        None => Remedy::OneLine {
            irq: p.irqs[0].0.clone(),
        },
    }
}

/// The CPUs overloaded by NET_RX, NET_TX or BLOCK softirqs in a /proc/softirqs sample, worst
/// first, against the machine's mean per CPU.
pub fn softirq_hotspots(
    snap: &Snapshot,
    rates: &Rates,
    cpu_time: &[Option<HandlerTime>],
) -> Vec<Hotspot> {
    let cols = known_cols(rates);
    if cols.len() < 2 {
        return Vec::new();
    }
    let mut out = Vec::new();
    for kind in SoftirqKind::ALL {
        let Some(k) = (0..rates.irqs.len()).find(|&k| {
            let ir = &rates.irqs[k];
            ir.change == RowChange::Known && snap.row(ir.row).label == kind.label()
        }) else {
            continue;
        };
        let ir = &rates.irqs[k];
        let total: f64 = ir.per_cpu.nonzero().map(|(_, v)| v).sum();
        let mean = total / cols.len() as f64;
        let worst = cols
            .iter()
            .filter_map(|&j| ir.per_cpu.get(j).map(|v| (j, v)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        let Some((j, v)) = worst else { continue };
        if total <= 0.0 || v < MIN_RATE || v < FACTOR * mean || v / total < MIN_SHARE {
            continue;
        }
        out.push(Hotspot {
            cpu: snap.cpus[j],
            load: Load::Softirq(kind),
            rate: v,
            share: v / total,
            ratio: v / mean,
            cpus: cols.len(),
            handlers: cpu_time.get(j).copied().flatten(),
            trigger: Trigger::Rate,
            culprits: Vec::new(),
        });
    }
    out.sort_by(|a, b| b.share.total_cmp(&a.share));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::itop::model::rates::rates;
    use std::sync::Arc;

    fn snap(t: &str) -> Snapshot {
        Snapshot::parse(t).unwrap()
    }

    fn hot(b: &Snapshot, r: &Rates, facts: &Facts) -> Vec<Hotspot> {
        device_hotspots(&HotInput {
            snap: b,
            rates: r,
            facts,
            nodes: &CpuNodes::default(),
            cpu_time: &[],
        })
    }

    #[test]
    fn device_interrupts_piled_on_one_cpu_are_called_out_whatever_the_mask() {
        let a = snap("  CPU0 CPU1 CPU2 CPU3\n 30: 0 0 0 0  PCI-MSI 1-edge eth0-TxRx-0\n 31: 0 0 0 0  PCI-MSI 2-edge eth0-TxRx-1\n 32: 0 0 0 0 PCI-MSI 3-edge nvme0q1\nLOC: 0 0 0 0 timer\n");
        let b = snap("  CPU0 CPU1 CPU2 CPU3\n 30: 10 0 0 5000  PCI-MSI 1-edge eth0-TxRx-0\n 31: 0 0 0 2100  PCI-MSI 2-edge eth0-TxRx-1\n 32: 100 100 80 0 PCI-MSI 3-edge nvme0q1\nLOC: 9999 9999 9999 0 timer\n");
        let r = rates(&a, &b, 1.0);
        let h = hot(&b, &r, &Facts::default());
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].cpu, 3);
        assert_eq!(h[0].culprits.len(), 1);
        assert_eq!(h[0].culprits[0].device, "eth0");
        assert_eq!(h[0].culprits[0].irqs, ["30", "31"]);
        assert_eq!(h[0].culprits[0].placement, Placement::Unknown);
        // the same load when the IRQs may only use CPU 3: still called out, as pinned
        let mut facts = Facts {
            info: vec![Default::default(); r.irqs.len()],
            ..Default::default()
        };
        for k in 0..2 {
            facts.info[k].allowed = Some(Arc::from([3u32]));
        }
        let h = hot(&b, &r, &facts);
        assert_eq!(h[0].culprits[0].placement, Placement::Pinned);
        assert_eq!(
            h[0].culprits[0].remedy,
            Remedy::Spread {
                moves: vec![("31".into(), 2)]
            },
            "the least loaded CPU"
        );
    }

    #[test]
    fn never_on_a_balanced_box_nor_for_per_cpu_interrupts() {
        let a = snap("  CPU0 CPU1\n 30: 0 0 eth0-0\n 31: 0 0 eth0-1\n");
        let b = snap("  CPU0 CPU1\n 30: 50000 0 eth0-0\n 31: 0 50000 eth0-1\n");
        assert!(hot(&b, &rates(&a, &b, 1.0), &Facts::default()).is_empty());
        let b = snap("  CPU0 CPU1\n 30: 50000 0 eth0-0\n 31: 50000 0 eth0-1\n");
        assert!(
            hot(&b, &rates(&a, &b, 1.0), &Facts::default()).is_empty(),
            "2 CPUs: at most 2x"
        );
        let a = snap("  CPU0 CPU1 CPU2 CPU3\n 30: 0 0 0 0 x\nLOC: 0 0 0 0 t\nRES: 0 0 0 0 r\n");
        let b = snap(
            "  CPU0 CPU1 CPU2 CPU3\n 30: 900 0 0 0 x\nLOC: 90000 0 0 0 t\nRES: 50000 0 0 0 r\n",
        );
        assert!(hot(&b, &rates(&a, &b, 1.0), &Facts::default()).is_empty());
    }

    #[test]
    fn softirq_net_rx_on_one_cpu() {
        let a = snap("  CPU0 CPU1 CPU2 CPU3\nNET_RX: 0 0 0 0\nTIMER: 0 0 0 0\n");
        let b = snap(
            "  CPU0 CPU1 CPU2 CPU3\nNET_RX: 95000 2000 2000 1000\nTIMER: 9000 9000 9000 9000\n",
        );
        let h = softirq_hotspots(&b, &rates(&a, &b, 1.0), &[]);
        assert_eq!(
            (h[0].cpu, h[0].load),
            (0, Load::Softirq(SoftirqKind::NetRx))
        );
        let b =
            snap("  CPU0 CPU1 CPU2 CPU3\nNET_RX: 25000 25000 25000 25000\nTIMER: 0 0 0 90000\n");
        assert!(softirq_hotspots(&b, &rates(&a, &b, 1.0), &[]).is_empty());
    }
}
