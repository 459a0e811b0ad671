//! itop's batch output: a plain-text table or one JSON object (serde) per sample.
//!
//! JSON schema, one object per line:
//! `{"timestamp": RFC 3339, "source": "interrupts"|"softirqs", "elapsed_s": f64,
//!   "cpus": [ids shown], "absent_cpus": [ids shown but absent from the older snapshot],
//!   "irqs": [{"irq": label, "description": text, "change": "known"|"new"|"reset"|"no_count",
//!             "group": summary label (s390x members only), "total_rate": f64|null,
//!             "rates": {"cpu id": f64}, "affinity": "0-3"|null}],
//!   "cpu_totals": {"cpu id": f64}, "total_rate": f64, "resets": [labels],
//!   "cpu_time": {"cpu id": {"irq": %, "softirq": %}}|null (percent of that CPU's time over the
//!               interval in hard-IRQ and softirq handlers, from /proc/stat, as mpstat's
//!               %irq/%soft; null without /proc/stat, no key for a CPU it does not know),
//!   "numa_nodes": {"node": "cpu list"} (empty on one node), "numa_warnings": [messages],
//!   irqs[].node: /proc/irq/N/node when known,
//!   "imbalance": {"cpu", "load": "device"|"NET_RX"|"NET_TX"|"BLOCK", "share": 0..1,
//!                 "ratio": load over fair share, "allowed_cpus", "top": [names], "fix",
//!                 "message"}|null}`.
//!
//! `rates` omits zero cells: a CPU id in `cpus` with no key in `rates` took 0 interrupts/s from
//! that IRQ, unless it is in `absent_cpus` (no rate is known for it) or the row's `change` is
//! not `known` (then `rates` is empty and `total_rate` null). `cpu_totals` has a key for every
//! CPU of `cpus` not in `absent_cpus`, zeros included.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use crate::domain::cpustat::{busiest_handlers, HandlerTime};
use crate::domain::interrupts::{rfc3339_utc, RowKind, RowRole, Snapshot, Stamp};
use crate::domain::irq_balance::{Imbalance, Load};
use crate::domain::irq_numa::{CpuNodes, NumaMismatch};
use crate::domain::irq_rates::{IrqRate, Rates, RowChange};
use crate::domain::irq_view::{row_rate, View, ViewOpts};
use crate::output::escape::clean;
use crate::output::table::{Align, Table};

/// The widest AFFINITY cell; longer lists are cut at a comma and end in `…`.
const AFFINITY_MAX: usize = 24;

/// Everything a printer needs about one sample.
pub struct Sample<'a> {
    pub snap: &'a Snapshot,
    pub rates: &'a Rates,
    pub stamp: Stamp,
    /// Affinity per `rates.irqs` entry.
    pub affinity: &'a [Option<String>],
    pub imbalance: Option<&'a Imbalance>,
    /// `interrupts` or `softirqs`.
    pub source: Source,
    /// Time in handlers per snapshot column (empty without /proc/stat).
    pub cpu_time: &'a [Option<HandlerTime>],
    /// Devices served off their NUMA node.
    pub numa: &'a [NumaMismatch],
    /// The NUMA nodes' CPUs (empty when unknown).
    pub nodes: &'a CpuNodes,
    /// /proc/irq/N/node per `rates.irqs` entry (empty when unknown).
    pub irq_node: &'a [Option<u32>],
}

/// Which file the sample comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Interrupts,
    Softirqs,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Interrupts => "interrupts",
            Source::Softirqs => "softirqs",
        }
    }
}

/// A rate for a table cell: `-` unknown, one decimal below 100, integer below a million,
/// then `1.23M`.
pub fn fmt_rate(v: Option<f64>) -> String {
    let mut s = String::new();
    push_rate(&mut s, v);
    s
}

fn push_rate(s: &mut String, v: Option<f64>) {
    match v {
        None => s.push('-'),
        Some(v) if !v.is_finite() => s.push('-'),
        Some(v) if v < 100.0 => {
            let _ = write!(s, "{v:.1}");
        }
        Some(v) if v < 1e6 => {
            let _ = write!(s, "{v:.0}");
        }
        Some(v) => {
            let _ = write!(s, "{:.2}M", v / 1e6);
        }
    }
}

