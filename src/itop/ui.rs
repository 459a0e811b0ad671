//! Drawing the TUI from the state: pure (no I/O, no clock).

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
    by_cpu_id, cut_list, fmt_rate, heat_glyphs, heat_group, irq_name, Source, OFFLINE,
};

const CPU_W: u16 = 7;
const TOTAL_W: u16 = 9;
const AFF_W: u16 = 9;
/// The NODE column (each IRQ's /proc/irq/N/node), on NUMA boxes.
const NODE_W: u16 = 4;

/// Whether the table has a NODE column: device interrupts on a box with several NUMA nodes.
fn node_column(app: &App) -> bool {
    app.source != Source::Softirqs && app.nodes.is_numa()
}
const NAME_MIN: u16 = 16;

/// The heat map's glyph lines at most (a caption line comes on top).
const HEAT_LINES: usize = 8;

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

/// Rows of the table that fit in a terminal of `height` lines.
pub(crate) fn table_rows(app: &App, area: Rect) -> usize {
    let fixed = 1 + heat_lines(app, area.width) + u16::from(app.notice().is_some()) + 1 + 1;
    usize::from(area.height.saturating_sub(fixed))
}

pub(crate) fn render(f: &mut Frame, app: &App) {
    let area = f.area();
    let heat = heat_lines(app, area.width);
    let imb = u16::from(app.notice().is_some());
    let [head, heat_area, imb_area, table_area, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(heat),
        Constraint::Length(imb),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);

    f.render_widget(Paragraph::new(header(app)), head);
    if heat > 0 {
        f.render_widget(Paragraph::new(heat_map(app, heat_area.width)), heat_area);
    }
    if let Some(i) = app.notice() {
        f.render_widget(
            Paragraph::new(Line::styled(
                clean(&i).into_owned(),
                Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
            )),
            imb_area,
        );
    }
    render_table(f, app, table_area);
    f.render_widget(Paragraph::new(footer(app, area.width)), foot);
    if app.show_help {
        render_help(f, area);
    }
}

fn header(app: &App) -> Line<'static> {
    let time = app
        .stamp
        .map(|s| rfc3339_utc(s.wall.0, s.wall.1)[11..19].to_string())
        .unwrap_or_else(|| "--:--:--".into());
    let mut spans = vec![
        Span::styled("opskit itop", Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(format!(
            "  {time}  delay {}s  {} CPUs  ",
            app.delay,
            app.view.cols.len()
        )),
        Span::styled(
            format!(
                "total {} {}/s",
                fmt_rate(app.has_rates().then_some(app.view.total)),
                if app.source == Source::Softirqs {
                    "softirq"
                } else {
                    "irq"
                }
            ),
            Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!("  sort: {}", app.opts.sort.label())),
    ];
    let busiest = app
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
        spans.push(Span::styled(
            format!(
                "  handlers: CPU{} {:.0}% irq {:.0}% soft",
                app.cur.cpus[j], t.irq, t.softirq
            ),
            style,
        ));
    }
    if let Some(flt) = &app.opts.filter {
        spans.push(Span::raw(format!("  filter: {flt}")));
    }
    if app.opts.hide_idle {
        spans.push(Span::raw("  idle hidden"));
    }
    if app.paused {
        spans.push(Span::styled(
            "  PAUSED",
            Style::new().fg(Color::Black).bg(Color::Yellow),
        ));
    }
    Line::from(spans)
}

