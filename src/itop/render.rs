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
//!   "busy_cpus": [{"cpu": id, "irq": %, "softirq": %}]|null (CPUs at least 80 % of their
//!                time in handlers, busiest first; null without /proc/stat),
//!   "stat_resets": [ids] (CPUs whose /proc/stat counters went back, as after a hot-plug: no
//!                  `cpu_time` for them this interval),
//!   "devices": [{"device": "eth0", "irqs": [labels], "total_rate": f64|null,
//!                "rates": {"cpu id": f64}}] (devices with two or more queue IRQs shown, added
//!                up; zero cells omitted),
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
//!
//! Every text read from outside (IRQ labels, descriptions, device and softirq names, affinity
//! lists, the messages naming them) goes through [`clean`] first, as in conn-audit's JSON: a
//! control character arrives as the visible text `\x1b`, so `jq -r` can never turn it back
//! into a raw escape sequence.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use crate::common::escape::clean;
use crate::format::table::{Align, Table};
use crate::itop::judge::balance::{Imbalance, Load};
use crate::itop::judge::numa::{CpuNodes, NumaMismatch};
use crate::itop::judge::view::{
    group_by_device, row_rate, DeviceGroup, Line, View, ViewOpts, MEMBER_MARK,
};
use crate::itop::model::cpustat::{busiest_handlers, busy_cpus, HandlerTime};
use crate::itop::model::interrupts::{rfc3339_utc, RowKind, RowRole, Snapshot, Stamp};
use crate::itop::model::rates::{CellRates, IrqRate, Rates, RowChange};

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
    /// CPUs whose /proc/stat counters went back this interval (their handler time unknown).
    pub stat_resets: &'a [u32],
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

