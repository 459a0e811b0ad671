//! Drawing the TUI from the state: pure (no I/O, no clock).
//!
//! Numbers are never cut: a column is shown at its full width or not at all (the name column
//! gives way first, then AFFINITY, NODE, COUNT, MAX and CPU columns), and a number too wide
//! for its cell is shown with a k/M suffix ([`fit_number`]) or left out, never truncated.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Row, Table};
use ratatui::Frame;

use crate::itop::model::interrupts::{rfc3339_utc, RowKind};

use super::app::{App, HeatMode};
use crate::common::escape::clean;
use crate::itop::judge::view::{
    row_rate, DeviceGroup, Line as TableLine, AUTO_MAX_CPUS, MEMBER_MARK,
};
use crate::itop::render::{
    by_cpu_id, cpu_shares, cut_list, fmt_rate, heat_glyphs, heat_group, irq_name, Source, OFFLINE,
};

const CPU_W: u16 = 7;
const TOTAL_W: u16 = 8;
const MAX_W: u16 = 7;
const COUNT_W: u16 = 7;
const AFF_W: u16 = 9;
/// The NODE column (each IRQ's /proc/irq/N/node), on NUMA boxes.
const NODE_W: u16 = 4;
/// The narrowest NAME column worth showing.
const NAME_MIN: u16 = 8;
/// The most notice lines (findings), most important first.
const NOTICE_MAX: usize = 3;

/// Whether the table may have a NODE column: device interrupts on a box with several nodes.
fn node_column(app: &App) -> bool {
    app.source != Source::Softirqs && app.nodes.is_numa()
}

/// The heat map's glyph lines at most (a caption line comes on top).
const HEAT_LINES: usize = 8;

/// A number in at most `w` characters: as [`fmt_rate`] prints it when it fits, else whole
/// with a k, M or G suffix (rounded), else nothing: never a number cut to another value.
pub(crate) fn fit_number(v: Option<f64>, w: usize) -> String {
    let s = fmt_rate(v);
    if s.chars().count() <= w {
        return s;
    }
    let Some(v) = v.filter(|v| v.is_finite()) else {
        return String::new();
    };
    for (div, suffix) in [(1e3, "k"), (1e6, "M"), (1e9, "G"), (1e12, "T")] {
        let x = v / div;
        if x < 1.0 {
            // `0M` for 24000 would be another number
            break;
        }
        for dec in [1usize, 0] {
            let t = format!("{x:.dec$}{suffix}");
            if t.chars().count() <= w && !(dec == 1 && x >= 100.0) {
                return t;
            }
        }
    }
    String::new()
}

/// A count (lifetime total) in at most `w` characters, as [`fit_number`].
fn fit_count(v: u64, w: usize) -> String {
    let s = v.to_string();
    if s.len() <= w {
        return s;
    }
    fit_number(Some(v as f64), w)
}

/// CPU ids the heat map covers (0 to the highest shown).
fn heat_ids(app: &App) -> usize {
    app.view
        .cols
        .iter()
        .map(|&j| app.cur.cpus[j] as usize + 1)
        .max()
        .unwrap_or(0)
}

/// Lines of the heat map (caption included) in `width` columns; 0 on small boxes.
pub(crate) fn heat_lines(app: &App, width: u16) -> u16 {
    let ids = heat_ids(app);
    if app.view.cols.len() <= AUTO_MAX_CPUS || width < 10 {
        return 0;
    }
    let per_line = usize::from(width - 6).max(1);
    let group = heat_group(ids, per_line, HEAT_LINES);
    (ids.div_ceil(group).div_ceil(per_line) + 1) as u16
}

/// The busiest-CPUs line (totals mode, with rates): shown or not.
fn cpu_line_shown(app: &App) -> bool {
    app.has_rates() && !app.per_cpu()
}

/// How many notice lines are drawn in a terminal of `area`.
fn notice_lines(app: &App, area: Rect, n: usize) -> u16 {
    let fixed = 1 + heat_lines(app, area.width) + u16::from(cpu_line_shown(app)) + 1 + 1;
    // keep at least three table rows (header included) when there is room for them
    let room = area.height.saturating_sub(fixed + 3);
    (n.min(NOTICE_MAX) as u16).min(room.max(u16::from(n > 0)))
}

/// Rows of the table that fit in a terminal of `height` lines.
pub(crate) fn table_rows(app: &App, area: Rect) -> usize {
    let n = notice_lines(app, area, app.notices().len());
    let fixed = 1 + heat_lines(app, area.width) + u16::from(cpu_line_shown(app)) + n + 1 + 1;
    usize::from(area.height.saturating_sub(fixed))
}