/// Every CPU id as a glyph (a group of CPUs per glyph when they do not fit), offline ones
/// apart, on a log scale; rate or time in handlers (`m`).
fn heat_map(app: &App, width: u16) -> Vec<Line<'static>> {
    let per_line = usize::from(width.saturating_sub(6)).max(1);
    let ids = heat_ids(app);
    let group = heat_group(ids, per_line, HEAT_LINES);
    let values = match app.heat {
        HeatMode::Rate => by_cpu_id(&app.cur.cpus, &app.view.cols, |j| {
            app.rates.cpu_totals.get(j).copied().flatten()
        }),
        HeatMode::Time => by_cpu_id(&app.cur.cpus, &app.view.cols, |j| {
            app.cpu_time.get(j).copied().flatten().map(|t| t.total())
        }),
    };
    let what = match (app.heat, app.cpu_time.is_empty()) {
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
        format!("CPUs: {what}, log scale, {OFFLINE} offline{per}"),
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

/// How many CPU columns fit, from the first visible one.
fn visible_cols(app: &App, width: u16, irq_w: u16) -> usize {
    if !app.per_cpu() {
        return 0;
    }
    let softirq = app.source == Source::Softirqs;
    let fixed = irq_w + 1 + TOTAL_W + 1 + if softirq { 0 } else { AFF_W + 1 + NAME_MIN };
    let fixed = fixed + if node_column(app) { NODE_W + 1 } else { 0 };
    (usize::from(width.saturating_sub(fixed)) / usize::from(CPU_W + 1))
        .min(app.view.cols.len().saturating_sub(app.col_scroll))
}

fn render_table(f: &mut Frame, app: &App, area: Rect) {
    let softirq = app.source == Source::Softirqs;
    let irq_w = irq_width(app);
    let ncols = visible_cols(app, area.width, irq_w);
    let cols: &[usize] = if ncols > 0 {
        &app.view.cols[app.col_scroll..app.col_scroll + ncols]
    } else {
        &[]
    };

    let mut widths = vec![Constraint::Length(irq_w)];
    let mut head = vec!["IRQ".to_string()];
    for &j in cols {
        widths.push(Constraint::Length(CPU_W));
        head.push(format!(
            "{:>w$}",
            format!("CPU{}", app.cur.cpus[j]),
            w = usize::from(CPU_W)
        ));
    }
    widths.push(Constraint::Length(TOTAL_W));
    head.push(format!("{:>w$}", "TOTAL", w = usize::from(TOTAL_W)));
    if node_column(app) {
        widths.push(Constraint::Length(NODE_W));
        head.push(format!("{:>w$}", "NODE", w = usize::from(NODE_W)));
    }
    if !softirq {
        widths.push(Constraint::Length(AFF_W));
        widths.push(Constraint::Min(NAME_MIN));
        head.push("AFFINITY".into());
        head.push("NAME".into());
    }
    let page = usize::from(area.height.saturating_sub(1));
    let rows = app
        .lines
        .iter()
        .skip(app.row_scroll)
        .take(page)
        .map(|line| match line {
            TableLine::Irq(k) => table_row(app, *k, cols, irq_w),
            TableLine::Device(g) => device_row(app, g, cols, irq_w),
        });
    let title = head;
    let table = Table::new(rows, widths)
        .header(Row::new(title).style(Style::new().add_modifier(Modifier::REVERSED)))
        .column_spacing(1);
    if !app.has_rates() {
        f.render_widget(Paragraph::new("collecting the first sample..."), area);
        return;
    }
    f.render_widget(table, area);
}

/// One table row: row `k` of the view's rates, over the CPU columns `cols` on screen.
fn table_row(app: &App, k: usize, cols: &[usize], irq_w: u16) -> Row<'static> {
    let ir = &app.rates.irqs[k];
    let r = app.cur.row(ir.row);
    let mut cells = vec![format!("{:>w$}", r.label, w = usize::from(irq_w))];
    for &j in cols {
        let s = match r.kind {
            RowKind::PerCpu => fmt_rate(ir.per_cpu.get(j)),
            _ => String::new(),
        };
        cells.push(format!("{s:>w$}", w = usize::from(CPU_W)));
    }
    let total = row_rate(ir, r.kind, &app.view.cols, app.opts.cpus.is_none());
    cells.push(format!("{:>w$}", fmt_rate(total), w = usize::from(TOTAL_W)));
    if node_column(app) {
        let node = app.affinity.node.get(k).copied().flatten();
        let node = node.map(|n| n.to_string()).unwrap_or_default();
        cells.push(format!("{node:>w$}", w = usize::from(NODE_W)));
    }
    if app.source != Source::Softirqs {
        let aff = app
            .affinity
            .shown
            .get(k)
            .and_then(|a| a.as_deref())
            .unwrap_or("");
        cells.push(cut_list(aff, usize::from(AFF_W)).into_owned());
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
        cells.push(format!("{mark}{}", clean(&name)));
    }
    let style = if total.unwrap_or(0.0) > 0.0 {
        Style::new()
    } else {
        Style::new().fg(Color::DarkGray)
    };
    Row::new(cells).style(style)
}

/// A device's IRQs added up (`g`): `+8` in the IRQ column for 8 IRQs.
fn device_row(app: &App, g: &DeviceGroup, cols: &[usize], irq_w: u16) -> Row<'static> {
    let mut cells = vec![format!(
        "{:>w$}",
        format!("+{}", g.members.len()),
        w = usize::from(irq_w)
    )];
    for &j in cols {
        let s = fmt_rate(g.per_cpu.get(j));
        cells.push(format!("{s:>w$}", w = usize::from(CPU_W)));
    }
    let total = if app.opts.cpus.is_none() {
        g.total
    } else {
        Some(app.view.cols.iter().filter_map(|&j| g.per_cpu.get(j)).sum())
    };
    cells.push(format!("{:>w$}", fmt_rate(total), w = usize::from(TOTAL_W)));
    if node_column(app) {
        cells.push(String::new());
    }
    if app.source != Source::Softirqs {
        cells.push(String::new());
        cells.push(format!(
            "{} ({} IRQs, g: expand)",
            clean(&g.name),
            g.members.len()
        ));
    }
    Row::new(cells).style(Style::new().add_modifier(Modifier::BOLD))
}

fn footer(app: &App, width: u16) -> Line<'static> {
    if let Some(t) = &app.filter_input {
        return Line::from(format!("filter (Enter apply, Esc cancel): {t}_"));
    }
    if let Some(m) = &app.message {
        return Line::styled(m.clone(), Style::new().fg(Color::Red));
    }
    let ncols = visible_cols(app, width, irq_width(app));
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
        app.affinity.node = vec![Some(1), None];
        app.affinity.shown = vec![Some("2-3".into()), None];
        let s = screen(&app, 120, 12);
        let head = s.lines().find(|l| l.contains("TOTAL")).unwrap();
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
        assert!(
            s.contains("opskit itop  01:00:00  delay 1s  2 CPUs  total 330 irq/s"),
            "{s}"
        );
        assert!(s.contains("CPU0") && s.contains("CPU1"), "{s}");
        assert!(s.contains("Local timer interrupts"), "{s}");
        assert!(
            s.lines().any(|l| l.contains("LOC")
                && l.contains("100")
                && l.contains("200")
                && l.contains("300")),
            "{s}"
        );
        assert!(s.contains("q quit"), "{s}");
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
        assert!(s.contains("1-7/24"), "{s}");
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