/// An affinity list cut to `max` characters at a comma, with `…` when cut: `0-287,576-863`
/// must never read as the valid but wrong `0-287,576`.
pub fn cut_list(list: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if list.chars().count() <= max {
        return list.into();
    }
    let mut end = 0;
    for (i, c) in list.char_indices() {
        if i + 1 > max.saturating_sub(1) {
            break;
        }
        if c == ',' {
            end = i;
        }
    }
    format!("{},…", &list[..end]).into()
}

/// Heat-map glyphs, coolest to hottest.
const HEAT: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
/// The glyph of an offline CPU (an id missing from the header) or one without a rate yet.
pub const OFFLINE: char = '·';

/// The heat map's layout: how many CPUs one glyph stands for, so every CPU fits in `lines`
/// lines of `per_line` glyphs.
pub fn heat_group(ncpu: usize, per_line: usize, lines: usize) -> usize {
    ncpu.div_ceil((per_line * lines).max(1)).max(1)
}

/// One glyph per group of `group` consecutive CPU ids: the hottest CPU of the group, on a log
/// scale against the hottest of all (so a CPU at 1 % of the busiest is still visible);
/// [`OFFLINE`] when no CPU of the group has a value. `values[id]`: the load of CPU `id`.
pub fn heat_glyphs(values: &[Option<f64>], group: usize) -> String {
    let max = values.iter().flatten().copied().fold(0.0, f64::max);
    let scale = (1.0 + max).ln();
    values
        .chunks(group.max(1))
        .map(|g| match g.iter().flatten().copied().reduce(f64::max) {
            None => OFFLINE,
            Some(v) if v <= 0.0 || scale <= 0.0 => HEAT[0],
            Some(v) => {
                let level = ((1.0 + v).ln() / scale * 8.0).ceil().clamp(1.0, 8.0);
                HEAT[level as usize]
            }
        })
        .collect()
}

/// Per CPU id from 0 to the highest shown: its value, `None` for ids not shown (offline).
pub fn by_cpu_id(
    cpus: &[u32],
    cols: &[usize],
    value: impl Fn(usize) -> Option<f64>,
) -> Vec<Option<f64>> {
    let max_id = cols
        .iter()
        .map(|&j| cpus[j])
        .max()
        .map_or(0, |m| m as usize + 1);
    let mut out = vec![None; max_id];
    for &j in cols {
        out[cpus[j] as usize] = value(j);
    }
    out
}

/// NAME: the device (action) names first, then the chip, hwirq and trigger in brackets
/// (`i40e-eth0-TxRx-0 [IR-PCI-MSI 10485760-edge]`), so a cut column still names the device.
/// Descriptions without a trigger token are kept as they are.
pub fn irq_name(desc: &str) -> std::borrow::Cow<'_, str> {
    let trigger = |w: &str| {
        let w = w.to_ascii_lowercase();
        w.ends_with("edge") || w.ends_with("level") || w.ends_with("fasteoi")
    };
    let words: Vec<&str> = desc.split(' ').collect();
    match words.iter().rposition(|w| trigger(w)) {
        Some(k) if k + 1 < words.len() => {
            format!("{} [{}]", words[k + 1..].join(" "), words[..=k].join(" ")).into()
        }
        _ => desc.into(),
    }
}

/// Rows whose counters restarted, as a note line (`None` when none did).
pub fn reset_note(snap: &Snapshot, rates: &Rates) -> Option<String> {
    let labels: Vec<&str> = rates
        .resets()
        .map(|k| snap.row(rates.irqs[k].row).label)
        .collect();
    if labels.is_empty() {
        return None;
    }
    let shown = labels
        .iter()
        .take(8)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    let more = if labels.len() > 8 {
        format!(" and {} more", labels.len() - 8)
    } else {
        String::new()
    };
    Some(format!(
        "note: counters restarted (driver reload?) for IRQ {shown}{more}: no rate this interval"
    ))
}