pub(crate) fn render(f: &mut Frame, app: &App) {
    let area = f.area();
    let heat = heat_lines(app, area.width);
    let notices = app.notices();
    let nl = notice_lines(app, area, notices.len());
    let [head, heat_area, cpu_area, notice_area, table_area, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(heat),
        Constraint::Length(u16::from(cpu_line_shown(app))),
        Constraint::Length(nl),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);

    f.render_widget(Paragraph::new(header(app, area.width)), head);
    if heat > 0 {
        f.render_widget(Paragraph::new(heat_map(app, heat_area.width)), heat_area);
    }
    if cpu_line_shown(app) {
        f.render_widget(Paragraph::new(cpu_line(app, cpu_area.width)), cpu_area);
    }
    if nl > 0 {
        let lines: Vec<Line> = notice_text(&notices, usize::from(nl), notice_area.width)
            .into_iter()
            .map(|t| {
                Line::styled(
                    t,
                    Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
                )
            })
            .collect();
        f.render_widget(Paragraph::new(lines), notice_area);
    }
    render_table(f, app, table_area);
    f.render_widget(Paragraph::new(footer(app, area.width)), foot);
    if app.show_help {
        render_help(f, area);
    }
}

/// `text` cut to `w` characters at a space, ending in `…` when cut (a number is never cut).
fn cut_words(text: &str, w: usize) -> String {
    if text.chars().count() <= w {
        return text.to_string();
    }
    let mut out = String::new();
    for word in text.split(' ') {
        let next = if out.is_empty() {
            word.chars().count()
        } else {
            out.chars().count() + 1 + word.chars().count()
        };
        if next + 1 > w {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out.push('…');
    out
}

/// The notice lines: the first `n` findings, the last one saying how many more there are.
pub(crate) fn notice_text(notices: &[String], n: usize, width: u16) -> Vec<String> {
    let w = usize::from(width);
    let shown = notices.len().min(n);
    (0..shown)
        .map(|i| {
            let clean = clean(&notices[i]).into_owned();
            let more = notices.len() - shown;
            if i + 1 == shown && more > 0 {
                cut_words(&format!("[+{more} more] {clean}"), w)
            } else {
                cut_words(&clean, w)
            }
        })
        .collect()
}

/// The header: pieces added while they fit whole; PAUSED first, so it is always seen.
fn header(app: &App, width: u16) -> Line<'static> {
    let time = app
        .stamp
        .map(|s| rfc3339_utc(s.wall.0, s.wall.1)[11..19].to_string())
        .unwrap_or_else(|| "--:--:--".into());
    let mut pieces: Vec<Span<'static>> = vec![Span::styled(
        "opskit itop",
        Style::new().add_modifier(Modifier::BOLD),
    )];
    if app.paused {
        pieces.push(Span::styled(
            "  PAUSED",
            Style::new()
                .fg(Color::Black)
                .bg(Color::Yellow)
                .add_modifier(Modifier::BOLD),
        ));
    }
    let unit = if app.source == Source::Softirqs {
        "softirq"
    } else {
        "irq"
    };
    pieces.push(Span::styled(
        format!(
            "  total {} {unit}/s",
            fmt_rate(app.has_rates().then_some(app.view.total))
        ),
        Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
    ));
    pieces.push(Span::raw(format!("  {time}")));
    pieces.push(Span::raw(format!("  {} CPUs", app.view.cols.len())));
    pieces.push(Span::raw(format!("  delay {}s", app.delay)));
    let busiest = app
        .report
        .cpu_time
        .iter()
        .enumerate()
        .filter_map(|(j, t)| t.map(|t| (j, t)))
        .max_by(|a, b| a.1.total().total_cmp(&b.1.total()));
    if let Some((j, t)) = busiest {
        let style = if t.total() >= crate::itop::model::cpustat::BUSY_PERCENT {
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
        } else {
            Style::new()
        };
        pieces.push(Span::styled(
            format!(
                "  handlers: CPU{} {:.0}% irq {:.0}% soft",
                app.cur.cpus[j], t.irq, t.softirq
            ),
            style,
        ));
    }
    pieces.push(Span::raw(format!("  sort: {}", app.opts.sort.label())));
    if let Some(flt) = &app.opts.filter {
        pieces.push(Span::raw(format!("  filter: {}", clean(flt))));
    }
    if app.opts.hide_idle {
        pieces.push(Span::raw("  idle hidden"));
    }
    let mut used = 0usize;
    let mut spans = Vec::new();
    for p in pieces {
        let w = p.content.chars().count();
        if used + w > usize::from(width) {
            // a piece that does not fit whole is left out (PAUSED comes early and is short)
            continue;
        }
        used += w;
        spans.push(p);
    }
    Line::from(spans)
}

