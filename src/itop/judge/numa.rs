//! NUMA: which node each CPU and each IRQ's device belongs to, and devices whose interrupts
//! are handled on another node's CPUs (every packet or block completion then crosses the
//! interconnect).

use std::collections::BTreeMap;

use super::hot::MIN_RATE;
use crate::itop::model::devices::Facts;
use crate::itop::model::interrupts::{is_numbered, RowKind, Snapshot};
use crate::itop::model::rates::{Rates, RowChange};

/// CPU id -> NUMA node, from /sys/devices/system/node/nodeN/cpulist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuNodes {
    /// (node, its CPU ids), by node.
    pub nodes: Vec<(u32, Vec<u32>)>,
}

impl CpuNodes {
    pub fn node_of(&self, cpu: u32) -> Option<u32> {
        self.nodes
            .iter()
            .find(|(_, cpus)| cpus.binary_search(&cpu).is_ok())
            .map(|&(n, _)| n)
    }

    /// More than one node: NUMA placement matters.
    pub fn is_numa(&self) -> bool {
        self.nodes.len() > 1
    }
}

/// The device an IRQ's action name belongs to: `eth0-TxRx-3` -> `eth0`, `nvme0q1` -> `nvme0`,
/// `mlx5_comp3@pci:0002:00:00.0` -> `pci:0002:00:00.0`.
pub fn device_of(name: &str) -> &str {
    if let Some((_, dev)) = name.split_once('@') {
        return dev;
    }
    let queue_word = |t: &str| {
        let l = t.to_ascii_lowercase();
        t.bytes().all(|b| b.is_ascii_digit())
            || ["txrx", "rx", "tx", "fp", "queue", "combined", "msix"].contains(&l.as_str())
    };
    let mut end = 0;
    for (i, tok) in name.split('-').enumerate() {
        if i > 0 && queue_word(tok) {
            break;
        }
        end += tok.len() + usize::from(i > 0);
    }
    let dev = &name[..end];
    // nvme0q1: a trailing q<digits>
    match dev.rfind('q') {
        Some(q)
            if q > 0 && q + 1 < dev.len() && dev[q + 1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            &dev[..q]
        }
        _ => dev,
    }
}

/// The device name at the end of a description (`IR-PCI-MSI 1048576-edge eth0-TxRx-0` ->
/// `eth0-TxRx-0`).
pub fn device_name(desc: &str) -> &str {
    desc.rsplit(' ').next().unwrap_or(desc)
}

/// A device whose interrupts are mostly handled on CPUs of other nodes than its own, while
/// its own node has CPUs online (and its IRQs are not kernel-managed).
#[derive(Debug, Clone, PartialEq)]
pub struct NumaMismatch {
    pub device: String,
    pub node: u32,
    /// Share of its interrupts handled on other nodes' CPUs, 0..=1.
    pub remote: f64,
    pub rate: f64,
    /// Its node's online CPUs.
    pub local_cpus: Vec<u32>,
    /// Its IRQs handled off the node, busiest first.
    pub irqs: Vec<String>,
}

/// A device's node, interrupts/s on and off it, and its IRQs off it with their rate.
type DevLoad = (u32, f64, f64, Vec<(String, f64)>);

