//! The interactive loop: sample on a fixed schedule, redraw, react to keys and resizes.
//! Generic over the backend and the event source, so a scripted session runs in tests.

use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use ratatui::backend::Backend;
use ratatui::crossterm::event::{self, Event};
use ratatui::Terminal;

use crate::itop::gather::{lossy_warning, AffinityReader, Sampler};
use crate::itop::model::interrupts::Snapshot;
use crate::itop::tty::Tty;

use super::app::{Action, App};
use super::ui;

/// Where key and resize events come from.
pub(crate) trait Events {
    /// Wait at most `timeout` for input, then append every pending event to `out` (all of
    /// them: keys typed or pasted together are handled before the next redraw).
    fn wait(&mut self, timeout: Duration, out: &mut Vec<Event>) -> anyhow::Result<()>;
}

/// The controlling terminal's events (keys from `/dev/tty`, never from stdin).
pub(crate) struct TtyEvents {
    tty: Tty,
}

impl TtyEvents {
    pub(crate) fn new(tty: Tty) -> Self {
        TtyEvents { tty }
    }
}

impl Events for TtyEvents {
    /// Waits on the terminal itself first: crossterm spins forever reading EOF from a tty that
    /// hung up (its emulator or ssh session went away), so a hangup is seen here, and ends the
    /// loop as SIGHUP would.
    #[allow(unsafe_code)]
    fn wait(&mut self, timeout: Duration, out: &mut Vec<Event>) -> anyhow::Result<()> {
        // events crossterm already read into its queue come first
        if !event::poll(Duration::ZERO)? {
            let mut fds = [libc::pollfd {
                fd: self.tty.fd(),
                events: libc::POLLIN,
                revents: 0,
            }];
            let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
            // SAFETY: `fds` is a valid array of one pollfd for the length passed.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), 1, ms) };
            if n <= 0 {
                // timeout, or EINTR from a signal (SIGWINCH, SIGTERM): the loop looks again
                return Ok(());
            }
            if fds[0].revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
                stop(libc::SIGHUP);
                return Ok(());
            }
        }
        while event::poll(Duration::ZERO)? {
            out.push(event::read()?);
        }
        Ok(())
    }
}

/// Set by SIGTERM/SIGHUP/SIGINT or a hangup: the signal's number; the loop ends and the
/// terminal is restored.
static STOP: AtomicI32 = AtomicI32::new(0);

fn stop(sig: libc::c_int) {
    STOP.store(sig, Ordering::SeqCst);
}

/// The signal (or hangup, as SIGHUP) that ended the loop, if one did.
pub(crate) fn stopped_by() -> Option<i32> {
    match STOP.load(Ordering::SeqCst) {
        0 => None,
        sig => Some(sig),
    }
}

extern "C" fn on_signal(sig: libc::c_int) {
    stop(sig);
}

/// Route SIGTERM, SIGHUP and SIGINT to [`STOP`] instead of killing the process with the
/// terminal still in raw mode on the alternate screen.
#[allow(unsafe_code)]
pub(crate) fn install_signal_handlers() -> anyhow::Result<()> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let act = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for sig in [Signal::SIGTERM, Signal::SIGHUP, Signal::SIGINT] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { sigaction(sig, &act) }?;
    }
    Ok(())
}

fn take_sample(
    app: &mut App,
    sampler: &mut dyn Sampler,
    snap: &mut Snapshot,
    aff: &mut AffinityReader,
) {
    match sampler.sample(snap) {
        Ok(Some(at)) => {
            app.message = lossy_warning(&sampler.describe_last(), snap);
            // handler time is optional: an unreadable /proc/stat is said once, then left out
            let stat = match sampler.stat() {
                Ok(s) => s,
                Err(e) => {
                    if app.message.is_none() && app.prev_stat_error.is_none() {
                        app.message = Some(format!(
                            "{}: no time in handlers",
                            crate::exit::one_line(&e)
                        ));
                    }
                    app.prev_stat_error = Some(());
                    None
                }
            };
            if app.on_sample(snap, at) {
                aff.fill(&app.cur, &app.rates, &mut app.facts);
                app.rebuild();
            }
            app.judge(stat);
        }
        Ok(None) => app.message = Some(format!("no more samples: {}", sampler.describe())),
        Err(e) => app.message = Some(crate::exit::one_line(&e)),
    }
}