/// Totals mode: the busiest CPUs with their rate and share, as many as fit whole.
fn cpu_line(app: &App, width: u16) -> Line<'static> {
    let shares = cpu_shares(&app.rates, &app.view.cols);
    let mut by: Vec<(usize, f64, f64)> = app
        .view
        .cols
        .iter()
        .zip(&shares)
        .filter_map(|(&j, sh)| Some((j, app.rates.cpu_totals.get(j).copied().flatten()?, (*sh)?)))
        .collect();
    by.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut text = String::from("busiest CPUs:");
    for (j, r, sh) in by {
        let piece = format!(
            "  CPU{} {}/s {:.1}%",
            app.cur.cpus[j],
            fit_number(Some(r), 6),
            sh * 100.0
        );
        if text.chars().count() + piece.chars().count() > usize::from(width) {
            break;
        }
        text.push_str(&piece);
    }
    Line::styled(text, Style::new().fg(Color::Cyan))
}

/// Every CPU id as a glyph (a group of CPUs per glyph when they do not fit), offline ones
/// apart, on a linear scale against the busiest; rate or time in handlers (`m`).
fn heat_map(app: &App, width: u16) -> Vec<Line<'static>> {
    let per_line = usize::from(width.saturating_sub(6)).max(1);
    let ids = heat_ids(app);
    let group = heat_group(ids, per_line, HEAT_LINES);
    let values = match app.heat {
        HeatMode::Rate => by_cpu_id(&app.cur.cpus, &app.view.cols, |j| {
            app.rates.cpu_totals.get(j).copied().flatten()
        }),
        HeatMode::Time => by_cpu_id(&app.cur.cpus, &app.view.cols, |j| {
            app.report
                .cpu_time
                .get(j)
                .copied()
                .flatten()
                .map(|t| t.total())
        }),
    };
    let what = match (app.heat, app.report.cpu_time.is_empty()) {
        (HeatMode::Rate, _) => "irq/s (m: handler time)",
        (HeatMode::Time, false) => "% time in handlers (m: irq/s)",
        (HeatMode::Time, true) => "no /proc/stat (m: irq/s)",
    };
    let per = if group > 1 {
        format!(", {group} CPUs a glyph")
    } else {
        String::new()
    };
    let mut lines = vec![Line::styled(
        format!("CPUs: {what}, linear scale, {OFFLINE} offline{per}"),
        Style::new().fg(Color::DarkGray),
    )];
    let glyphs: Vec<char> = heat_glyphs(&values, group).chars().collect();
    for (n, chunk) in glyphs.chunks(per_line).enumerate() {
        let first = n * per_line * group;
        lines.push(Line::from(vec![
            Span::styled(format!("{first:>5} "), Style::new().fg(Color::DarkGray)),
            Span::styled(
                chunk.iter().collect::<String>(),
                Style::new().fg(Color::Red),
            ),
        ]));
    }
    lines
}

fn irq_width(app: &App) -> u16 {
    app.view
        .rows
        .iter()
        .map(|&k| app.cur.row(app.rates.irqs[k].row).label.len())
        .max()
        .unwrap_or(3)
        .clamp(3, 12) as u16
}

/// A table column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    Irq,
    /// A CPU: its snapshot column.
    Cpu(usize),
    Total,
    Max,
    Count,
    Node,
    Affinity,
    Name,
}

/// The columns that fit whole in `width`, with their widths, and how many CPU columns.
fn columns(app: &App, width: u16) -> (Vec<(Col, u16)>, usize) {
    let irq_w = irq_width(app);
    let softirq = app.source == Source::Softirqs;
    let mut left = i32::from(width) - i32::from(irq_w) - 1 - i32::from(TOTAL_W);
    let name = !softirq && left > i32::from(NAME_MIN);
    if name {
        left -= i32::from(NAME_MIN) + 1;
    }
    let mut cpus = Vec::new();
    if app.per_cpu() {
        for &j in app.view.cols.iter().skip(app.col_scroll) {
            if left < i32::from(CPU_W) + 1 {
                break;
            }
            left -= i32::from(CPU_W) + 1;
            cpus.push(j);
        }
    }
    let mut take = |w: u16| {
        let ok = left > i32::from(w);
        if ok {
            left -= i32::from(w) + 1;
        }
        ok
    };
    let max = take(MAX_W);
    let count = take(COUNT_W);
    let aff = !softirq && take(AFF_W);
    let node = node_column(app) && take(NODE_W);
    let mut out = vec![(Col::Irq, irq_w)];
    out.extend(cpus.iter().map(|&j| (Col::Cpu(j), CPU_W)));
    out.push((Col::Total, TOTAL_W));
    if max {
        out.push((Col::Max, MAX_W));
    }
    if count {
        out.push((Col::Count, COUNT_W));
    }
    if node {
        out.push((Col::Node, NODE_W));
    }
    if aff {
        out.push((Col::Affinity, AFF_W));
    }
    if name {
        out.push((
            Col::Name,
            NAME_MIN + u16::try_from(left.max(0)).unwrap_or(0),
        ));
    }
    (out, cpus.len())
}

