//! Batch output: a plain-text table or one JSON object per sample.

use std::fmt::Write as _;

use crate::domain::interrupts::{rfc3339_utc, Imbalance, Rates, RowKind, Snapshot};
use crate::output::table::{Align, Table};
use crate::sys::interrupts::Stamp;

use super::view::{fmt_rate, row_rate, View, ViewOpts};

/// Everything a printer needs about one sample.
pub struct Sample<'a> {
    pub snap: &'a Snapshot,
    pub rates: &'a Rates,
    pub stamp: Stamp,
    /// Affinity per `rates.irqs` entry.
    pub affinity: &'a [Option<String>],
    pub imbalance: Option<&'a Imbalance>,
    /// `interrupts` or `softirqs`.
    pub source: &'static str,
}

/// Plain text: a header line, the table, the imbalance call-out, a blank line.
pub fn write_text(out: &mut String, s: &Sample, opts: &ViewOpts) {
    let v = View::build(s.snap, s.rates, opts);
    let _ = writeln!(
        out,
        "{}  {}  interval {:.2} s  {} CPUs  total {} /s",
        rfc3339_utc(s.stamp.wall.0, s.stamp.wall.1),
        s.source,
        s.rates.elapsed,
        v.cols.len(),
        fmt_rate(Some(v.total))
    );
    let mut headers: Vec<(String, Align)> = vec![("IRQ".into(), Align::Right)];
    if v.per_cpu {
        headers.extend(
            v.cols
                .iter()
                .map(|&j| (format!("CPU{}", s.snap.cpus[j]), Align::Right)),
        );
    }
    headers.push(("TOTAL".into(), Align::Right));
    let softirq = s.source == "softirqs";
    if !softirq {
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
                let cell = if r.kind == RowKind::PerCpu {
                    fmt_rate(ir.per_cpu.get(j).copied().flatten())
                } else {
                    String::new()
                };
                row.push(cell);
            }
        }
        row.push(fmt_rate(row_rate(ir, r.kind, &v.cols, opts.cpus.is_none())));
        if !softirq {
            row.push(s.affinity.get(k).cloned().flatten().unwrap_or_default());
            row.push(r.desc.to_string());
        }
        t.push(row);
    }
    let mut buf = Vec::new();
    // rendering into a Vec cannot fail
    let _ = t.render(&mut buf);
    out.push_str(&String::from_utf8_lossy(&buf));
    if let Some(i) = s.imbalance {
        let _ = writeln!(out, "{i}");
    }
    out.push('\n');
}

/// One JSON object on one line:
/// `{"timestamp":..,"elapsed_s":..,"cpus":[..],"irqs":[{"irq","description","total_rate",
/// "rates":{"cpu":rate},"affinity"}],"cpu_totals":{..},"imbalance":..}`.
pub fn write_json(out: &mut String, s: &Sample, opts: &ViewOpts) {
    let v = View::build(s.snap, s.rates, opts);
    let all_cols = opts.cpus.is_none();
    out.push_str("{\"timestamp\":\"");
    out.push_str(&rfc3339_utc(s.stamp.wall.0, s.stamp.wall.1));
    out.push_str("\",\"source\":\"");
    out.push_str(s.source);
    out.push_str("\",\"elapsed_s\":");
    push_num(out, s.rates.elapsed, 1000.0);
    out.push_str(",\"cpus\":[");
    for (n, &j) in v.cols.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        push_u64(out, u64::from(s.snap.cpus[j]));
    }
    out.push_str("],\"irqs\":[");
    // `"17":` for every selected CPU, built once per sample
    let keys: Vec<String> = v
        .cols
        .iter()
        .map(|&j| format!("\"{}\":", s.snap.cpus[j]))
        .collect();
    for (n, &k) in v.rows.iter().enumerate() {
        let ir = &s.rates.irqs[k];
        let r = s.snap.row(ir.row);
        if n > 0 {
            out.push(',');
        }
        out.push_str("{\"irq\":");
        push_str(out, r.label);
        out.push_str(",\"description\":");
        push_str(out, r.desc);
        out.push_str(",\"total_rate\":");
        match row_rate(ir, r.kind, &v.cols, all_cols) {
            Some(t) => push_num(out, t, 100.0),
            None => out.push_str("null"),
        }
        out.push_str(",\"rates\":{");
        if r.kind == RowKind::PerCpu {
            let mut first = true;
            for (&j, key) in v.cols.iter().zip(&keys) {
                if let Some(rate) = ir.per_cpu.get(j).copied().flatten() {
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    out.push_str(key);
                    push_num(out, rate, 100.0);
                }
            }
        }
        out.push_str("},\"affinity\":");
        match s.affinity.get(k).and_then(|a| a.as_deref()) {
            Some(a) => push_str(out, a),
            None => out.push_str("null"),
        }
        out.push('}');
    }
    out.push_str("],\"cpu_totals\":{");
    let mut first = true;
    for &j in &v.cols {
        if let Some(t) = s.rates.cpu_totals.get(j).copied().flatten() {
            if !first {
                out.push(',');
            }
            first = false;
            out.push('"');
            push_u64(out, u64::from(s.snap.cpus[j]));
            out.push_str("\":");
            push_num(out, t, 100.0);
        }
    }
    out.push_str("},\"total_rate\":");
    push_num(out, v.total, 100.0);
    out.push_str(",\"imbalance\":");
    match s.imbalance {
        Some(i) => {
            let _ = write!(out, "{{\"cpu\":{},\"share\":", i.cpu);
            push_num(out, i.share, 1000.0);
            out.push_str(",\"top\":[");
            for (n, t) in i.top.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                push_str(out, t);
            }
            out.push_str("],\"message\":");
            push_str(out, &i.to_string());
            out.push('}');
        }
        None => out.push_str("null"),
    }
    out.push_str("}\n");
}

