//! The TUI's state and key handling: pure (no I/O, no clock), so it is tested directly.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use std::collections::HashMap;

use crate::itop::judge::numa::CpuNodes;
use crate::itop::judge::{judge, Input, Report};
use crate::itop::model::cpustat::CpuStat;
use crate::itop::model::devices::Facts;
use crate::itop::model::interrupts::Snapshot;
use crate::itop::model::interrupts::Stamp;
use crate::itop::model::rates::{rates_into, RateScratch, Rates};

use crate::itop::judge::view::{Line, Mode, SortKey, View, ViewOpts, AUTO_MAX_CPUS};
use crate::itop::render::Source;

/// What the loop should do after a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    None,
    Redraw,
    Quit,
    /// The delay changed: reschedule the next sample.
    Reschedule,
}

/// What the heat map shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeatMode {
    /// Interrupts/s per CPU.
    Rate,
    /// % of time in hard-IRQ and softirq handlers (/proc/stat).
    Time,
}

/// Delays offered by `+`/`-`.
pub(crate) const DELAYS: [f64; 8] = [0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0];

/// The whole TUI state.
pub(crate) struct App {
    pub(crate) opts: ViewOpts,
    pub(crate) delay: f64,
    pub(crate) paused: bool,
    pub(crate) heat: HeatMode,
    /// Queue IRQs folded into their device (`g` expands and folds).
    pub(crate) by_device: bool,
    /// The table's lines (the view's rows, folded by device or not).
    pub(crate) lines: Vec<Line>,
    pub(crate) show_help: bool,
    /// `Some(text)` while typing a filter after `/`.
    pub(crate) filter_input: Option<String>,
    /// First visible table row.
    pub(crate) row_scroll: usize,
    /// First visible CPU column (index into the view's columns).
    pub(crate) col_scroll: usize,
    pub(crate) source: Source,
    prev: Option<(Snapshot, Stamp)>,
    pub(crate) cur: Snapshot,
    pub(crate) stamp: Option<Stamp>,
    pub(crate) rates: Rates,
    scratch: RateScratch,
    pub(crate) view: View,
    /// Affinities and devices per `rates.irqs` entry.
    pub(crate) facts: Facts,
    /// The NUMA nodes' CPUs (empty when unknown).
    pub(crate) nodes: CpuNodes,
    prev_stat: Option<CpuStat>,
    /// The CPU ids of the snapshot before `cur`.
    prev_cpus: Vec<u32>,
    /// The judge's verdicts on the last interval.
    pub(crate) report: Report,
    /// The highest total rate seen per IRQ label since the start.
    pub(crate) max_rate: HashMap<String, f64>,
    /// Set once /proc/stat could not be read (said once).
    pub(crate) prev_stat_error: Option<()>,
    /// A message for the status line (e.g. a read error while sampling).
    pub(crate) message: Option<String>,
    /// Rows the table has room for (set by the renderer).
    pub(crate) page: usize,
}

impl App {
    pub(crate) fn new(opts: ViewOpts, delay: f64, source: Source) -> Self {
        // --by-device starts folded; `g` toggles
        let by_device = opts.by_device;
        App {
            opts,
            delay,
            paused: false,
            heat: HeatMode::Rate,
            by_device,
            lines: Vec::new(),
            show_help: false,
            filter_input: None,
            row_scroll: 0,
            col_scroll: 0,
            source,
            prev: None,
            cur: Snapshot::default(),
            stamp: None,
            rates: Rates::default(),
            scratch: RateScratch::default(),
            view: View::default(),
            facts: Facts::default(),
            nodes: CpuNodes::default(),
            prev_stat: None,
            prev_cpus: Vec::new(),
            report: Report::default(),
            max_rate: HashMap::new(),
            prev_stat_error: None,
            message: None,
            page: 20,
        }
    }

    /// True once two snapshots were seen and rates exist.
    pub(crate) fn has_rates(&self) -> bool {
        self.stamp.is_some() && !self.rates.irqs.is_empty()
    }

