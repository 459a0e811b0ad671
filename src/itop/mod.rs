//! `opskit itop`: top-like per-CPU interrupt rates from /proc/interrupts.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::common::Context;
use crate::exit::{Outcome, UsageError};
use crate::itop::gather::{
    cpu_nodes, lossy_warning, AffinityReader, FileSampler, ProcSampler, Sampler, StatReader,
};
use crate::itop::judge::numa::CpuNodes;
use crate::itop::judge::view::{Mode, SortKey, ViewOpts};
use crate::itop::judge::{judge, Input};
use crate::itop::model::devices::Facts;
use crate::itop::model::interrupts::Snapshot;
use crate::itop::model::rates::{rates_into, RateScratch, Rates};
use crate::itop::render::{prom, Sample, Source};
use tty::Terminal;

mod app;
pub(crate) mod gather;
pub(crate) mod judge;
pub(crate) mod model;
pub(crate) mod render;
mod tty;
mod tui;
mod ui;

/// A CPU list option value (`0-3,8,10-11`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CpuList(pub(crate) Vec<u32>);

fn parse_cpus(s: &str) -> Result<CpuList, String> {
    crate::common::units::clap_parsers::cpu_list(s).and_then(|v| {
        if v.is_empty() {
            Err("empty CPU list".into())
        } else {
            Ok(CpuList(v))
        }
    })
}

/// The longest --delay: a day (a longer interval says nothing about interrupt load).
const MAX_DELAY: f64 = 86_400.0;

fn parse_delay(s: &str) -> Result<f64, String> {
    let d = crate::common::units::clap_parsers::duration(s)?.as_secs_f64();
    if d < 0.01 {
        return Err(format!("delay '{s}' is too short: at least 0.01 s"));
    }
    if d > MAX_DELAY {
        return Err(format!("delay '{s}' is too long: at most a day (86400 s)"));
    }
    Ok(d)
}

/// A count of at least 1 (`-n 0` and `--top 0` would print nothing).
fn parse_positive(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{s}' is not a whole number")),
    }
}

fn parse_top(s: &str) -> Result<usize, String> {
    parse_positive(s).map(|n| usize::try_from(n).unwrap_or(usize::MAX))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// An aligned table per sample
    Text,
    /// One JSON object per line per sample
    Json,
    /// One Prometheus exposition (one sample, then exit; --listen serves it)
    Prometheus,
}

#[derive(Debug, Clone, clap::Args)]
#[command(
    about = "Top-like per-CPU interrupt rates from /proc/interrupts",
    long_about = "Top-like per-CPU interrupt rates from /proc/interrupts.\n\n\
        Shows interrupts per second per IRQ: a column per CPU on boxes with 8 CPUs or fewer, \
        only the per-IRQ total above that (-a and -t force either). Rates are computed over the \
        measured interval; a new IRQ, or one whose counter restarted (a driver reload), shows no \
        rate for that interval; CPUs are matched by id, so one going offline never shifts \
        columns. Each numbered IRQ shows its affinity (effective_affinity_list, else \
        smp_affinity_list). A CPU taking a large share of the machine's device interrupts (at \
        least 3 times the mean per CPU and a fifth of them all; with --softirq, of NET_RX/NET_TX/BLOCK) \
        or of handler time is called out whatever the affinity masks say, with the devices that \
        put the load there (netdev and NVMe names from sysfs; pinned or not; kernel-managed or \
        not) and the remedy for each kind: RPS for a single-queue NIC (the rps_cpus mask), a CPU \
        per queue for queues piled on one CPU, more queues (ethtool -L) for a NIC already \
        spread, nothing for kernel-managed queues. Per-CPU interrupts (LOC, RES, CAL, TLB...) \
        never count. A device handled on another NUMA node while its own node's CPUs are online \
        is named (never for managed queues). The time each CPU spends in handlers comes from \
        /proc/stat (read by default when live; an unreadable one is a warning), as mpstat's \
        %irq and %soft.\n\n\
        On a terminal it is interactive (press ? for keys; keys are read from /dev/tty); when \
        stdout is not a terminal, with -b, or when the terminal cannot run it (TERM=dumb, no \
        /dev/tty, a window under 40x8), it prints plain samples.",
    after_help = "Examples:\n  \
        opskit itop -t                       # totals on a big box\n  \
        opskit itop -b -n 5 --top 10         # five samples of the 10 busiest IRQs\n  \
        opskit itop -b -n 1 --format json    # one JSON object per sample\n  \
        cat /proc/interrupts > a; sleep 10; cat /proc/interrupts > b\n  \
        opskit itop --from a --from b -d 10  # rates between captured snapshots\n  \
        opskit itop --format prometheus      # one exposition (node_exporter textfile)\n  \
        opskit itop --listen 127.0.0.1:9300  # serve /metrics, sampling every --delay"
)]
pub(crate) struct Args {
    /// A column per CPU (the default with 8 CPUs or fewer)
    #[arg(short = 'a', long = "all", conflicts_with = "total")]
    pub(crate) all: bool,