/// The CPU with the most time in handlers: `handlers: CPU 3 irq 1.2 % softirq 40.1 %`.
pub fn handler_line(s: &Sample) -> Option<String> {
    let (j, t) = s
        .cpu_time
        .iter()
        .enumerate()
        .filter_map(|(j, t)| t.map(|t| (j, t)))
        .max_by(|a, b| a.1.total().total_cmp(&b.1.total()))?;
    Some(format!(
        "handlers (/proc/stat): busiest CPU {} irq {:.1} % softirq {:.1} %",
        s.snap.cpus[j], t.irq, t.softirq
    ))
}

/// A CPU spending most of its time in handlers, whatever its interrupt rate.
pub fn busy_note(s: &Sample) -> Option<String> {
    let (j, t) = busiest_handlers(s.cpu_time)?;
    Some(format!(
        "CPU {} spends {:.0} % of its time in interrupt handlers (irq {:.1} %, softirq {:.1} %): move work off it (affinity, RSS/RPS)",
        s.snap.cpus[j],
        t.total(),
        t.irq,
        t.softirq
    ))
}

/// Plain text: a header line, the table, the notes, a blank line.
pub fn write_text(out: &mut dyn Write, s: &Sample, opts: &ViewOpts) -> io::Result<()> {
    let v = View::build(s.snap, s.rates, opts);
    writeln!(
        out,
        "{}  {}  interval {:.2} s  {} CPUs  total {} /s",
        rfc3339_utc(s.stamp.wall.0, s.stamp.wall.1),
        s.source.name(),
        s.rates.elapsed,
        v.cols.len(),
        fmt_rate(Some(v.total))
    )?;
    if let Some(line) = handler_line(s) {
        writeln!(out, "{line}")?;
    }
    if s.nodes.is_numa() {
        let nodes: Vec<String> = s
            .nodes
            .nodes
            .iter()
            .map(|(n, c)| {
                format!(
                    "node {n}: CPUs {}",
                    crate::domain::units::format_cpu_list(c)
                )
            })
            .collect();
        writeln!(out, "NUMA {}", nodes.join(", "))?;
    }
    text_table(s, opts, &v).render(out)?;
    if let Some(i) = s.imbalance {
        writeln!(out, "{}", clean(&i.to_string()))?;
    }
    if let Some(line) = busy_note(s) {
        writeln!(out, "{line}")?;
    }
    for m in s.numa.iter().take(3) {
        writeln!(out, "{}", clean(&m.to_string()))?;
    }
    if let Some(n) = reset_note(s.snap, s.rates) {
        writeln!(out, "{n}")?;
    }
    writeln!(out)
}

fn text_table(s: &Sample, opts: &ViewOpts, v: &View) -> Table {
    let mut headers: Vec<(String, Align)> = vec![("IRQ".into(), Align::Right)];
    if v.per_cpu {
        headers.extend(
            v.cols
                .iter()
                .map(|&j| (format!("CPU{}", s.snap.cpus[j]), Align::Right)),
        );
    }
    headers.push(("TOTAL".into(), Align::Right));
    let softirq = s.source == Source::Softirqs;
    let numa = s.nodes.is_numa();
    if !softirq {
        if numa {
            headers.push(("NODE".into(), Align::Right));
        }
        headers.push(("AFFINITY".into(), Align::Left));
        headers.push(("NAME".into(), Align::Left));
    }
    let mut t = Table::new(headers);
    for &k in &v.rows {
        let ir = &s.rates.irqs[k];
        let r = s.snap.row(ir.row);
        let mut row = vec![r.label.to_string()];
        if v.per_cpu {
            for &j in &v.cols {
                row.push(match r.kind {
                    RowKind::PerCpu => fmt_rate(ir.per_cpu.get(j).copied().flatten()),
                    _ => String::new(),
                });
            }
        }
        row.push(fmt_rate(row_rate(ir, r.kind, &v.cols, opts.cpus.is_none())));
        if !softirq {
            if numa {
                let node = s.irq_node.get(k).copied().flatten();
                row.push(node.map(|n| n.to_string()).unwrap_or_default());
            }
            let aff = s.affinity.get(k).and_then(|a| a.as_deref()).unwrap_or("");
            row.push(cut_list(aff, AFFINITY_MAX).into_owned());
            let name = if r.is_numbered() {
                irq_name(r.desc)
            } else {
                r.desc.into()
            };
            row.push(clean(&name).into_owned());
        }
        t.push(row);
    }
    t
}