/// A decimal integer, without going through `fmt`.
fn push_u64(out: &mut String, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    // only ASCII digits were written
    out.push_str(std::str::from_utf8(&buf[i..]).unwrap_or("0"));
}

/// A non-negative number rounded to 1/`scale` (100 -> 2 decimals), always with a fraction
/// (`61.0`, `2.25`) so JSON readers see floats. Non-finite values become `null`.
fn push_num(out: &mut String, v: f64, scale: f64) {
    if v == 0.0 {
        out.push_str("0.0");
        return;
    }
    if !v.is_finite() {
        out.push_str("null");
        return;
    }
    if !(0.0..1e15).contains(&v) {
        let _ = write!(out, "{v:?}");
        return;
    }
    let scaled = (v * scale).round() as u64;
    let s = scale as u64;
    push_u64(out, scaled / s);
    out.push('.');
    let mut frac = scaled % s;
    if frac == 0 {
        out.push('0');
        return;
    }
    let mut digits = 0;
    let mut d = s;
    while d > 1 {
        d /= 10;
        digits += 1;
    }
    let mut buf = [b'0'; 6];
    for k in (0..digits).rev() {
        buf[k] = b'0' + (frac % 10) as u8;
        frac /= 10;
    }
    let mut end = digits;
    while end > 1 && buf[end - 1] == b'0' {
        end -= 1;
    }
    out.push_str(std::str::from_utf8(&buf[..end]).unwrap_or("0"));
}

/// A JSON string literal.
fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::interrupts::{imbalance, rates};

    #[test]
    fn numbers() {
        let mut s = String::new();
        push_num(&mut s, 61.0, 100.0);
        s.push(' ');
        push_num(&mut s, 2.255, 100.0);
        s.push(' ');
        push_num(&mut s, 0.5, 1000.0);
        s.push(' ');
        push_num(&mut s, f64::NAN, 100.0);
        s.push(' ');
        push_u64(&mut s, 0);
        s.push(' ');
        push_u64(&mut s, 18_446_744_073_709_551_615);
        assert_eq!(s, "61.0 2.26 0.5 null 0 18446744073709551615");
        let mut s = String::new();
        push_str(&mut s, "a\"b\\c\u{1}");
        assert_eq!(s, "\"a\\\"b\\\\c\\u0001\"");
    }

    #[test]
    fn json_sample_has_the_documented_shape() {
        let a = Snapshot::parse(
            "  CPU0 CPU2\n 30: 0 0 PCI-MSI eth0\nLOC: 0 0 Local timer interrupts\nERR: 0\n",
        )
        .unwrap();
        let b = Snapshot::parse("  CPU0 CPU2\n 30: 0 100 PCI-MSI eth0\nLOC: 61 62 Local timer interrupts\nERR: 0\n 31: 5 5 PCI-MSI new\n").unwrap();
        let r = rates(&a, &b, 1.0);
        let imb = imbalance(&b, &r, 0.5, 1.0);
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
            source: "interrupts",
        };
        let mut out = String::new();
        write_json(&mut out, &s, &ViewOpts::default());
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
        assert_eq!(v["imbalance"]["cpu"], 2);
        let eth = v["irqs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["irq"] == "30")
            .unwrap();
        assert_eq!(eth["affinity"], "2");

        let mut text = String::new();
        write_text(&mut text, &s, &ViewOpts::default());
        assert!(text.contains("CPU0"), "{text}");
        assert!(
            text.contains("CPU 2 takes 100 % of device interrupts (eth0)"),
            "{text}"
        );
    }
}