    /// Only the per-IRQ total (the default above 8 CPUs)
    #[arg(short = 't', long = "total")]
    pub(crate) total: bool,

    /// Seconds between samples (0.5, 2, 500ms)
    ///
    /// With --from: the seconds between the captured snapshots.
    #[arg(short = 'd', long, value_name = "SECS", default_value = "1", value_parser = parse_delay)]
    pub(crate) delay: f64,

    /// Only these CPUs, in kernel list syntax (0-3,8,10-11)
    ///
    /// Restricts the columns, the per-IRQ totals and the JSON keys to these CPU ids.
    #[arg(long, value_name = "LIST", value_parser = parse_cpus)]
    pub(crate) cpus: Option<CpuList>,

    /// Show only the N busiest rows (after sorting and filtering)
    #[arg(long, value_name = "N", value_parser = parse_top)]
    pub(crate) top: Option<usize>,

    /// Sort by: rate (default), irq, name, or a CPU id (cpu3 or 3)
    #[arg(long, value_name = "KEY", default_value = "rate", value_parser = SortKey::parse)]
    pub(crate) sort: SortKey,

    /// Only rows whose IRQ label or name contains TEXT (case-insensitive)
    #[arg(long, value_name = "TEXT")]
    pub(crate) filter: Option<String>,

    /// Hide rows with no interrupts during the interval
    #[arg(long)]
    pub(crate) hide_idle: bool,

    /// Show /proc/softirqs instead of /proc/interrupts
    ///
    /// /proc/softirqs has a column for every *possible* CPU, not only the online ones.
    #[arg(long)]
    pub(crate) softirq: bool,

    /// Fold the queue IRQs of one device (eth0-TxRx-0, -1...) into one line with their sum
    ///
    /// In text and the TUI (where g toggles it); JSON always has a "devices" summary.
    #[arg(long)]
    pub(crate) by_device: bool,

    /// Plain samples even on a terminal (automatic when stdout is not a terminal)
    #[arg(short = 'b', long)]
    pub(crate) batch: bool,

    /// Stop after N samples (batch mode)
    #[arg(short = 'n', long, value_name = "N", value_parser = parse_positive)]
    pub(crate) iterations: Option<u64>,

    /// Batch output format
    #[arg(long, value_enum, default_value_t = Format::Text, value_name = "FORMAT")]
    pub(crate) format: Format,

    /// Rates between captured snapshots instead of live sampling (repeat: --from a --from b)
    ///
    /// Consecutive files are --delay seconds apart; nothing sleeps. Implies batch mode (unless
    /// -i). With --root DIR, the affinities, devices and NUMA nodes are read under DIR.
    #[arg(long, value_name = "FILE", action = clap::ArgAction::Append, num_args = 1)]
    pub(crate) from: Vec<PathBuf>,

    /// Captured /proc/stat files, one per --from, for the time in handlers (repeat)
    ///
    /// Live sampling reads /proc/stat (under --root) by itself.
    #[arg(long, value_name = "FILE", action = clap::ArgAction::Append, num_args = 1, requires = "from")]
    pub(crate) stat: Vec<PathBuf>,

    /// The interactive screen even with --from: the snapshots are replayed at --delay pace
    #[arg(short = 'i', long, conflicts_with_all = ["batch", "iterations", "format", "listen"])]
    pub(crate) interactive: bool,