/// One sample as JSON (see the module documentation for the schema).
#[derive(Serialize)]
struct JsonSample<'a> {
    timestamp: String,
    source: Source,
    elapsed_s: Option<f64>,
    cpus: Vec<u32>,
    absent_cpus: Vec<u32>,
    irqs: Vec<JsonIrq<'a>>,
    cpu_totals: CpuMap<'a>,
    total_rate: f64,
    resets: Vec<&'a str>,
    imbalance: Option<JsonImbalance<'a>>,
    cpu_time: Option<CpuTimes<'a>>,
    /// NUMA node -> its CPUs (`"0-11"`); empty when unknown or a single node.
    numa_nodes: BTreeMap<u32, String>,
    numa_warnings: Vec<String>,
}

/// `{"cpu id": {"irq": %, "softirq": %}}` over the shown columns with a known time.
struct CpuTimes<'a> {
    cpus: &'a [u32],
    cols: &'a [usize],
    times: &'a [Option<HandlerTime>],
}

impl Serialize for CpuTimes<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct T {
            irq: f64,
            softirq: f64,
        }
        let mut m = ser.serialize_map(None)?;
        for &j in self.cols {
            if let Some(t) = self.times.get(j).copied().flatten() {
                let r = |v: f64| (v * 100.0).round() / 100.0;
                m.serialize_entry(
                    &self.cpus[j],
                    &T {
                        irq: r(t.irq),
                        softirq: r(t.softirq),
                    },
                )?;
            }
        }
        m.end()
    }
}

#[derive(Serialize)]
struct JsonIrq<'a> {
    irq: &'a str,
    description: &'a str,
    change: RowChange,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<&'a str>,
    total_rate: Option<f64>,
    rates: CpuMap<'a>,
    affinity: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    node: Option<u32>,
}

#[derive(Serialize)]
struct JsonImbalance<'a> {
    cpu: u32,
    /// `device`, or the softirq's name.
    load: &'a str,
    share: f64,
    ratio: f64,
    allowed_cpus: usize,
    top: &'a [String],
    fix: &'static str,
    message: String,
}

/// `{"cpu id": rate}` over the shown columns, serialized straight from the rates (no map is
/// built); with `skip_zero`, zero cells are left out.
struct CpuMap<'a> {
    cpus: &'a [u32],
    cols: &'a [usize],
    values: &'a [Option<f64>],
    skip_zero: bool,
}

impl Serialize for CpuMap<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let mut m = ser.serialize_map(None)?;
        for &j in self.cols {
            if let Some(v) = self.values.get(j).copied().flatten() {
                if !(self.skip_zero && v == 0.0) {
                    m.serialize_entry(&self.cpus[j], &round2(v))?;
                }
            }
        }
        m.end()
    }
}

/// A rate rounded to 2 decimals; not finite -> null.
fn round2(v: f64) -> Option<f64> {
    v.is_finite().then(|| (v * 100.0).round() / 100.0)
}

fn json_irq<'a>(s: &Sample<'a>, v: &'a View, k: usize, all_cols: bool) -> JsonIrq<'a> {
    let ir: &'a IrqRate = &s.rates.irqs[k];
    let r = s.snap.row(ir.row);
    let group = match r.role {
        RowRole::Member(g) => Some(s.snap.row(g).label),
        _ => None,
    };
    let values: &[Option<f64>] = if r.kind == RowKind::PerCpu {
        &ir.per_cpu
    } else {
        &[]
    };
    JsonIrq {
        irq: r.label,
        description: r.desc,
        change: ir.change,
        group,
        total_rate: row_rate(ir, r.kind, &v.cols, all_cols).and_then(round2),
        rates: CpuMap {
            cpus: &s.snap.cpus,
            cols: &v.cols,
            values,
            skip_zero: true,
        },
        affinity: s.affinity.get(k).and_then(|a| a.as_deref()),
        node: s.irq_node.get(k).copied().flatten(),
    }
}