    /// Take a new snapshot (`snap` is swapped in; the old buffers come back in `snap`).
    /// Returns true when rates were computed.
    pub(crate) fn on_sample(&mut self, snap: &mut Snapshot, at: Stamp) -> bool {
        match self.prev.as_mut() {
            None => {
                self.prev = Some((std::mem::take(snap), at));
                false
            }
            Some((prev, pstamp)) => {
                let elapsed = at.mono - pstamp.mono;
                rates_into(prev, snap, elapsed, &mut self.scratch, &mut self.rates);
                self.prev_cpus.clone_from(&prev.cpus);
                for ir in &self.rates.irqs {
                    if let Some(t) = ir.total {
                        let label = snap.row(ir.row).label;
                        match self.max_rate.get_mut(label) {
                            Some(m) => *m = m.max(t),
                            None => {
                                self.max_rate.insert(label.to_string(), t);
                            }
                        }
                    }
                }
                // the new snapshot becomes prev; cur keeps a copy for rendering
                std::mem::swap(prev, snap);
                *pstamp = at;
                self.cur.clone_from(prev);
                self.stamp = Some(at);
                self.rebuild();
                true
            }
        }
    }

    /// Judge the last interval (after its facts are known) with the /proc/stat read with the
    /// last snapshot: the same judge as batch mode.
    pub(crate) fn judge(&mut self, stat: Option<CpuStat>) {
        if self.has_rates() {
            self.report = judge(&Input {
                source: self.source,
                prev_cpus: &self.prev_cpus,
                snap: &self.cur,
                rates: &self.rates,
                facts: &self.facts,
                nodes: &self.nodes,
                prev_stat: self.prev_stat.as_ref(),
                stat: stat.as_ref(),
            });
        }
        self.prev_stat = stat;
    }

    /// The findings for the notice lines, most important first.
    pub(crate) fn notices(&self) -> Vec<String> {
        self.report
            .findings()
            .iter()
            .map(crate::itop::render::words::finding_words)
            .collect()
    }

    /// Recompute the view after a change of options or data.
    pub(crate) fn rebuild(&mut self) {
        self.view = View::build(&self.cur, &self.rates, &self.opts);
        self.lines = self
            .view
            .lines(&self.cur, &self.rates, &self.facts, self.by_device);
        let max_row = self.lines.len().saturating_sub(1);
        self.row_scroll = self.row_scroll.min(max_row);
        let max_col = self.view.cols.len().saturating_sub(1);
        self.col_scroll = self.col_scroll.min(max_col);
    }

    /// Effective mode, after Auto is resolved.
    pub(crate) fn per_cpu(&self) -> bool {
        match self.opts.mode {
            Mode::All => true,
            Mode::Total => false,
            Mode::Auto => self.view.cols.len() <= AUTO_MAX_CPUS,
        }
    }