    /// Serve the Prometheus exposition of the latest sample at http://ADDR:PORT/metrics
    ///
    /// Samples every --delay in the background (live only); each scrape gets the last
    /// interval's per-CPU interrupt and softirq rates, time in handlers, per-IRQ rates and the
    /// verdicts (opskit_itop_hot_cpus, opskit_itop_hot_cpu_share, opskit_itop_numa_remote_share).
    #[arg(long, value_name = "ADDR:PORT", conflicts_with_all = ["from", "format", "iterations", "batch"])]
    pub(crate) listen: Option<std::net::SocketAddr>,
}

impl Args {
    fn view_opts(&self) -> ViewOpts {
        ViewOpts {
            mode: if self.all {
                Mode::All
            } else if self.total {
                Mode::Total
            } else {
                Mode::Auto
            },
            cpus: self.cpus.clone().map(|c| c.0),
            top: self.top,
            sort: self.sort,
            filter: self.filter.clone(),
            hide_idle: self.hide_idle,
            by_device: self.by_device,
        }
    }

    fn source(&self) -> Source {
        if self.softirq {
            Source::Softirqs
        } else {
            Source::Interrupts
        }
    }
}

/// Whether samples come at the pace of the clock or are replayed from files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pace {
    Live,
    Replay,
}

pub(crate) fn run(args: Args, ctx: &Context) -> anyhow::Result<Outcome> {
    let opts = args.view_opts();
    if !args.from.is_empty() {
        if args.from.len() < 2 {
            return Err(UsageError(
                "--from needs at least two snapshots (--from a --from b)".into(),
            )
            .into());
        }
        if !args.stat.is_empty() && args.stat.len() != args.from.len() {
            return Err(UsageError(format!(
                "--stat: {} files for {} --from snapshots (one each)",
                args.stat.len(),
                args.from.len()
            ))
            .into());
        }
        let mut sampler = FileSampler::new(args.from.clone(), args.stat.clone(), args.delay);
        if args.interactive {
            return match tty::terminal() {
                Terminal::Usable(t) => interactive(&args, opts, &mut sampler, ctx, t),
                why => Err(UsageError(format!("--interactive: {why}")).into()),
            };
        }
        return batch(&args, &opts, &mut sampler, ctx, Pace::Replay);
    }
    let mut sampler = ProcSampler::new(&ctx.root, args.softirq);
    if let Some(addr) = args.listen {
        return listen(&args, opts, sampler, ctx, addr);
    }
    let batch_asked = args.batch || args.format != Format::Text || args.iterations.is_some();
    if batch_asked {
        return batch(&args, &opts, &mut sampler, ctx, Pace::Live);
    }
    match tty::terminal() {
        Terminal::Usable(t) => interactive(&args, opts, &mut sampler, ctx, t),
        Terminal::StdoutNotATerminal => batch(&args, &opts, &mut sampler, ctx, Pace::Live),
        why => {
            eprintln!("opskit itop: {why}: printing plain samples (-b)");
            batch(&args, &opts, &mut sampler, ctx, Pace::Live)
        }
    }
}

/// The first snapshot, with the checks that need it (`--cpus`, `--sort cpuN`: usage errors).
fn first_sample(
    sampler: &mut dyn Sampler,
    into: &mut Snapshot,
    opts: &ViewOpts,
) -> anyhow::Result<crate::itop::model::interrupts::Stamp> {
    let Some(stamp) = sampler.sample(into)? else {
        anyhow::bail!("{}: no snapshot", sampler.describe());
    };
    if let Some(w) = lossy_warning(&sampler.describe_last(), into) {
        eprintln!("opskit itop: {w}");
    }
    let missing = opts
        .check(into)
        .map_err(|m| UsageError(format!("{m} ({})", sampler.describe_last())))?;
    if !missing.is_empty() {
        let list = crate::common::units::format_cpu_list(&missing);
        eprintln!(
            "opskit itop: warning: --cpus: CPU {list} not online (absent from {}): showing the others",
            sampler.describe_last()
        );
    }
    Ok(stamp)
}