/// How many CPU columns fit, from the first visible one.
fn visible_cols(app: &App, width: u16) -> usize {
    columns(app, width).1
}

fn right(s: &str, w: u16) -> String {
    format!("{s:>w$}", w = usize::from(w))
}

fn render_table(f: &mut Frame, app: &App, area: Rect) {
    if !app.has_rates() {
        f.render_widget(Paragraph::new("collecting the first sample..."), area);
        return;
    }
    let (cols, _) = columns(app, area.width);
    let head: Vec<String> = cols
        .iter()
        .map(|&(c, w)| match c {
            Col::Irq => right("IRQ", w),
            Col::Cpu(j) => right(&format!("CPU{}", app.cur.cpus[j]), w),
            Col::Total => right("RATE/s", w),
            Col::Max => right("MAX/s", w),
            Col::Count => right("TOTAL", w),
            Col::Node => right("NODE", w),
            Col::Affinity => "AFFINITY".into(),
            Col::Name => "NAME".into(),
        })
        .collect();
    let widths: Vec<Constraint> = cols.iter().map(|&(_, w)| Constraint::Length(w)).collect();
    let mut rows: Vec<Row> = Vec::new();
    if cols.iter().any(|(c, _)| matches!(c, Col::Cpu(_))) {
        rows.extend(cpu_rows(app, &cols));
    }
    let page = usize::from(area.height.saturating_sub(1)).saturating_sub(rows.len());
    rows.extend(
        app.lines
            .iter()
            .skip(app.row_scroll)
            .take(page)
            .map(|line| match line {
                TableLine::Irq(k) => table_row(app, *k, &cols),
                TableLine::Device(g) => device_row(app, g, &cols),
            }),
    );
    let table = Table::new(rows, widths)
        .header(Row::new(head).style(Style::new().add_modifier(Modifier::REVERSED)))
        .column_spacing(1);
    f.render_widget(table, area);
}

/// Per-CPU columns: each CPU's total and its share of all (as irqtop's %delta row).
fn cpu_rows(app: &App, cols: &[(Col, u16)]) -> Vec<Row<'static>> {
    let shares = cpu_shares(
        &app.rates,
        &app.cur
            .cpus
            .iter()
            .enumerate()
            .map(|(j, _)| j)
            .collect::<Vec<_>>(),
    );
    let all: f64 = app
        .view
        .cols
        .iter()
        .filter_map(|&j| app.rates.cpu_totals.get(j).copied().flatten())
        .sum();
    let sum = cols
        .iter()
        .map(|&(c, w)| match c {
            Col::Irq => right("SUM", w),
            Col::Cpu(j) => right(
                &fit_number(
                    app.rates.cpu_totals.get(j).copied().flatten(),
                    usize::from(w),
                ),
                w,
            ),
            Col::Total => right(&fit_number(Some(all), usize::from(w)), w),
            _ => String::new(),
        })
        .collect::<Vec<_>>();
    let pct = cols
        .iter()
        .map(|&(c, w)| match c {
            Col::Irq => right("%", w),
            Col::Cpu(j) => right(
                &shares
                    .get(j)
                    .copied()
                    .flatten()
                    .map_or("-".into(), |x| format!("{:.1}", x * 100.0)),
                w,
            ),
            _ => String::new(),
        })
        .collect::<Vec<_>>();
    let style = Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD);
    vec![Row::new(sum).style(style), Row::new(pct).style(style)]
}

