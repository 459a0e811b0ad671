//! itop as a Prometheus exposition (`--format prometheus`, `--listen`): per-CPU interrupt and
//! softirq rates, time in handlers, per-IRQ rates, and the judge's verdicts, through the
//! shared writer ([`crate::format::prometheus`]).
//!
//! Families (all gauges, rates over the last interval):
//! - `opskit_itop_cpu_interrupts_per_second{cpu}`: every interrupt the CPU took (all rows);
//! - `opskit_itop_cpu_device_interrupts_per_second{cpu}`: numbered (device) IRQs only;
//! - `opskit_itop_cpu_softirqs_per_second{cpu,softirq}`: from /proc/softirqs (live only);
//! - `opskit_itop_cpu_handler_time_ratio{cpu,kind="irq"|"softirq"}`: share of the CPU's time
//!   in handlers (/proc/stat, as mpstat's %irq/%soft over 100);
//! - `opskit_itop_irq_per_second{irq,device}`: each numbered IRQ's rate over all CPUs;
//! - `opskit_itop_hot_cpus`: how many CPUs the judge calls overloaded (0: none);
//! - `opskit_itop_hot_cpu_share{cpu,load,trigger}`: each overloaded CPU's share of the load;
//! - `opskit_itop_numa_remote_share{device,node}`: devices handled off their node;
//! - `opskit_itop_interval_seconds`: the interval the rates are over.

use std::io::{self, Write};

use crate::format::prometheus::{write, Family, Kind};
use crate::itop::judge::hot::{Load, Trigger};
use crate::itop::judge::numa::device_name;
use crate::itop::model::interrupts::{is_numbered, RowKind, Snapshot};
use crate::itop::model::rates::{Rates, RowChange};

use super::Sample;

/// The softirq rates beside an interrupts sample.
pub struct Softirqs<'a> {
    pub snap: &'a Snapshot,
    pub rates: &'a Rates,
}

fn gauge(name: &str, help: &str) -> Family {
    Family::new(name, Kind::Gauge, help)
}

/// One exposition for one sample.
pub fn write_prometheus(
    out: &mut dyn Write,
    s: &Sample,
    soft: Option<&Softirqs>,
) -> io::Result<()> {
    let mut fams = Vec::new();
    let mut interval = gauge(
        "opskit_itop_interval_seconds",
        "Seconds between the two snapshots the rates are over.",
    );
    if s.rates.elapsed.is_finite() {
        interval.push(&[], s.rates.elapsed);
    }
    fams.push(interval);

    let mut all = gauge(
        "opskit_itop_cpu_interrupts_per_second",
        "Interrupts per second taken by each CPU (every row of /proc/interrupts).",
    );
    let mut dev = gauge(
        "opskit_itop_cpu_device_interrupts_per_second",
        "Device (numbered) interrupts per second taken by each CPU.",
    );
    let mut dev_load = vec![0.0; s.snap.cpus.len()];
    for ir in &s.rates.irqs {
        let r = s.snap.row(ir.row);
        if ir.change == RowChange::Known && r.kind == RowKind::PerCpu && is_numbered(r.label) {
            for (j, v) in ir.per_cpu.nonzero() {
                dev_load[j] += v;
            }
        }
    }
    for (j, &id) in s.snap.cpus.iter().enumerate() {
        let Some(t) = s.rates.cpu_totals.get(j).copied().flatten() else {
            continue;
        };
        let cpu = id.to_string();
        all.push(&[("cpu", &cpu)], t);
        dev.push(&[("cpu", &cpu)], dev_load[j]);
    }
    fams.push(all);
    fams.push(dev);

    let mut sirq = gauge(
        "opskit_itop_cpu_softirqs_per_second",
        "Softirqs per second run by each CPU, by softirq (/proc/softirqs).",
    );
    if let Some(so) = soft {
        for ir in &so.rates.irqs {
            let r = so.snap.row(ir.row);
            if ir.change != RowChange::Known || r.kind != RowKind::PerCpu {
                continue;
            }
            for (j, v) in ir.per_cpu.iter().enumerate() {
                if let Some(v) = v {
                    let cpu = so.snap.cpus[j].to_string();
                    sirq.push(&[("cpu", &cpu), ("softirq", r.label)], v);
                }
            }
        }
    }
    fams.push(sirq);

    let mut time = gauge(
        "opskit_itop_cpu_handler_time_ratio",
        "Share of each CPU's time in hard-IRQ (kind=irq) and softirq handlers, from /proc/stat.",
    );
    for (j, t) in s.report.cpu_time.iter().enumerate() {
        if let Some(t) = t {
            let cpu = s.snap.cpus[j].to_string();
            time.push(&[("cpu", &cpu), ("kind", "irq")], t.irq / 100.0);
            time.push(&[("cpu", &cpu), ("kind", "softirq")], t.softirq / 100.0);
        }
    }
    fams.push(time);

    let mut irq = gauge(
        "opskit_itop_irq_per_second",
        "Interrupts per second of each numbered IRQ over all CPUs.",
    );
    for (k, ir) in s.rates.irqs.iter().enumerate() {
        let r = s.snap.row(ir.row);
        let Some(t) = ir.total.filter(|_| is_numbered(r.label)) else {
            continue;
        };
        let name = match s.facts.device(k) {
            Some(d) => d.name.clone(),
            None => device_name(r.desc).to_string(),
        };
        irq.push(&[("irq", r.label), ("device", &name)], t);
    }
    fams.push(irq);

    let mut hot = gauge(
        "opskit_itop_hot_cpus",
        "CPUs overloaded by interrupts or handler time, judged against the whole machine.",
    );
    hot.push(&[], s.report.hot.len() as f64);
    fams.push(hot);
    let mut share = gauge(
        "opskit_itop_hot_cpu_share",
        "Each overloaded CPU's share of the machine's load of that kind.",
    );
    for h in &s.report.hot {
        let cpu = h.cpu.to_string();
        let load = match h.load {
            Load::Device => "device",
            Load::Softirq(k) => k.label(),
        };
        let trigger = match h.trigger {
            Trigger::Rate => "rate",
            Trigger::HandlerTime => "handler_time",
            Trigger::Both => "both",
        };
        share.push(
            &[("cpu", &cpu), ("load", load), ("trigger", trigger)],
            h.share,
        );
    }
    fams.push(share);
    let mut numa = gauge(
        "opskit_itop_numa_remote_share",
        "Share of a device's interrupts handled on other NUMA nodes' CPUs (devices above half).",
    );
    for m in &s.report.numa {
        let node = m.node.to_string();
        numa.push(&[("device", &m.device), ("node", &node)], m.remote);
    }
    fams.push(numa);
    write(out, &fams)
}