/// Plain samples: text tables, JSON lines, or one Prometheus exposition.
fn batch(
    args: &Args,
    opts: &ViewOpts,
    sampler: &mut dyn Sampler,
    ctx: &Context,
    pace: Pace,
) -> anyhow::Result<Outcome> {
    // one exposition is one sample
    let max = if args.format == Format::Prometheus {
        Some(1)
    } else {
        args.iterations
    };
    let mut soft = (args.format == Format::Prometheus && pace == Pace::Live && !args.softirq)
        .then(|| SoftSampler::new(&ctx.root));
    sample_loop(
        args,
        opts,
        sampler,
        ctx,
        pace,
        max,
        soft.as_mut(),
        &mut |s, so| {
            // streamed: a 100,000-CPU sample is never held whole as text
            let mut out = std::io::BufWriter::with_capacity(64 << 10, std::io::stdout().lock());
            match args.format {
                Format::Text => crate::itop::render::write_text(&mut out, s, opts),
                Format::Json => crate::itop::render::write_json(&mut out, s, opts),
                Format::Prometheus => crate::itop::render::prom::write_prometheus(&mut out, s, so),
            }
            .and_then(|()| out.flush())
            .context("writing to stdout")
        },
    )?;
    Ok(Outcome::Success)
}

/// /proc/softirqs sampled beside /proc/interrupts (for the Prometheus exposition); a read
/// error leaves the softirq rates out.
struct SoftSampler {
    sampler: ProcSampler,
    prev: Snapshot,
    cur: Snapshot,
    scratch: RateScratch,
    rates: Rates,
    ok: bool,
    /// When the last snapshot was read (its monotonic seconds).
    at: f64,
}

impl SoftSampler {
    fn new(root: &crate::common::root::Root) -> Self {
        SoftSampler {
            sampler: ProcSampler::new(root, true),
            prev: Snapshot::default(),
            cur: Snapshot::default(),
            scratch: RateScratch::default(),
            rates: Rates::default(),
            ok: false,
            at: 0.0,
        }
    }

    /// Read the next snapshot; rates against the one before when both were read.
    fn step(&mut self) {
        std::mem::swap(&mut self.prev, &mut self.cur);
        let had = self.ok;
        let before = self.at;
        self.ok = match self.sampler.sample(&mut self.cur) {
            Ok(Some(stamp)) => {
                self.at = stamp.mono;
                true
            }
            _ => false,
        };
        if had && self.ok {
            let elapsed = self.at - before;
            rates_into(
                &self.prev,
                &self.cur,
                elapsed,
                &mut self.scratch,
                &mut self.rates,
            );
        } else {
            self.rates = Rates::default();
        }
    }
}