/// One table row: row `k` of the view's rates.
fn table_row(app: &App, k: usize, cols: &[(Col, u16)]) -> Row<'static> {
    let ir = &app.rates.irqs[k];
    let r = app.cur.row(ir.row);
    let total = row_rate(ir, r.kind, &app.view.cols, app.opts.cpus.is_none());
    let cells: Vec<String> = cols
        .iter()
        .map(|&(c, w)| match c {
            Col::Irq => right(r.label, w),
            Col::Cpu(j) => match r.kind {
                RowKind::PerCpu => right(&fit_number(ir.per_cpu.get(j), usize::from(w)), w),
                _ => String::new(),
            },
            Col::Total => right(&fit_number(total, usize::from(w)), w),
            Col::Max => right(
                &fit_number(app.max_rate.get(r.label).copied(), usize::from(w)),
                w,
            ),
            Col::Count => right(&fit_count(r.total(), usize::from(w)), w),
            Col::Node => right(
                &app.facts
                    .get(k)
                    .node
                    .map(|n| n.to_string())
                    .unwrap_or_default(),
                w,
            ),
            Col::Affinity => {
                let aff = app.facts.get(k).shown.as_deref().unwrap_or("");
                cut_list(aff, usize::from(w)).into_owned()
            }
            Col::Name => {
                let name = if r.is_numbered() {
                    irq_name(r.desc)
                } else {
                    r.desc.into()
                };
                let mark = if app.view.under_summary(&app.cur, &app.rates, k) {
                    MEMBER_MARK
                } else {
                    ""
                };
                format!("{mark}{}", clean(&name))
            }
        })
        .collect();
    let style = if total.unwrap_or(0.0) > 0.0 {
        Style::new()
    } else {
        Style::new().fg(Color::DarkGray)
    };
    Row::new(cells).style(style)
}

/// A device's IRQs added up (`g`): `+8` in the IRQ column for 8 IRQs.
fn device_row(app: &App, g: &DeviceGroup, cols: &[(Col, u16)]) -> Row<'static> {
    let total = if app.opts.cpus.is_none() {
        g.total
    } else {
        Some(app.view.cols.iter().filter_map(|&j| g.per_cpu.get(j)).sum())
    };
    let count: u64 = g
        .members
        .iter()
        .map(|&k| app.cur.row(app.rates.irqs[k].row).total())
        .sum();
    let cells: Vec<String> = cols
        .iter()
        .map(|&(c, w)| match c {
            Col::Irq => right(&format!("+{}", g.members.len()), w),
            Col::Cpu(j) => right(&fit_number(g.per_cpu.get(j), usize::from(w)), w),
            Col::Total => right(&fit_number(total, usize::from(w)), w),
            Col::Max => String::new(),
            Col::Count => right(&fit_count(count, usize::from(w)), w),
            Col::Node => right(&g.node.map(|n| n.to_string()).unwrap_or_default(), w),
            Col::Affinity => {
                let aff = crate::common::units::format_cpu_list(&g.affinity);
                cut_list(&aff, usize::from(w)).into_owned()
            }
            Col::Name => format!("{} ({} IRQs, g: expand)", clean(&g.name), g.members.len()),
        })
        .collect();
    Row::new(cells).style(Style::new().add_modifier(Modifier::BOLD))
}

fn footer(app: &App, width: u16) -> Line<'static> {
    if let Some(t) = &app.filter_input {
        return Line::from(format!("filter (Enter apply, Esc cancel): {t}_"));
    }
    if let Some(m) = &app.message {
        return Line::styled(m.clone(), Style::new().fg(Color::Red));
    }
    let ncols = visible_cols(app, width);
    let mut spans = Vec::new();
    if app.per_cpu() && app.view.cols.len() > ncols {
        spans.push(Span::styled(
            format!(
                "CPU cols {}-{}/{} ←→  ",
                app.col_scroll + 1,
                app.col_scroll + ncols,
                app.view.cols.len()
            ),
            Style::new().fg(Color::Cyan),
        ));
    }
    spans.push(Span::styled(
        "q quit  p pause  s sort  c sort by CPU  a/t per-CPU/total  ←→ CPUs  ↑↓ PgUp/PgDn rows  +/- delay  / filter  i idle  m map  g group  ? help",
        Style::new().fg(Color::DarkGray),
    ));
    Line::from(spans)
}

const HELP: &[(&str, &str)] = &[
    ("q  Esc  Ctrl-C", "quit (the terminal is restored)"),
    ("p  space", "pause / resume sampling"),
    ("s", "cycle sort: rate, irq, name"),
    ("c", "sort by the first visible CPU column"),
    ("a  t", "per-CPU columns / totals only"),
    ("← → H L", "scroll CPU columns (by 1 / by 8)"),
    ("↑ ↓ PgUp PgDn Home End", "scroll rows"),
    ("+  -", "longer / shorter delay"),
    ("/", "filter by IRQ or name (empty clears)"),
    ("i", "hide / show idle rows"),
    ("m", "heat map: interrupts/s or time in handlers"),
    (
        "g",
        "fold queue IRQs by device (eth0-TxRx-* -> eth0) / expand",
    ),
    ("?  h  F1", "this help (any key closes)"),
];