/// Devices (numbered IRQs grouped by their sysfs device, else by [`device_of`]) at
/// [`MIN_RATE`]/s or more whose interrupts are more than half handled off their node.
/// Kernel-managed IRQs never count (per-CPU queues are served where the I/O comes from, and
/// their affinity cannot be set), nor a device whose node has no CPU online. Worst first.
pub fn numa_mismatches(
    cur: &Snapshot,
    rates: &Rates,
    facts: &Facts,
    nodes: &CpuNodes,
) -> Vec<NumaMismatch> {
    if !nodes.is_numa() {
        return Vec::new();
    }
    let col_node: Vec<Option<u32>> = cur.cpus.iter().map(|&c| nodes.node_of(c)).collect();
    // device -> (node, local, remote, irqs off node)
    let mut by_dev: BTreeMap<String, DevLoad> = BTreeMap::new();
    for (k, ir) in rates.irqs.iter().enumerate() {
        let r = cur.row(ir.row);
        let info = facts.get(k);
        let dev = facts.device(k);
        let Some(node) = info.node.or(dev.and_then(|d| d.node)) else {
            continue;
        };
        if info.managed
            || ir.change != RowChange::Known
            || r.kind != RowKind::PerCpu
            || !is_numbered(r.label)
        {
            continue;
        }
        let name = match dev {
            Some(d) => d.name.clone(),
            None => device_of(device_name(r.desc)).to_string(),
        };
        let e = by_dev.entry(name).or_insert((node, 0.0, 0.0, Vec::new()));
        let mut off = 0.0;
        for (j, v) in ir.per_cpu.nonzero() {
            match col_node[j] {
                Some(n) if n == e.0 => e.1 += v,
                Some(_) => off += v,
                None => {}
            }
        }
        e.2 += off;
        if off > 0.0 {
            e.3.push((r.label.to_string(), off));
        }
    }
    let mut out: Vec<NumaMismatch> = by_dev
        .into_iter()
        .filter(|(_, (_, l, r, _))| l + r >= MIN_RATE && *r > *l)
        .filter_map(|(dev, (node, l, r, mut irqs))| {
            let local_cpus: Vec<u32> = nodes
                .nodes
                .iter()
                .find(|(n, _)| *n == node)
                .map(|(_, c)| {
                    c.iter()
                        .copied()
                        .filter(|id| cur.cpu_column(*id).is_some())
                        .collect()
                })
                .unwrap_or_default();
            if local_cpus.is_empty() {
                return None;
            }
            irqs.sort_by(|a, b| b.1.total_cmp(&a.1));
            Some(NumaMismatch {
                device: dev,
                node,
                remote: r / (l + r),
                rate: l + r,
                local_cpus,
                irqs: irqs.into_iter().map(|(l, _)| l).collect(),
            })
        })
        .collect();
    out.sort_by(|a, b| (b.remote * b.rate).total_cmp(&(a.remote * a.rate)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::itop::model::devices::IrqInfo;
    use crate::itop::model::rates::rates;

    #[test]
    fn devices_from_action_names() {
        assert_eq!(device_of("eth0-TxRx-3"), "eth0");
        assert_eq!(device_of("i40e-eth0-TxRx-0"), "i40e-eth0");
        assert_eq!(device_of("ens3f0-rx-1"), "ens3f0");
        assert_eq!(device_of("nvme0q12"), "nvme0");
        assert_eq!(device_of("mlx5_comp3@pci:0002:00:00.0"), "pci:0002:00:00.0");
        assert_eq!(device_of("timer"), "timer");
        assert_eq!(device_of("virtio0-input.0"), "virtio0-input.0");
    }

    #[test]
    fn a_device_served_by_the_other_node() {
        let nodes = CpuNodes {
            nodes: vec![(0, vec![0, 1]), (1, vec![2, 3])],
        };
        assert_eq!(nodes.node_of(3), Some(1));
        let a = Snapshot::parse("  CPU0 CPU1 CPU2 CPU3\n 30: 0 0 0 0 PCI-MSI 1-edge eth0-TxRx-0\n 31: 0 0 0 0 PCI-MSI 2-edge eth0-TxRx-1\n 40: 0 0 0 0 PCI-MSI 3-edge nvme0q1\n").unwrap();
        let b = Snapshot::parse("  CPU0 CPU1 CPU2 CPU3\n 30: 3000 0 0 0 PCI-MSI 1-edge eth0-TxRx-0\n 31: 0 2000 0 1000 PCI-MSI 2-edge eth0-TxRx-1\n 40: 0 0 5000 0 PCI-MSI 3-edge nvme0q1\n").unwrap();
        let r = rates(&a, &b, 1.0);
        // eth0 sits on node 1, nvme0 on node 1 too (served there: fine)
        let on = |node: u32, managed: bool| IrqInfo {
            node: Some(node),
            managed,
            ..Default::default()
        };
        let facts = Facts {
            info: vec![on(1, false), on(1, false), on(1, false)],
            devices: Vec::new(),
        };
        let m = numa_mismatches(&b, &r, &facts, &nodes);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].device, "eth0");
        assert_eq!(m[0].local_cpus, [2, 3]);
        assert_eq!(m[0].irqs, ["30", "31"]);
        assert_eq!((m[0].remote * 100.0).round(), 83.0);
        // managed queues are never a NUMA warning
        let facts = Facts {
            info: vec![on(1, true), on(1, true), on(1, false)],
            devices: Vec::new(),
        };
        assert!(numa_mismatches(&b, &r, &facts, &nodes).is_empty());
        // one node: nothing to say
        let one = CpuNodes {
            nodes: vec![(0, vec![0, 1, 2, 3])],
        };
        assert!(numa_mismatches(&b, &r, &Facts::default(), &one).is_empty());
    }
}