/// Sample until `max` samples (or the source ends), judging each interval with the one judge
/// and handing it to `emit` (with the softirq rates when `soft` samples them).
#[allow(clippy::too_many_arguments)]
fn sample_loop(
    args: &Args,
    opts: &ViewOpts,
    sampler: &mut dyn Sampler,
    ctx: &Context,
    pace: Pace,
    max: Option<u64>,
    mut soft: Option<&mut SoftSampler>,
    emit: &mut dyn FnMut(&Sample, Option<&prom::Softirqs>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut prev = Snapshot::default();
    let mut cur = Snapshot::default();
    let mut pstamp = first_sample(sampler, &mut prev, opts)?;
    if let Some(so) = soft.as_deref_mut() {
        so.step();
    }
    let mut stats = StatReader::default();
    let mut pstat = stats.read(sampler);
    let start = Instant::now();
    let mut scratch = RateScratch::default();
    let mut rates = Rates::default();
    // captured snapshots have no /proc/irq beside them unless --root points at a capture
    let read_affinity = pace == Pace::Live || !ctx.root.is_live();
    let mut aff = AffinityReader::new(ctx.root.clone(), 10);
    let mut facts = Facts::default();
    let nodes = if read_affinity {
        cpu_nodes(&ctx.root)
    } else {
        CpuNodes::default()
    };
    let mut n = 0u64;
    while max.is_none_or(|max| n < max) {
        if pace == Pace::Live {
            let due = start + Duration::from_secs_f64(args.delay * (n + 1) as f64);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        let Some(stamp) = sampler.sample(&mut cur)? else {
            break;
        };
        if let Some(so) = soft.as_deref_mut() {
            so.step();
        }
        if let Some(w) = lossy_warning(&sampler.describe_last(), &cur) {
            if cur.lossy_lines != prev.lossy_lines {
                eprintln!("opskit itop: {w}");
            }
        }
        let elapsed = stamp.mono - pstamp.mono;
        rates_into(&prev, &cur, elapsed, &mut scratch, &mut rates);
        let stat = stats.read(sampler);
        if read_affinity {
            aff.fill(&cur, &rates, &mut facts);
        } else {
            facts.clear();
        }
        let report = judge(&Input {
            source: args.source(),
            prev_cpus: &prev.cpus,
            snap: &cur,
            rates: &rates,
            facts: &facts,
            nodes: &nodes,
            prev_stat: pstat.as_ref(),
            stat: stat.as_ref(),
        });
        let sample = Sample {
            snap: &cur,
            rates: &rates,
            stamp,
            source: args.source(),
            facts: &facts,
            nodes: &nodes,
            report: &report,
        };
        let softirqs = soft
            .as_deref()
            .filter(|so| so.ok && !so.rates.irqs.is_empty())
            .map(|so| prom::Softirqs {
                snap: &so.cur,
                rates: &so.rates,
            });
        emit(&sample, softirqs.as_ref())?;
        std::mem::swap(&mut prev, &mut cur);
        pstamp = stamp;
        pstat = stat;
        n += 1;
    }
    Ok(())
}

/// `--listen`: sample every --delay in a thread; each scrape gets the latest exposition.
fn listen(
    args: &Args,
    opts: ViewOpts,
    sampler: ProcSampler,
    ctx: &Context,
    addr: std::net::SocketAddr,
) -> anyhow::Result<Outcome> {
    use std::sync::{Arc, Mutex};
    let latest: Arc<Mutex<Vec<u8>>> = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel::<anyhow::Result<()>>();
    let args2 = Args {
        listen: None,
        ..args.clone()
    };
    let ctx2 = Context {
        root: ctx.root.clone(),
    };
    let store = latest.clone();
    std::thread::spawn(move || {
        let mut sampler = sampler;
        let mut soft = (!args2.softirq).then(|| SoftSampler::new(&ctx2.root));
        let mut first = Some(tx);
        let r = sample_loop(
            &args2,
            &opts,
            &mut sampler,
            &ctx2,
            Pace::Live,
            None,
            soft.as_mut(),
            &mut |s, so| {
                let mut out = Vec::new();
                crate::itop::render::prom::write_prometheus(&mut out, s, so)?;
                if let Ok(mut l) = store.lock() {
                    *l = out;
                }
                if let Some(tx) = first.take() {
                    let _ = tx.send(Ok(()));
                }
                Ok(())
            },
        );
        match (r, first.take()) {
            (Err(e), Some(tx)) => {
                let _ = tx.send(Err(e));
            }
            (Err(e), None) => {
                // never serve a stale sample as if it were current
                eprintln!("opskit itop: {}", crate::exit::one_line(&e));
                std::process::exit(1);
            }
            (Ok(()), _) => {}
        }
    });
    // the first interval before the first scrape: no empty exposition, and a bad /proc fails
    // here with its message
    rx.recv()
        .context("the sampling thread ended before the first sample")??;
    let scrape = move || latest.lock().map(|l| l.clone()).unwrap_or_default();
    crate::common::serve::serve("opskit itop", addr, Arc::new(scrape))?;
    Ok(Outcome::Success)
}

/// The TUI. Fallible setup happens before the terminal is touched; the terminal is restored
/// on quit, on SIGTERM/SIGHUP/SIGINT (via [`tui::STOP`]), when the terminal goes away, and on
/// panic (ratatui's hook).
fn interactive(
    args: &Args,
    opts: ViewOpts,
    sampler: &mut dyn Sampler,
    ctx: &Context,
    tty: tty::Tty,
) -> anyhow::Result<Outcome> {
    // fail (or refuse --cpus) before entering the alternate screen
    let mut probe = Snapshot::default();
    first_sample(sampler, &mut probe, &opts)?;
    sampler.rewind();
    tui::install_signal_handlers()?;
    let mut app = app::App::new(opts, args.delay, args.source());
    app.nodes = cpu_nodes(&ctx.root);
    let mut aff = AffinityReader::new(ctx.root.clone(), 10);
    let mut term = ratatui::try_init().context("setting up the terminal")?;
    let mut events = tui::TtyEvents::new(tty);
    let r = tui::run_loop(&mut term, &mut app, sampler, &mut events, &mut aff);
    let restored = ratatui::try_restore().context("restoring the terminal");
    r?;
    if let Some(sig) = tui::stopped_by() {
        // killed by a signal or a hangup: exit as the shell expects (the terminal may be gone)
        return Ok(Outcome::Signalled(sig));
    }
    restored?;
    Ok(Outcome::Success)
}