fn render_help(f: &mut Frame, area: Rect) {
    let w = 64.min(area.width);
    let h = (HELP.len() as u16 + 2).min(area.height);
    let r = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    let lines: Vec<Line> = HELP
        .iter()
        .map(|(k, d)| {
            Line::from(vec![
                Span::styled(
                    format!("{k:<24}"),
                    Style::new().add_modifier(Modifier::BOLD),
                ),
                Span::raw(*d),
            ])
        })
        .collect();
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines).block(Block::new().borders(Borders::ALL).title(" itop keys ")),
        r,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::itop::judge::view::ViewOpts;
    use crate::itop::model::interrupts::Snapshot;
    use crate::itop::model::interrupts::Stamp;
    use ratatui::backend::TestBackend;
    use ratatui::crossterm::event::{KeyCode, KeyEvent};
    use ratatui::Terminal;

    fn screen(app: &App, w: u16, h: u16) -> String {
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| render(f, app)).unwrap();
        let buf = t.backend().buffer().clone();
        (0..h)
            .map(|y| {
                (0..w)
                    .map(|x| buf[(x, y)].symbol().to_string())
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn app(ncpu: usize) -> App {
        let header: String = (0..ncpu).map(|c| format!(" CPU{c}")).collect();
        let row = |v: u64| {
            (0..ncpu)
                .map(|c| format!(" {}", v * (c as u64 + 1)))
                .collect::<String>()
        };
        let a = format!(
            "{header}\n 30:{} PCI-MSI eth0-TxRx-0\nLOC:{} Local timer interrupts\n",
            row(0),
            row(0)
        );
        let b = format!(
            "{header}\n 30:{} PCI-MSI eth0-TxRx-0\nLOC:{} Local timer interrupts\n",
            row(10),
            row(100)
        );
        let mut app = App::new(ViewOpts::default(), 1.0, Source::Interrupts);
        app.on_sample(
            &mut Snapshot::parse(&a).unwrap(),
            Stamp {
                mono: 0.0,
                wall: (0, 0),
            },
        );
        app.on_sample(
            &mut Snapshot::parse(&b).unwrap(),
            Stamp {
                mono: 1.0,
                wall: (3600, 0),
            },
        );
        app
    }

    #[test]
    fn numa_boxes_show_each_irqs_node() {
        let mut app = app(4);
        let s = screen(&app, 120, 12);
        assert!(!s.contains("NODE"), "one node: no column: {s}");
        app.nodes = crate::itop::judge::numa::CpuNodes {
            nodes: vec![(0, vec![0, 1]), (1, vec![2, 3])],
        };
        // rows of rates.irqs: IRQ 30 on node 1, LOC has none
        let info = |node: Option<u32>, shown: Option<&str>| crate::itop::model::devices::IrqInfo {
            node,
            shown: shown.map(str::to_string),
            ..Default::default()
        };
        app.facts.info = vec![info(Some(1), Some("2-3")), info(None, None)];
        let s = screen(&app, 120, 12);
        let head = s.lines().find(|l| l.contains("RATE/s")).unwrap();
        assert!(head.contains("NODE AFFINITY"), "{s}");
        let row = s.lines().find(|l| l.contains("eth0-TxRx-0")).unwrap();
        let f: Vec<&str> = row.split_whitespace().collect();
        let at = f.iter().position(|&x| x == "2-3").unwrap();
        assert_eq!(f[at - 1], "1", "node before the affinity: {row}");
        let loc = s.lines().find(|l| l.contains("Local timer")).unwrap();
        assert!(!loc.contains("  1  "), "{loc}");
    }

    #[test]
    fn s390x_members_are_indented_under_their_summary() {
        let a = "  CPU0 CPU1\nEXT: 0 0\nCLK: 0 0 [EXT] Clock Comparator\nNMI: 0 0 [NMI] Machine Check\n";
        let b = "  CPU0 CPU1\nEXT: 30 30\nCLK: 20 20 [EXT] Clock Comparator\nNMI: 0 0 [NMI] Machine Check\n";
        let mut app = App::new(ViewOpts::default(), 1.0, Source::Interrupts);
        for (i, t) in [a, b].into_iter().enumerate() {
            let at = Stamp {
                mono: i as f64,
                wall: (0, 0),
            };
            app.on_sample(&mut Snapshot::parse(t).unwrap(), at);
        }
        let s = screen(&app, 120, 12);
        let line = |l: &str| s.lines().find(|x| x.contains(l)).unwrap().to_string();
        assert!(line("CLK").contains("└ [EXT] Clock Comparator"), "{s}");
        assert!(!line("NMI").contains('└'), "{s}");
        let (ext, clk) = (s.find("EXT").unwrap(), s.find("CLK").unwrap());
        assert!(ext < clk, "the summary row heads its member: {s}");
    }

    #[test]
    fn small_box_shows_cpu_columns() {
        let s = screen(&app(2), 100, 10);
        let want = [
            "opskit itop  total 330 irq/s  01:00:00  2 CPUs  delay 1s  sort: rate",
            "IRQ    CPU0    CPU1   RATE/s   MAX/s   TOTAL AFFINITY  NAME",
            "SUM     110     220      330",
            "  %    33.3    66.7",
            "LOC     100     200      300     300     300           Local timer interrupts",
            " 30    10.0    20.0     30.0    30.0      30           PCI-MSI eth0-TxRx-0",
            "",
            "",
            "",
            "q quit  p pause  s sort  c sort by CPU  a/t per-CPU/total  ←→ CPUs  ↑↓ PgUp/PgDn rows  +/- delay  /",
        ];
        let got: Vec<&str> = s.lines().map(str::trim_end).collect();
        assert_eq!(got, want, "{s}");
    }

    #[test]
    fn big_box_shows_totals_and_a_heat_map_and_scrolls_columns() {
        let mut a = app(24);
        let s = screen(&a, 100, 12);
        assert!(s.contains("24 CPUs"), "{s}");
        assert!(!s.contains("CPU0 "), "totals only by default: {s}");
        assert!(s.contains('█'), "heat map: {s}");
        a.on_key(ratatui::crossterm::event::KeyEvent::from(
            ratatui::crossterm::event::KeyCode::Char('a'),
        ));
        let s = screen(&a, 100, 12);
        assert!(s.contains("CPU0"), "{s}");
        assert!(s.contains("1-9/24"), "{s}");
        a.on_key(ratatui::crossterm::event::KeyEvent::from(
            ratatui::crossterm::event::KeyCode::Right,
        ));
        let s = screen(&a, 100, 12);
        assert!(!s.contains(" CPU0 ") && s.contains("CPU1"), "{s}");
    }

    #[test]
    fn heat_map_shows_every_one_of_1152_cpus_at_80_columns() {
        let a = app(1152);
        let s = screen(&a, 80, 30);
        // 74 glyphs a line, 8 lines: 2 CPUs a glyph, 576 glyphs on 8 lines
        assert!(s.contains("2 CPUs a glyph"), "{s}");
        let rows: Vec<&str> = s.lines().skip(2).take(8).collect();
        assert!(rows[7].trim_start().starts_with("1036 "), "{s}");
        let glyphs: usize = rows
            .iter()
            .map(|l| l.chars().skip(6).filter(|c| !c.is_whitespace()).count())
            .sum();
        assert_eq!(glyphs, 576, "{s}");
    }

    #[test]
    fn g_folds_queue_irqs_into_their_device_and_expands_them() {
        let mut app = App::new(ViewOpts::default(), 1.0, Source::Interrupts);
        let t = |v: u64| {
            format!("  CPU0 CPU1\n 30: {v} 0 PCI-MSI 1-edge eth0-TxRx-0\n 31: 0 {v} PCI-MSI 2-edge eth0-TxRx-1\nLOC: 5 5 Local timer interrupts\n")
        };
        for (i, v) in [0u64, 400].into_iter().enumerate() {
            let stamp = Stamp {
                mono: i as f64,
                wall: (0, 0),
            };
            app.on_sample(&mut Snapshot::parse(t(v)).unwrap(), stamp);
        }
        let key = |c| {
            ratatui::crossterm::event::KeyEvent::from(ratatui::crossterm::event::KeyCode::Char(c))
        };
        app.on_key(key('g'));
        let s = screen(&app, 100, 10);
        assert!(s.contains("eth0 (2 IRQs, g: expand)"), "{s}");
        assert!(
            s.lines().any(|l| l.contains("+2") && l.contains("800")),
            "{s}"
        );
        assert!(!s.contains("eth0-TxRx-1 ["), "{s}");
        app.on_key(key('g'));
        let s = screen(&app, 100, 10);
        assert!(s.contains("eth0-TxRx-1 [PCI-MSI 2-edge]"), "{s}");
    }

    /// 24 CPUs: eth2 at 200,000/s on CPU 0, LOC 24,000/s on each CPU, queues elsewhere.
    fn hot_app() -> App {
        let ncpu = 24;
        let header: String = (0..ncpu).map(|c| format!(" CPU{c}")).collect();
        let snap = |t: u64| {
            let eth2: String = (0..ncpu)
                .map(|c| format!(" {}", if c == 0 { 200_000 * t } else { 0 }))
                .collect();
            let q: String = (0..ncpu).map(|_| format!(" {}", 3_000 * t)).collect();
            let loc: String = (0..ncpu).map(|_| format!(" {}", 24_000 * t)).collect();
            format!("{header}\n 45:{eth2} PCI-MSI 1-edge eth2\n 46:{q} PCI-MSI 2-edge nvme0q1\nLOC:{loc} Local timer interrupts\n")
        };
        let mut app = App::new(ViewOpts::default(), 1.0, Source::Interrupts);
        for t in 0..2u64 {
            let at = Stamp {
                mono: t as f64,
                wall: (0, 0),
            };
            app.on_sample(&mut Snapshot::parse(snap(t)).unwrap(), at);
        }
        app.judge(None);
        app
    }

    #[test]
    fn numbers_are_whole_or_suffixed_and_paused_shows_at_every_size() {
        let mut app = hot_app();
        assert_eq!(app.report.hot.len(), 1, "{:?}", app.report);
        app.paused = true;
        for (w, h) in [(40, 10), (44, 24), (80, 24), (200, 50)] {
            for mode in ['t', 'a'] {
                app.on_key(KeyEvent::from(KeyCode::Char(mode)));
                let s = screen(&app, w, h);
                assert!(s.lines().next().unwrap().contains("PAUSED"), "{w}x{h}: {s}");
                let row = |label: &str| {
                    s.lines()
                        .find(|l| l.trim_start().starts_with(label))
                        .unwrap_or_else(|| panic!("{w}x{h} {mode}: no {label}: {s}"))
                        .to_string()
                };
                // every number whole (or with a suffix): eth2 never reads 19999 or 2, LOC
                // never 2400
                for (label, allowed) in [
                    ("45 ", &["0.0", "200000", "200k"][..]),
                    ("LOC", &["24000", "576000", "576k"][..]),
                ] {
                    let line = row(label);
                    let nums: Vec<&str> = line
                        .split_whitespace()
                        .skip(1)
                        .take_while(|t| t.starts_with(|c: char| c.is_ascii_digit()))
                        .collect();
                    assert!(!nums.is_empty(), "{w}x{h} {mode}: {line}");
                    for tok in &nums {
                        assert!(
                            allowed.contains(tok),
                            "{w}x{h} {mode}: {tok} in {line}: {s}"
                        );
                    }
                }
            }
        }
        // the verdict leads the notice lines, naming eth2
        let s = screen(&app, 200, 50);
        assert!(s.contains("CPU 0 takes 75 % of device interrupts"), "{s}");
    }

    #[test]
    fn notices_stack_most_important_first_and_say_how_many_more() {
        let n = vec![
            "first".to_string(),
            "second".into(),
            "third".into(),
            "fourth".into(),
        ];
        assert_eq!(
            notice_text(&n, 3, 80),
            ["first", "second", "[+1 more] third"]
        );
        assert_eq!(notice_text(&n[..1], 3, 80), ["first"]);
        // cut at a word, never inside a number
        let long = vec!["CPU 0 takes 49 % of device interrupts (200000/s)".to_string()];
        assert_eq!(
            notice_text(&long, 1, 44),
            ["CPU 0 takes 49 % of device interrupts…"]
        );
        assert_eq!(fit_number(Some(199_999.0), 6), "199999");
        assert_eq!(fit_number(Some(199_999.0), 5), "200k");
        assert_eq!(fit_number(Some(2_500_000.0), 4), "2.5M");
        assert_eq!(fit_number(Some(24_000.0), 4), "24k");
        assert_eq!(fit_number(Some(24_000.0), 2), "");
    }

    #[test]
    fn narrow_terminal_and_help_do_not_panic() {
        let mut a = app(4);
        for (w, h) in [(20, 5), (1, 1), (40, 3)] {
            screen(&a, w, h);
        }
        a.show_help = true;
        let s = screen(&a, 80, 20);
        assert!(s.contains("itop keys"), "{s}");
        screen(&a, 10, 4);
    }
}
