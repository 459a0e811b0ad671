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
//!   "devices": [{"device": "eth0" (netdev/nvme name from sysfs, else from the IRQ names),
//!                "kind": "net"|"nvme"|"other", "pci": address|null, "node": n|null,
//!                "affinity": "cpu list"|null (the CPUs its IRQs may use), "irqs": [labels],
//!                "total_rate": f64|null, "rates": {"cpu id": f64}}] (every device with two or
//!                more queue IRQs among the rows before --top, added up; zero cells omitted),
//!   "numa_nodes": {"node": "cpu list"} (empty on one node), "numa_warnings": [messages],
//!   "numa": [{"device", "node", "remote_share", "rate", "local_cpus", "irqs", "commands",
//!             "message"}] (devices handled off their node while its CPUs are online; never
//!             for kernel-managed queues),
//!   irqs[].node: /proc/irq/N/node when known,
//!   "went_offline": [ids] (CPUs of the older snapshot missing from the newer one),
//!   "hot_cpus": [{"cpu", "load": "device"|"NET_RX"|"NET_TX"|"BLOCK",
//!                 "trigger": "rate"|"handler_time"|"both", "rate", "share": 0..1 of the
//!                 machine's, "ratio": over the machine's mean per CPU, "cpus": online CPUs,
//!                 "handler_time": {"cpu", "irq", "softirq"}|null,
//!                 "culprits": [{"device", "kind", "pci", "irqs", "rate" (on that CPU),
//!                               "placement": "pinned"|"allows_others"|"unknown",
//!                               "allowed_cpus" (allows_others), "managed",
//!                               "remedy": {"kind": "rps"|"rps_in_place"|"spread"|
//!                                          "more_queues"|"managed"|"one_line",
//!                                          "netdev", "cpus", "moves": [{"irq", "cpu"}],
//!                                          "commands": [shell], "message"}}],
//!                 "message"}] (worst first), "imbalance": the first of hot_cpus|null}`.
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

pub(crate) mod prom;
pub(crate) mod words;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use crate::common::escape::clean;
use crate::format::table::Align;
#[cfg(doc)]
use crate::format::table::Table;
use crate::itop::judge::hot::{Hotspot, Load, Placement, Remedy, Trigger};
use crate::itop::judge::numa::{CpuNodes, NumaMismatch};
use crate::itop::judge::view::{row_rate, DeviceGroup, Line, View, ViewOpts, MEMBER_MARK};
use crate::itop::judge::Report;
use crate::itop::model::cpustat::{busy_cpus, HandlerTime};
use crate::itop::model::devices::Facts;
use crate::itop::model::interrupts::{rfc3339_utc, RowKind, RowRole, Snapshot, Stamp};
use crate::itop::model::rates::{CellRates, IrqRate, Rates, RowChange};

/// The widest AFFINITY cell; longer lists are cut at a comma and end in `…`.
const AFFINITY_MAX: usize = 24;

/// Everything a printer needs about one sample.
pub struct Sample<'a> {
    pub snap: &'a Snapshot,
    pub rates: &'a Rates,
    pub stamp: Stamp,
    /// `interrupts` or `softirqs`.
    pub source: Source,
    /// Affinities and devices per `rates.irqs` entry (empty when unknown).
    pub facts: &'a Facts,
    /// The NUMA nodes' CPUs (empty when unknown).
    pub nodes: &'a CpuNodes,
    /// The judge's verdicts on this interval.
    pub report: &'a Report,
}

pub use crate::itop::model::Source;

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
        // most cells of a big box: no formatting machinery for them
        Some(0.0) => s.push_str("0.0"),
        Some(v) if !v.is_finite() => s.push('-'),
        Some(v) if v < 100.0 => {
            let _ = write!(s, "{v:.1}");
        }
        Some(v) if v < 1e6 => {
            // as `{v:.0}` (ties to even), without the formatting machinery: a dense
            // 1152-CPU table has 1.2 million of them
            push_u64(s, v.round_ties_even() as u64);
        }
        Some(v) => {
            let _ = write!(s, "{:.2}M", v / 1e6);
        }
    }
}