    pub(crate) fn on_key(&mut self, key: KeyEvent) -> Action {
        if key.kind == KeyEventKind::Release {
            return Action::None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && matches!(key.code, KeyCode::Char('c')) {
            return Action::Quit;
        }
        if self.filter_input.is_some() {
            return self.on_filter_key(key.code);
        }
        if self.show_help {
            // any key closes help; q still quits
            self.show_help = false;
            if matches!(key.code, KeyCode::Char('q')) {
                return Action::Quit;
            }
            return Action::Redraw;
        }
        if let Some(a) = self.on_view_key(key.code) {
            return a;
        }
        self.on_move_key(key.code)
    }

    /// A key while typing a filter after `/`.
    fn on_filter_key(&mut self, code: KeyCode) -> Action {
        let Some(text) = self.filter_input.as_mut() else {
            return Action::None;
        };
        match code {
            KeyCode::Enter => {
                let t = std::mem::take(text);
                self.opts.filter = (!t.is_empty()).then_some(t);
                self.filter_input = None;
                self.row_scroll = 0;
                self.rebuild();
            }
            KeyCode::Esc => self.filter_input = None,
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Char(c) => text.push(c),
            _ => return Action::None,
        }
        Action::Redraw
    }

    /// Keys that change what is shown; `None` for other keys.
    fn on_view_key(&mut self, code: KeyCode) -> Option<Action> {
        match code {
            KeyCode::Char('q') | KeyCode::Esc => return Some(Action::Quit),
            KeyCode::Char(' ') | KeyCode::Char('p') => self.paused = !self.paused,
            KeyCode::Char('s') => {
                self.opts.sort = self.opts.sort.next();
                self.rebuild();
            }
            KeyCode::Char('c') => self.sort_by_first_visible_cpu(),
            KeyCode::Char('a') => self.set_mode(Mode::All),
            KeyCode::Char('t') => self.set_mode(Mode::Total),
            KeyCode::Char('i') => {
                self.opts.hide_idle = !self.opts.hide_idle;
                self.rebuild();
            }
            KeyCode::Char('g') => {
                self.by_device = !self.by_device;
                self.rebuild();
            }
            KeyCode::Char('m') => {
                self.heat = match self.heat {
                    HeatMode::Rate => HeatMode::Time,
                    HeatMode::Time => HeatMode::Rate,
                }
            }
            KeyCode::Char('/') => {
                self.filter_input = Some(self.opts.filter.clone().unwrap_or_default())
            }
            KeyCode::Char('?') | KeyCode::Char('h') | KeyCode::F(1) => self.show_help = true,
            KeyCode::Char('+') | KeyCode::Char('=') => {
                self.delay = DELAYS
                    .iter()
                    .copied()
                    .find(|d| *d > self.delay + 1e-9)
                    .unwrap_or(self.delay);
                return Some(Action::Reschedule);
            }
            KeyCode::Char('-') => {
                self.delay = DELAYS
                    .iter()
                    .rev()
                    .copied()
                    .find(|d| *d < self.delay - 1e-9)
                    .unwrap_or(self.delay);
                return Some(Action::Reschedule);
            }
            _ => return None,
        }
        Some(Action::Redraw)
    }

    /// Scrolling keys.
    fn on_move_key(&mut self, code: KeyCode) -> Action {
        match code {
            KeyCode::Down | KeyCode::Char('j') => self.scroll_rows(1),
            KeyCode::Up | KeyCode::Char('k') => self.scroll_rows(-1),
            KeyCode::PageDown => self.scroll_rows(self.page as isize),
            KeyCode::PageUp => self.scroll_rows(-(self.page as isize)),
            KeyCode::Home => self.row_scroll = 0,
            KeyCode::End => self.scroll_rows(isize::MAX / 2),
            KeyCode::Right | KeyCode::Char('l') => self.scroll_cols(1),
            KeyCode::Left => self.scroll_cols(-1),
            KeyCode::Char('L') => self.scroll_cols(8),
            KeyCode::Char('H') => self.scroll_cols(-8),
            _ => return Action::None,
        }
        Action::Redraw
    }

    /// `a` and `t` set their mode (pressing one twice keeps it). Totals show no CPU column, so
    /// a sort by a CPU falls back to the rate.
    fn set_mode(&mut self, mode: Mode) {
        self.opts.mode = mode;
        self.rebuild();
        if !self.per_cpu() && matches!(self.opts.sort, SortKey::Cpu(_)) {
            self.opts.sort = SortKey::Rate;
            self.rebuild();
        }
    }

    /// `c`: sort by the first CPU column on screen; with no CPU column shown, say so.
    fn sort_by_first_visible_cpu(&mut self) {
        if !self.per_cpu() {
            self.message = Some("c: no CPU columns are shown (press a)".into());
            return;
        }
        if let Some(&j) = self.view.cols.get(self.col_scroll) {
            self.opts.sort = SortKey::Cpu(self.cur.cpus[j]);
            self.rebuild();
        }
    }

    fn scroll_rows(&mut self, by: isize) {
        let max = self.lines.len().saturating_sub(self.page.max(1)) as isize;
        self.row_scroll = (self.row_scroll as isize + by).clamp(0, max.max(0)) as usize;
    }

    fn scroll_cols(&mut self, by: isize) {
        let max = self.view.cols.len().saturating_sub(1) as isize;
        self.col_scroll = (self.col_scroll as isize + by).clamp(0, max.max(0)) as usize;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    fn stamp(t: f64) -> Stamp {
        Stamp {
            mono: t,
            wall: (0, 0),
        }
    }

    fn app_with_data() -> App {
        let mut app = App::new(ViewOpts::default(), 1.0, Source::Interrupts);
        let mut a = Snapshot::parse("  CPU0 CPU1\n 1: 0 0 a\n 2: 0 0 b\nLOC: 0 0 timer\n").unwrap();
        assert!(!app.on_sample(&mut a, stamp(0.0)));
        let mut b =
            Snapshot::parse("  CPU0 CPU1\n 1: 4 0 a\n 2: 0 2 b\nLOC: 10 10 timer\n").unwrap();
        assert!(app.on_sample(&mut b, stamp(2.0)));
        app
    }

    #[test]
    fn a_proc_stat_reset_is_the_notice_when_nothing_else_is() {
        let mut app = app_with_data();
        let stat = |t: &str| CpuStat::parse(t.as_bytes()).unwrap();
        app.judge(Some(stat("cpu0 100 0 0 0 0 0 0 0\ncpu1 0 0 0 0 0 0 0 0\n")));
        assert!(app.notices().is_empty());
        app.judge(Some(stat("cpu0 10 0 0 0 0 6 6 0\ncpu1 0 5 0 0 0 0 0 0\n")));
        assert_eq!(app.report.stat_resets, [0]);
        assert_eq!(
            app.notices(),
            ["/proc/stat counters went back (CPU hot-plugged?) for CPU 0: handler time unknown this interval"]
        );
    }

    #[test]
    fn samples_become_rates_over_the_measured_interval() {
        let app = app_with_data();
        assert!(app.has_rates());
        assert_eq!(app.rates.elapsed, 2.0);
        assert_eq!(app.rates.total, 13.0);
        assert_eq!(app.view.rows.len(), 3);
    }

    #[test]
    fn keys_change_state() {
        let mut app = app_with_data();
        assert_eq!(app.on_key(key(KeyCode::Char('q'))), Action::Quit);
        assert_eq!(app.on_key(key(KeyCode::Esc)), Action::Quit);
        assert_eq!(
            app.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Action::Quit
        );
        app.on_key(key(KeyCode::Char('p')));
        assert!(app.paused);
        app.on_key(key(KeyCode::Char('s')));
        assert_eq!(app.opts.sort, SortKey::Irq);
        app.on_key(key(KeyCode::Char('s')));
        app.on_key(key(KeyCode::Char('s')));
        assert!(app.per_cpu());
        app.on_key(key(KeyCode::Char('c')));
        assert_eq!(app.opts.sort, SortKey::Cpu(0));
        app.on_key(key(KeyCode::Char('t')));
        assert!(!app.per_cpu());
        assert_eq!(app.opts.sort, SortKey::Rate, "no hidden CPU sort in totals");
        app.on_key(key(KeyCode::Char('t')));
        assert!(!app.per_cpu(), "t sets totals, it does not toggle");
        app.on_key(key(KeyCode::Char('c')));
        assert_eq!(app.opts.sort, SortKey::Rate);
        assert!(app.message.as_deref().unwrap().contains("no CPU columns"));
        app.on_key(key(KeyCode::Char('a')));
        assert!(app.per_cpu());
        app.on_key(key(KeyCode::Char('a')));
        assert!(app.per_cpu(), "a sets per-CPU columns, it does not toggle");
        assert_eq!(app.on_key(key(KeyCode::Char('+'))), Action::Reschedule);
        assert_eq!(app.delay, 2.0);
        app.on_key(key(KeyCode::Char('-')));
        app.on_key(key(KeyCode::Char('-')));
        assert_eq!(app.delay, 0.5);
        app.on_key(key(KeyCode::Char('/')));
        for c in "tim".chars() {
            app.on_key(key(KeyCode::Char(c)));
        }
        app.on_key(key(KeyCode::Enter));
        assert_eq!(app.opts.filter.as_deref(), Some("tim"));
        assert_eq!(app.view.rows.len(), 1);
        app.on_key(key(KeyCode::Char('?')));
        assert!(app.show_help);
        app.on_key(key(KeyCode::Char('x')));
        assert!(!app.show_help);
        app.on_key(key(KeyCode::Right));
        assert_eq!(app.col_scroll, 1);
        app.on_key(key(KeyCode::Right));
        assert_eq!(app.col_scroll, 1, "cannot scroll past the last CPU");
    }
}