/// CPUs whose /proc/stat counters went back, as a note line (`None` when none did).
pub fn stat_reset_note(s: &Sample) -> Option<String> {
    let (first, rest) = s.stat_resets.split_first()?;
    let mut ids = first.to_string();
    for id in rest.iter().take(7) {
        let _ = write!(ids, ", {id}");
    }
    if rest.len() > 7 {
        let _ = write!(ids, " and {} more", rest.len() - 7);
    }
    let cpus = if rest.is_empty() { "CPU" } else { "CPUs" };
    Some(format!(
        "note: /proc/stat counters went back (CPU hot-plugged?) for {cpus} {ids}: handler time unknown this interval"
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
                    crate::common::units::format_cpu_list(c)
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
    if let Some(n) = stat_reset_note(s) {
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
    let lines = if opts.by_device {
        group_by_device(s.snap, s.rates, v)
    } else {
        v.rows.iter().map(|&k| Line::Irq(k)).collect()
    };
    for line in &lines {
        match line {
            Line::Irq(k) => t.push(text_row(s, opts, v, *k)),
            Line::Device(g) => t.push(device_row(s, opts, v, g)),
        }
    }
    t
}

/// A device's queue IRQs added up (`--by-device`): `+8` in the IRQ column for 8 IRQs.
fn device_row(s: &Sample, opts: &ViewOpts, v: &View, g: &DeviceGroup) -> Vec<String> {
    let mut row = vec![format!("+{}", g.members.len())];
    if v.per_cpu {
        row.extend(v.cols.iter().map(|&j| fmt_rate(g.per_cpu.get(j))));
    }
    row.push(fmt_rate(device_rate(g, &v.cols, opts.cpus.is_none())));
    if s.source != Source::Softirqs {
        if s.nodes.is_numa() {
            row.push(String::new());
        }
        row.push(String::new());
        row.push(format!("{} ({} IRQs)", clean(&g.name), g.members.len()));
    }
    row
}

/// A device's rate over the shown columns.
fn device_rate(g: &DeviceGroup, cols: &[usize], all_cols: bool) -> Option<f64> {
    if all_cols {
        return g.total;
    }
    g.total?;
    Some(cols.iter().filter_map(|&j| g.per_cpu.get(j)).sum())
}

/// One IRQ's line of the text table.
fn text_row(s: &Sample, opts: &ViewOpts, v: &View, k: usize) -> Vec<String> {
    let softirq = s.source == Source::Softirqs;
    let numa = s.nodes.is_numa();
    let ir = &s.rates.irqs[k];
    let r = s.snap.row(ir.row);
    let mut row = vec![r.label.to_string()];
    if v.per_cpu {
        for &j in &v.cols {
            row.push(match r.kind {
                RowKind::PerCpu => fmt_rate(ir.per_cpu.get(j)),
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
        let mark = if v.under_summary(s.snap, s.rates, k) {
            MEMBER_MARK
        } else {
            ""
        };
        row.push(format!("{mark}{}", clean(&name)));
    }
    row
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
    resets: Vec<Cow<'a, str>>,
    imbalance: Option<JsonImbalance<'a>>,
    cpu_time: Option<CpuTimes<'a>>,
    /// CPUs at least [`crate::itop::model::cpustat::BUSY_PERCENT`] % of their time in handlers, busiest first (`null`
    /// without /proc/stat).
    busy_cpus: Option<Vec<JsonBusy>>,
    stat_resets: &'a [u32],
    /// NUMA node -> its CPUs (`"0-11"`); empty when unknown or a single node.
    numa_nodes: BTreeMap<u32, String>,
    numa_warnings: Vec<String>,
    /// The devices with two or more queue IRQs among `irqs`, each added up.
    devices: Vec<JsonDevice<'a>>,
}

#[derive(Serialize)]
struct JsonDevice<'a> {
    device: String,
    irqs: Vec<Cow<'a, str>>,
    total_rate: Option<f64>,
    rates: CpuMap<'a>,
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
struct JsonBusy {
    cpu: u32,
    irq: f64,
    softirq: f64,
}

#[derive(Serialize)]
struct JsonIrq<'a> {
    irq: Cow<'a, str>,
    description: Cow<'a, str>,
    change: RowChange,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<Cow<'a, str>>,
    total_rate: Option<f64>,
    rates: CpuMap<'a>,
    affinity: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    node: Option<u32>,
}

#[derive(Serialize)]
struct JsonImbalance<'a> {
    cpu: u32,
    /// `device`, or the softirq's name.
    load: Cow<'a, str>,
    share: f64,
    ratio: f64,
    allowed_cpus: usize,
    top: Vec<Cow<'a, str>>,
    fix: &'static str,
    message: String,
}

/// `{"cpu id": rate}` over the shown columns, serialized straight from the rates (no map is
/// built); with `skip_zero`, zero cells are left out.
struct CpuMap<'a> {
    cpus: &'a [u32],
    cols: &'a [usize],
    values: Values<'a>,
}

/// The values of a [`CpuMap`].
enum Values<'a> {
    /// One per column, zeros written.
    Dense(&'a [Option<f64>]),
    /// A row's rates: the zero cells are left out.
    Sparse(&'a CellRates),
}

impl Serialize for CpuMap<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let mut m = ser.serialize_map(None)?;
        match self.values {
            Values::Dense(values) => {
                for &j in self.cols {
                    if let Some(v) = values.get(j).copied().flatten() {
                        m.serialize_entry(&self.cpus[j], &round2(v))?;
                    }
                }
            }
            Values::Sparse(cells) => {
                // `cols` is in increasing order, as the cells
                let all = self.cols.len() == self.cpus.len();
                for (j, v) in cells.nonzero() {
                    if v != 0.0 && (all || self.cols.binary_search(&j).is_ok()) {
                        m.serialize_entry(&self.cpus[j], &round2(v))?;
                    }
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
        RowRole::Member(g) => Some(clean(s.snap.row(g).label)),
        _ => None,
    };
    JsonIrq {
        irq: clean(r.label),
        description: clean(r.desc),
        change: ir.change,
        group,
        total_rate: row_rate(ir, r.kind, &v.cols, all_cols).and_then(round2),
        rates: CpuMap {
            cpus: &s.snap.cpus,
            cols: &v.cols,
            values: Values::Sparse(&ir.per_cpu),
        },
        affinity: s.affinity.get(k).and_then(|a| a.as_deref()).map(clean),
        node: s.irq_node.get(k).copied().flatten(),
    }
}

/// One JSON object on one line.
pub fn write_json(out: &mut dyn Write, s: &Sample, opts: &ViewOpts) -> io::Result<()> {
    let v = View::build(s.snap, s.rates, opts);
    let all_cols = opts.cpus.is_none();
    let groups: Vec<DeviceGroup> = group_by_device(s.snap, s.rates, &v)
        .into_iter()
        .filter_map(|l| match l {
            Line::Device(g) => Some(g),
            Line::Irq(_) => None,
        })
        .collect();
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
            values: Values::Dense(&s.rates.cpu_totals),
        },
        total_rate: round2(v.total).unwrap_or(0.0),
        resets: s
            .rates
            .resets()
            .map(|k| clean(s.snap.row(s.rates.irqs[k].row).label))
            .collect(),
        imbalance: s.imbalance.map(|i| JsonImbalance {
            cpu: i.cpu,
            load: match &i.load {
                Load::Device => Cow::Borrowed("device"),
                Load::Softirq(name) => clean(name),
            },
            share: (i.share * 1000.0).round() / 1000.0,
            ratio: (i.ratio * 10.0).round() / 10.0,
            allowed_cpus: i.allowed,
            top: i.top.iter().map(|t| clean(t)).collect(),
            fix: i.fix(),
            message: clean(&i.to_string()).into_owned(),
        }),
        numa_nodes: s
            .nodes
            .nodes
            .iter()
            .filter(|_| s.nodes.is_numa())
            .map(|(n, c)| (*n, crate::common::units::format_cpu_list(c)))
            .collect(),
        numa_warnings: s
            .numa
            .iter()
            .map(|m| clean(&m.to_string()).into_owned())
            .collect(),
        devices: groups
            .iter()
            .map(|g| JsonDevice {
                device: clean(&g.name).into_owned(),
                irqs: g
                    .members
                    .iter()
                    .map(|&k| clean(s.snap.row(s.rates.irqs[k].row).label))
                    .collect(),
                total_rate: device_rate(g, &v.cols, all_cols).and_then(round2),
                rates: CpuMap {
                    cpus: &s.snap.cpus,
                    cols: &v.cols,
                    values: Values::Sparse(&g.per_cpu),
                },
            })
            .collect(),
        busy_cpus: (!s.cpu_time.is_empty()).then(|| {
            let r = |v: f64| (v * 100.0).round() / 100.0;
            busy_cpus(s.cpu_time)
                .into_iter()
                .filter(|(j, _)| v.cols.binary_search(j).is_ok())
                .map(|(j, t)| JsonBusy {
                    cpu: s.snap.cpus[j],
                    irq: r(t.irq),
                    softirq: r(t.softirq),
                })
                .collect()
        }),
        stat_resets: s.stat_resets,
        cpu_time: (!s.cpu_time.is_empty()).then(|| CpuTimes {
            cpus: &s.snap.cpus,
            cols: &v.cols,
            times: s.cpu_time,
        }),
    };
    crate::format::json::write_line(out, &doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::itop::judge::balance::imbalance;
    use crate::itop::model::rates::rates;

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
            stat_resets: &[],
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