/// One JSON object on one line.
pub fn write_json(out: &mut dyn Write, s: &Sample, opts: &ViewOpts) -> io::Result<()> {
    let v = View::build(s.snap, s.rates, opts);
    let all_cols = opts.cpus.is_none();
    let doc = JsonSample {
        timestamp: rfc3339_utc(s.stamp.wall.0, s.stamp.wall.1),
        source: s.source,
        elapsed_s: s.rates.elapsed.is_finite().then_some(s.rates.elapsed),
        cpus: v.cols.iter().map(|&j| s.snap.cpus[j]).collect(),
        absent_cpus: v
            .cols
            .iter()
            .filter(|&&j| s.rates.cpu_totals.get(j).copied().flatten().is_none())
            .map(|&j| s.snap.cpus[j])
            .collect(),
        irqs: v
            .rows
            .iter()
            .map(|&k| json_irq(s, &v, k, all_cols))
            .collect(),
        cpu_totals: CpuMap {
            cpus: &s.snap.cpus,
            cols: &v.cols,
            values: &s.rates.cpu_totals,
            skip_zero: false,
        },
        total_rate: round2(v.total).unwrap_or(0.0),
        resets: s
            .rates
            .resets()
            .map(|k| s.snap.row(s.rates.irqs[k].row).label)
            .collect(),
        imbalance: s.imbalance.map(|i| JsonImbalance {
            cpu: i.cpu,
            load: match &i.load {
                Load::Device => "device",
                Load::Softirq(name) => name,
            },
            share: (i.share * 1000.0).round() / 1000.0,
            ratio: (i.ratio * 10.0).round() / 10.0,
            allowed_cpus: i.allowed,
            top: &i.top,
            fix: i.fix(),
            message: i.to_string(),
        }),
        numa_nodes: s
            .nodes
            .nodes
            .iter()
            .filter(|_| s.nodes.is_numa())
            .map(|(n, c)| (*n, crate::domain::units::format_cpu_list(c)))
            .collect(),
        numa_warnings: s.numa.iter().map(|m| m.to_string()).collect(),
        cpu_time: (!s.cpu_time.is_empty()).then(|| CpuTimes {
            cpus: &s.snap.cpus,
            cols: &v.cols,
            times: s.cpu_time,
        }),
    };
    crate::output::json::write_line(out, &doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::irq_balance::imbalance;
    use crate::domain::irq_rates::rates;

    #[test]
    fn heat_map_shows_every_cpu_offline_ones_apart() {
        // CPU 2 offline (no value); CPU 3 at 1 % of CPU 0 still shows: ln 101 / ln 10001
        // = 0.501 of the scale, level ceil(4.01) = 5
        let v = [Some(10_000.0), Some(0.0), None, Some(100.0)];
        assert_eq!(heat_glyphs(&v, 1), "█ ·▅");
        assert_eq!(heat_glyphs(&v, 2), "█▅");
        assert_eq!(heat_glyphs(&[None, None], 1), "··");
        // 1152 CPUs in 74 columns x 8 lines: 2 CPUs a glyph
        assert_eq!(heat_group(1152, 74, 8), 2);
        assert_eq!(heat_group(24, 74, 8), 1);
        assert_eq!(
            by_cpu_id(&[0, 1, 3], &[0, 2], |j| Some(j as f64)),
            [Some(0.0), None, None, Some(2.0)]
        );
    }

    #[test]
    fn names_lead_with_the_device() {
        assert_eq!(
            irq_name("IR-PCI-MSI 10485760-edge i40e-eth0-TxRx-0"),
            "i40e-eth0-TxRx-0 [IR-PCI-MSI 10485760-edge]"
        );
        assert_eq!(irq_name("IR-IO-APIC-edge timer"), "timer [IR-IO-APIC-edge]");
        assert_eq!(
            irq_name("IO-APIC 9-fasteoi acpi"),
            "acpi [IO-APIC 9-fasteoi]"
        );
        assert_eq!(
            irq_name("GICv3 27 Level arch_timer"),
            "arch_timer [GICv3 27 Level]"
        );
        assert_eq!(
            irq_name("PCI-MSI mlx5_comp0@pci:0002:00:00.0"),
            "PCI-MSI mlx5_comp0@pci:0002:00:00.0"
        );
        assert_eq!(irq_name("IO-APIC 2-edge"), "IO-APIC 2-edge");
    }

    #[test]
    fn rates_and_lists_for_cells() {
        assert_eq!(fmt_rate(None), "-");
        assert_eq!(fmt_rate(Some(2.25)), "2.2");
        assert_eq!(fmt_rate(Some(1234.4)), "1234");
        assert_eq!(fmt_rate(Some(2_500_000.0)), "2.50M");
        assert_eq!(cut_list("0-3", 24), "0-3");
        assert_eq!(cut_list("0-287,576-863", 10), "0-287,…");
        let long: String = (0..600).map(|c| format!("{},", c * 2)).collect();
        let cut = cut_list(&long, AFFINITY_MAX);
        assert!(
            cut.chars().count() <= AFFINITY_MAX && cut.ends_with(",…"),
            "{cut}"
        );
    }

    #[test]
    fn json_sample_has_the_documented_shape() {
        let a = Snapshot::parse(
            "  CPU0 CPU2\n 30: 0 0 PCI-MSI eth0\nLOC: 0 0 Local timer interrupts\nERR: 0\n",
        )
        .unwrap();
        let b = Snapshot::parse("  CPU0 CPU2\n 30: 0 100 PCI-MSI eth0\nLOC: 61 62 Local timer interrupts\nERR: 0\n 31: 5 5 PCI-MSI new\n").unwrap();
        let r = rates(&a, &b, 1.0);
        let imb = imbalance(&b, &r, &[]);
        let aff = vec![Some("2".to_string()), None, None, Some("0-3".to_string())];
        let s = Sample {
            snap: &b,
            rates: &r,
            stamp: Stamp {
                mono: 1.0,
                wall: (0, 0),
            },
            affinity: &aff,
            imbalance: imb.as_ref(),
            source: Source::Interrupts,
            cpu_time: &[],
            numa: &[],
            nodes: &CpuNodes::default(),
            irq_node: &[],
        };
        let mut out = Vec::new();
        write_json(&mut out, &s, &ViewOpts::default()).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert_eq!(out.lines().count(), 1);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["timestamp"], "1970-01-01T00:00:00.000Z");
        assert_eq!(v["elapsed_s"], 1.0);
        assert_eq!(v["cpus"], serde_json::json!([0, 2]));
        let loc = v["irqs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["irq"] == "LOC")
            .unwrap();
        assert_eq!(loc["description"], "Local timer interrupts");
        assert_eq!(loc["total_rate"], 123.0);
        assert_eq!(loc["rates"], serde_json::json!({"0": 61.0, "2": 62.0}));
        let new = v["irqs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["irq"] == "31")
            .unwrap();
        assert!(new["total_rate"].is_null());
        assert_eq!(new["rates"], serde_json::json!({}));
        assert_eq!(v["cpu_totals"], serde_json::json!({"0": 61.0, "2": 162.0}));
        assert!(v["imbalance"].is_null(), "100/s is below the floor rate");
        let eth = v["irqs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["irq"] == "30")
            .unwrap();
        assert_eq!(eth["affinity"], "2");

        let mut text = Vec::new();
        write_text(&mut text, &s, &ViewOpts::default()).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("CPU0"), "{text}");
        assert!(
            text.contains("IRQ  CPU0  CPU2  TOTAL  AFFINITY  NAME"),
            "{text}"
        );
    }
}