/// Run until quit (or [`STOP`]). Draws only when something changed, once per batch of
/// events.
pub(crate) fn run_loop<B: Backend>(
    term: &mut Terminal<B>,
    app: &mut App,
    sampler: &mut dyn Sampler,
    events: &mut dyn Events,
    aff: &mut AffinityReader,
) -> anyhow::Result<()>
where
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let mut snap = Snapshot::default();
    take_sample(app, sampler, &mut snap, aff);
    let mut last = Instant::now();
    let mut dirty = true;
    let mut seen_size = term.size()?;
    let mut pending = Vec::new();
    loop {
        if stopped_by().is_some() {
            return Ok(());
        }
        // resizes are noticed by size, not only by event
        let size = term.size()?;
        if size != seen_size {
            seen_size = size;
            term.autoresize()?;
            dirty = true;
        }
        if dirty {
            let area = ratatui::layout::Rect::new(0, 0, size.width, size.height);
            app.page = ui::table_rows(app, area).max(1);
            term.draw(|f| ui::render(f, app))?;
            dirty = false;
        }
        let next = last + Duration::from_secs_f64(app.delay);
        let timeout = next
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(250));
        pending.clear();
        events.wait(timeout, &mut pending)?;
        for ev in pending.drain(..) {
            match ev {
                Event::Key(k) => match app.on_key(k) {
                    Action::Quit => return Ok(()),
                    Action::None => {}
                    Action::Redraw | Action::Reschedule => dirty = true,
                },
                Event::Resize(..) => {
                    term.autoresize()?;
                    dirty = true;
                }
                _ => {}
            }
        }
        let now = Instant::now();
        if now >= last + Duration::from_secs_f64(app.delay) {
            last = now;
            if !app.paused {
                take_sample(app, sampler, &mut snap, aff);
                dirty = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::root::Root;
    use crate::itop::gather::FileSampler;
    use crate::itop::judge::view::ViewOpts;
    use ratatui::backend::TestBackend;
    use ratatui::crossterm::event::{KeyCode, KeyEvent};

    struct Script(Vec<Event>);
    impl Events for Script {
        fn wait(&mut self, _t: Duration, out: &mut Vec<Event>) -> anyhow::Result<()> {
            if !self.0.is_empty() {
                out.push(self.0.remove(0));
            }
            Ok(())
        }
    }

    #[test]
    fn scripted_session_ends_on_q() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::write(&a, "  CPU0 CPU1\n 1: 0 0 eth0\nLOC: 0 0 timer\n").unwrap();
        std::fs::write(&b, "  CPU0 CPU1\n 1: 5 5 eth0\nLOC: 100 100 timer\n").unwrap();
        let mut sampler = FileSampler::new(vec![a, b], Vec::new(), 1.0);
        let mut app = App::new(
            ViewOpts::default(),
            0.01,
            crate::itop::render::Source::Interrupts,
        );
        let mut term = Terminal::new(TestBackend::new(90, 12)).unwrap();
        let mut ev = Script(vec![
            Event::Resize(90, 12),
            Event::Key(KeyEvent::from(KeyCode::Char('s'))),
        ]);
        // run until both files were read, then quit
        let mut aff = AffinityReader::new(Root::new("/nonexistent"), 10);
        let t0 = Instant::now();
        while !app.has_rates() && t0.elapsed() < Duration::from_secs(5) {
            ev.0.push(Event::Key(KeyEvent::from(KeyCode::Char('x'))));
            ev.0.push(Event::Key(KeyEvent::from(KeyCode::Char('q'))));
            run_loop(&mut term, &mut app, &mut sampler, &mut ev, &mut aff).unwrap();
        }
        assert!(app.has_rates());
        assert_eq!(app.rates.total, 210.0);
        term.draw(|f| ui::render(f, &app)).unwrap();
        let text = format!("{:?}", term.backend().buffer());
        assert!(text.contains("total 210 irq/s"), "{text}");
    }
}