/// The decimal digits of `n`.
fn push_u64(s: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // ASCII digits
    s.push_str(std::str::from_utf8(&digits[i..]).unwrap_or_default());
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

/// One glyph per group of `group` consecutive CPU ids: the hottest CPU of the group, on a
/// linear scale against the hottest of all (so a CPU at 58 times the others stands out as
/// `█` among `▁`; any load at all shows at least `▁`); [`OFFLINE`] when no CPU of the group
/// has a value. `values[id]`: the load of CPU `id`.
pub fn heat_glyphs(values: &[Option<f64>], group: usize) -> String {
    let max = values.iter().flatten().copied().fold(0.0, f64::max);
    values
        .chunks(group.max(1))
        .map(|g| match g.iter().flatten().copied().reduce(f64::max) {
            None => OFFLINE,
            Some(v) if v <= 0.0 || max <= 0.0 => HEAT[0],
            Some(v) => {
                let level = (v / max * 8.0).ceil().clamp(1.0, 8.0);
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
        .report
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

/// Each CPU's share of the shown CPUs' interrupts, per column of `cols` (`None`: unknown).
pub fn cpu_shares(rates: &Rates, cols: &[usize]) -> Vec<Option<f64>> {
    let sum: f64 = cols
        .iter()
        .filter_map(|&j| rates.cpu_totals.get(j).copied().flatten())
        .sum();
    cols.iter()
        .map(|&j| {
            let v = rates.cpu_totals.get(j).copied().flatten()?;
            Some(if sum > 0.0 { v / sum } else { 0.0 })
        })
        .collect()
}

/// Without per-CPU columns: the busiest CPUs, their rate and share (`CPU 0 208k/s 49 %`).
pub fn busiest_cpus_line(s: &Sample, v: &View, n: usize) -> Option<String> {
    let shares = cpu_shares(s.rates, &v.cols);
    let mut by: Vec<(usize, f64, f64)> = v
        .cols
        .iter()
        .zip(&shares)
        .filter_map(|(&j, sh)| Some((j, s.rates.cpu_totals.get(j).copied().flatten()?, (*sh)?)))
        .collect();
    if by.is_empty() {
        return None;
    }
    by.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let parts: Vec<String> = by
        .iter()
        .take(n)
        .map(|&(j, r, sh)| {
            format!(
                "CPU{} {}/s {:.1} %",
                s.snap.cpus[j],
                words::rate_words(r),
                sh * 100.0
            )
        })
        .collect();
    Some(format!(
        "busiest CPUs (share of all interrupts): {}",
        parts.join(", ")
    ))
}

/// Plain text: a header line, the table, the findings (each with the commands of its
/// remedy), the notes, a blank line.
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
    if !v.per_cpu {
        if let Some(line) = busiest_cpus_line(s, &v, 5) {
            writeln!(out, "{line}")?;
        }
    }
    write_table(out, s, opts, &v)?;
    for h in &s.report.hot {
        write_hotspot(out, h)?;
    }
    for m in s.report.numa.iter().take(3) {
        writeln!(out, "{}", clean(&words::numa_words(m)))?;
        for c in words::numa_commands(m) {
            writeln!(out, "  fix: {}", clean(&c))?;
        }
    }
    if !s.report.went_offline.is_empty() {
        writeln!(
            out,
            "note: {}",
            words::offline_words(&s.report.went_offline)
        )?;
    }
    if let Some(n) = reset_note(s.snap, s.rates) {
        writeln!(out, "{n}")?;
    }
    if !s.report.stat_resets.is_empty() {
        writeln!(
            out,
            "note: {}",
            words::stat_reset_words(&s.report.stat_resets)
        )?;
    }
    writeln!(out)
}

/// A hot CPU's verdict line, then one `fix:` line per command of its remedies.
fn write_hotspot(out: &mut dyn Write, h: &Hotspot) -> io::Result<()> {
    writeln!(out, "{}", clean(&words::hotspot_words(h)))?;
    for c in &h.culprits {
        for cmd in words::remedy_commands(c) {
            writeln!(out, "  fix: {}", clean(&cmd))?;
        }
    }
    Ok(())
}

/// The text table, one row built at a time, twice (the column widths, then the lines), so
/// a 100,000-CPU `-a` table is never held whole, and its CPU cells are formatted into one
/// scratch buffer, never allocated; laid out as [`Table`] lays it out (columns two spaces
/// apart, numbers right-aligned, no trailing blanks).
fn write_table(out: &mut dyn Write, s: &Sample, opts: &ViewOpts, v: &View) -> io::Result<()> {
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
    let lines = v.lines(s.snap, s.rates, s.facts, opts.by_device);
    let extra = if v.per_cpu { 2 } else { 0 };
    let nrows = lines.len() + extra;
    // a row: its IRQ cell, what its CPU cells show, its cells after the CPU columns
    let row_at = |r: usize| -> (String, CpuCells, Vec<String>) {
        match lines.get(r) {
            Some(Line::Irq(k)) => {
                let ir = &s.rates.irqs[*k];
                let cells = match s.snap.row(ir.row).kind {
                    RowKind::PerCpu => CpuCells::Rates(&ir.per_cpu),
                    _ => CpuCells::Blank,
                };
                let (head, tail) = text_row(s, opts, v, *k);
                (head, cells, tail)
            }
            Some(Line::Device(g)) => {
                let (head, tail) = device_row(s, opts, v, g);
                (head, CpuCells::Rates(&g.per_cpu), tail)
            }
            None => {
                let which = r - lines.len();
                let (head, tail) = cpu_row(s, v, which);
                let cells = if which == 0 {
                    CpuCells::Sum
                } else {
                    CpuCells::Share
                };
                (head, cells, tail)
            }
        }
    };
    let shares = if v.per_cpu {
        cpu_shares(s.rates, &v.cols)
    } else {
        Vec::new()
    };
    let ncpu = if v.per_cpu { v.cols.len() } else { 0 };
    let cpu_cell = |cells: &CpuCells, c: usize, buf: &mut String| {
        buf.clear();
        let j = v.cols[c];
        match cells {
            CpuCells::Rates(r) => push_rate(buf, r.get(j)),
            CpuCells::Blank => {}
            CpuCells::Sum => push_rate(buf, s.rates.cpu_totals.get(j).copied().flatten()),
            CpuCells::Share => match shares[c] {
                Some(x) => {
                    let _ = write!(buf, "{:.1}", x * 100.0);
                }
                None => buf.push('-'),
            },
        }
    };
    let mut widths: Vec<usize> = headers.iter().map(|h| h.0.chars().count()).collect();
    let mut buf = String::new();
    for r in 0..nrows {
        let (head, cells, tail) = row_at(r);
        widths[0] = widths[0].max(head.chars().count());
        for c in 0..ncpu {
            cpu_cell(&cells, c, &mut buf);
            widths[1 + c] = widths[1 + c].max(buf.len());
        }
        for (i, cell) in tail.iter().enumerate() {
            let w = &mut widths[1 + ncpu + i];
            *w = (*w).max(cell.chars().count());
        }
    }
    let align: Vec<Align> = headers.iter().map(|h| h.1).collect();
    let ncols = headers.len();
    let mut line = String::new();
    // one cell of column `i` (of a row of `len` cells) into the line
    let put = |line: &mut String, i: usize, cell: &str, len: usize| {
        if i > 0 {
            line.push_str("  ");
        }
        let pad = widths[i].saturating_sub(cell.chars().count());
        if align[i] == Align::Right {
            line.extend(std::iter::repeat_n(' ', pad));
            line.push_str(cell);
        } else {
            line.push_str(cell);
            if i + 1 < len {
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
    };
    for (i, (h, _)) in headers.iter().enumerate() {
        put(&mut line, i, h, ncols);
    }
    writeln!(out, "{}", line.trim_end())?;
    for r in 0..nrows {
        line.clear();
        let (head, cells, tail) = row_at(r);
        let len = 1 + ncpu + tail.len();
        put(&mut line, 0, &head, len);
        for c in 0..ncpu {
            cpu_cell(&cells, c, &mut buf);
            put(&mut line, 1 + c, &buf, len);
        }
        for (i, cell) in tail.iter().enumerate() {
            put(&mut line, 1 + ncpu + i, cell, len);
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// What a table row shows in its CPU columns.
enum CpuCells<'a> {
    /// A row's (or a device's) rates.
    Rates(&'a CellRates),
    /// Nothing (a row without per-CPU counts).
    Blank,
    /// Each CPU's total.
    Sum,
    /// Each CPU's share of all.
    Share,
}

/// Per-CPU columns: row 0 each CPU's total (SUM), row 1 its share of them all (%), as
/// irqtop's %delta row: its IRQ cell and its cells after the CPU columns (the CPU cells are
/// drawn by [`write_table`]).
fn cpu_row(s: &Sample, v: &View, which: usize) -> (String, Vec<String>) {
    let ntail = usize::from(s.source != Source::Softirqs) * (2 + usize::from(s.nodes.is_numa()));
    let mut tail = Vec::with_capacity(1 + ntail);
    if which == 0 {
        let all: f64 = v
            .cols
            .iter()
            .filter_map(|&j| s.rates.cpu_totals.get(j).copied().flatten())
            .sum();
        tail.push(fmt_rate(Some(all)));
        tail.resize(1 + ntail, String::new());
        ("SUM".into(), tail)
    } else {
        tail.push("100.0".into());
        tail.resize(1 + ntail, String::new());
        ("%".into(), tail)
    }
}

/// A device's queue IRQs added up (`--by-device`): `+8` in the IRQ column for 8 IRQs.
fn device_row(s: &Sample, opts: &ViewOpts, v: &View, g: &DeviceGroup) -> (String, Vec<String>) {
    let head = format!("+{}", g.members.len());
    let mut row = vec![fmt_rate(device_rate(g, &v.cols, opts.cpus.is_none()))];
    if s.source != Source::Softirqs {
        if s.nodes.is_numa() {
            row.push(g.node.map(|n| n.to_string()).unwrap_or_default());
        }
        let aff = crate::common::units::format_cpu_list(&g.affinity);
        row.push(cut_list(&aff, AFFINITY_MAX).into_owned());
        row.push(format!("{} ({} IRQs)", clean(&g.name), g.members.len()));
    }
    (head, row)
}

/// A device's rate over the shown columns.
fn device_rate(g: &DeviceGroup, cols: &[usize], all_cols: bool) -> Option<f64> {
    if all_cols {
        return g.total;
    }
    g.total?;
    Some(cols.iter().filter_map(|&j| g.per_cpu.get(j)).sum())
}

/// One IRQ's line of the text table: its IRQ cell and its cells after the CPU columns (the
/// CPU cells are drawn by [`write_table`]).
fn text_row(s: &Sample, opts: &ViewOpts, v: &View, k: usize) -> (String, Vec<String>) {
    let softirq = s.source == Source::Softirqs;
    let numa = s.nodes.is_numa();
    let ir = &s.rates.irqs[k];
    let r = s.snap.row(ir.row);
    let head = r.label.to_string();
    let mut row = vec![fmt_rate(row_rate(ir, r.kind, &v.cols, opts.cpus.is_none()))];
    if !softirq {
        if numa {
            let node = s.facts.get(k).node;
            row.push(node.map(|n| n.to_string()).unwrap_or_default());
        }
        let aff = s.facts.get(k).shown.as_deref().unwrap_or("");
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
    (head, row)
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
    /// The worst overloaded CPU (the first of `hot_cpus`), or null.
    imbalance: Option<JsonHot>,
    /// Every overloaded CPU, worst first.
    hot_cpus: Vec<JsonHot>,
    cpu_time: Option<CpuTimes<'a>>,
    /// CPUs at least [`crate::itop::model::cpustat::BUSY_PERCENT`] % of their time in handlers, busiest first (`null`
    /// without /proc/stat).
    busy_cpus: Option<Vec<JsonBusy>>,
    stat_resets: &'a [u32],
    /// NUMA node -> its CPUs (`"0-11"`); empty when unknown or a single node.
    numa_nodes: BTreeMap<u32, String>,
    numa_warnings: Vec<String>,
    /// Devices served off their node, as fields.
    numa: Vec<JsonNuma>,
    /// CPUs in the older snapshot missing from the newer one.
    went_offline: &'a [u32],
    /// The devices with two or more queue IRQs among the rows (before `--top`), added up.
    devices: Vec<JsonDevice<'a>>,
}

#[derive(Serialize)]
struct JsonDevice<'a> {
    device: String,
    kind: &'static str,
    pci: Option<String>,
    node: Option<u32>,
    affinity: Option<String>,
    irqs: Vec<Cow<'a, str>>,
    total_rate: Option<f64>,
    rates: CpuMap<'a>,
}

#[derive(Serialize)]
struct JsonNuma {
    device: String,
    node: u32,
    remote_share: f64,
    rate: f64,
    local_cpus: String,
    irqs: Vec<String>,
    commands: Vec<String>,
    message: String,
}

#[derive(Serialize)]
struct JsonHot {
    cpu: u32,
    /// `device`, or the softirq's name.
    load: &'static str,
    trigger: Trigger,
    rate: f64,
    share: f64,
    /// Its rate over the machine's mean per CPU.
    ratio: f64,
    /// The online CPUs the mean is over.
    cpus: usize,
    handler_time: Option<JsonBusy>,
    culprits: Vec<JsonCulprit>,
    message: String,
}

#[derive(Serialize)]
struct JsonCulprit {
    device: String,
    kind: &'static str,
    pci: Option<String>,
    irqs: Vec<String>,
    rate: f64,
    /// `pinned`, `allows_others` or `unknown`.
    placement: &'static str,
    /// With `allows_others`: how many CPUs its affinity allows.
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_cpus: Option<usize>,
    managed: bool,
    remedy: JsonRemedy,
}

#[derive(Serialize)]
struct JsonRemedy {
    /// `rps`, `rps_in_place`, `spread`, `more_queues`, `managed`, `one_line`.
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    netdev: Option<String>,
    /// CPUs for RPS (a list), when it applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    cpus: Option<String>,
    /// Per IRQ to move: the CPU to give it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    moves: Vec<JsonMove>,
    commands: Vec<String>,
    message: String,
}

#[derive(Serialize)]
struct JsonMove {
    irq: String,
    cpu: u32,
}

fn r2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn json_hot(h: &Hotspot) -> JsonHot {
    JsonHot {
        cpu: h.cpu,
        load: match h.load {
            Load::Device => "device",
            Load::Softirq(k) => k.label(),
        },
        trigger: h.trigger,
        rate: r2(h.rate),
        share: (h.share * 1000.0).round() / 1000.0,
        ratio: (h.ratio * 10.0).round() / 10.0,
        cpus: h.cpus,
        handler_time: h.handlers.map(|t| JsonBusy {
            cpu: h.cpu,
            irq: r2(t.irq),
            softirq: r2(t.softirq),
        }),
        culprits: h
            .culprits
            .iter()
            .map(|c| JsonCulprit {
                device: clean(&c.device).into_owned(),
                kind: words::kind_name(c.kind),
                pci: c.pci.as_deref().map(|p| clean(p).into_owned()),
                irqs: c.irqs.clone(),
                rate: r2(c.rate),
                placement: match c.placement {
                    Placement::Pinned => "pinned",
                    Placement::AllowsOthers(_) => "allows_others",
                    Placement::Unknown => "unknown",
                },
                allowed_cpus: match c.placement {
                    Placement::AllowsOthers(n) => Some(n),
                    _ => None,
                },
                managed: c.managed,
                remedy: JsonRemedy {
                    kind: match &c.remedy {
                        Remedy::Rps { .. } => "rps",
                        Remedy::RpsInPlace { .. } => "rps_in_place",
                        Remedy::Spread { .. } => "spread",
                        Remedy::MoreQueues { .. } => "more_queues",
                        Remedy::Managed => "managed",
                        Remedy::OneLine { .. } => "one_line",
                    },
                    netdev: match &c.remedy {
                        Remedy::Rps { netdev, .. }
                        | Remedy::RpsInPlace { netdev, .. }
                        | Remedy::MoreQueues { netdev, .. } => Some(clean(netdev).into_owned()),
                        _ => None,
                    },
                    cpus: match &c.remedy {
                        Remedy::Rps { cpus, .. } | Remedy::RpsInPlace { cpus, .. } => {
                            Some(crate::common::units::format_cpu_list(cpus))
                        }
                        _ => None,
                    },
                    moves: match &c.remedy {
                        Remedy::Spread { moves } => moves
                            .iter()
                            .map(|(irq, cpu)| JsonMove {
                                irq: irq.clone(),
                                cpu: *cpu,
                            })
                            .collect(),
                        _ => Vec::new(),
                    },
                    commands: words::remedy_commands(c)
                        .iter()
                        .map(|x| clean(x).into_owned())
                        .collect(),
                    message: clean(&words::remedy_words(c)).into_owned(),
                },
            })
            .collect(),
        message: clean(&words::hotspot_words(h)).into_owned(),
    }
}

fn json_numa(m: &NumaMismatch) -> JsonNuma {
    JsonNuma {
        device: clean(&m.device).into_owned(),
        node: m.node,
        remote_share: (m.remote * 1000.0).round() / 1000.0,
        rate: r2(m.rate),
        local_cpus: crate::common::units::format_cpu_list(&m.local_cpus),
        irqs: m.irqs.clone(),
        commands: words::numa_commands(m)
            .iter()
            .map(|x| clean(x).into_owned())
            .collect(),
        message: clean(&words::numa_words(m)).into_owned(),
    }
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
        affinity: s.facts.get(k).shown.as_deref().map(clean),
        node: s.facts.get(k).node,
    }
}

/// One JSON object on one line.
pub fn write_json(out: &mut dyn Write, s: &Sample, opts: &ViewOpts) -> io::Result<()> {
    let v = View::build(s.snap, s.rates, opts);
    let all_cols = opts.cpus.is_none();
    let groups: Vec<DeviceGroup> = v.devices(s.snap, s.rates, s.facts);
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
        imbalance: s.report.hot.first().map(json_hot),
        hot_cpus: s.report.hot.iter().map(json_hot).collect(),
        numa_nodes: s
            .nodes
            .nodes
            .iter()
            .filter(|_| s.nodes.is_numa())
            .map(|(n, c)| (*n, crate::common::units::format_cpu_list(c)))
            .collect(),
        numa_warnings: s
            .report
            .numa
            .iter()
            .map(|m| clean(&words::numa_words(m)).into_owned())
            .collect(),
        numa: s.report.numa.iter().map(json_numa).collect(),
        went_offline: &s.report.went_offline,
        devices: groups
            .iter()
            .map(|g| JsonDevice {
                device: clean(&g.name).into_owned(),
                kind: words::kind_name(g.kind),
                pci: g.pci.as_deref().map(|p| clean(p).into_owned()),
                node: g.node,
                affinity: (!g.affinity.is_empty())
                    .then(|| crate::common::units::format_cpu_list(&g.affinity)),
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
        busy_cpus: (!s.report.cpu_time.is_empty()).then(|| {
            let r = |v: f64| (v * 100.0).round() / 100.0;
            busy_cpus(&s.report.cpu_time)
                .into_iter()
                .filter(|(j, _)| v.cols.binary_search(j).is_ok())
                .map(|(j, t)| JsonBusy {
                    cpu: s.snap.cpus[j],
                    irq: r(t.irq),
                    softirq: r(t.softirq),
                })
                .collect()
        }),
        stat_resets: &s.report.stat_resets,
        cpu_time: (!s.report.cpu_time.is_empty()).then(|| CpuTimes {
            cpus: &s.snap.cpus,
            cols: &v.cols,
            times: &s.report.cpu_time,
        }),
    };
    // a concrete buffer between serde and `out`: serde's many small writes are then plain
    // copies, not a dynamic call each (1.2 million cells on a busy 1152-CPU box)
    let mut buf = io::BufWriter::with_capacity(1 << 16, out);
    serde_json::to_writer(&mut buf, &doc).map_err(io::Error::other)?;
    buf.write_all(b"\n")?;
    buf.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::itop::model::rates::rates;

    #[test]
    fn heat_map_shows_every_cpu_offline_ones_apart() {
        // CPU 2 offline (no value); CPU 3 at 1 % of CPU 0 still shows, at the lowest level
        let v = [Some(10_000.0), Some(0.0), None, Some(100.0)];
        assert_eq!(heat_glyphs(&v, 1), "█ ·▁");
        assert_eq!(heat_glyphs(&v, 2), "█▁");
        // a CPU at 58x the others: the others are all at the lowest level
        let v: Vec<Option<f64>> = (0..24)
            .map(|c| Some(if c == 0 { 208_000.0 } else { 3_600.0 }))
            .collect();
        let g = heat_glyphs(&v, 1);
        assert_eq!(g, format!("█{}", "▁".repeat(23)));
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
        // the fast path rounds as `{:.0}` does, ties to even
        for v in [
            100.0, 100.5, 101.5, 999_999.4, 123_456.5, 4999.999, 250_000.5,
        ] {
            assert_eq!(fmt_rate(Some(v)), format!("{v:.0}"), "{v}");
        }
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
        let shown = |s: Option<&str>| crate::itop::model::devices::IrqInfo {
            shown: s.map(str::to_string),
            ..Default::default()
        };
        let facts = Facts {
            info: vec![
                shown(Some("2")),
                shown(None),
                shown(None),
                shown(Some("0-3")),
            ],
            devices: Vec::new(),
        };
        let nodes = CpuNodes::default();
        let report = crate::itop::judge::judge(&crate::itop::judge::Input {
            source: Source::Interrupts,
            prev_cpus: &a.cpus,
            snap: &b,
            rates: &r,
            facts: &facts,
            nodes: &nodes,
            prev_stat: None,
            stat: None,
        });
        let s = Sample {
            snap: &b,
            rates: &r,
            stamp: Stamp {
                mono: 1.0,
                wall: (0, 0),
            },
            source: Source::Interrupts,
            facts: &facts,
            nodes: &nodes,
            report: &report,
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
