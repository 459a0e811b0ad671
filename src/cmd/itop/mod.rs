//! `opskit itop`: top-like per-CPU interrupt rates from /proc/interrupts.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::cmd::Context;
use crate::domain::interrupts::{imbalance, rates_into, RateScratch, Rates, Snapshot};
use crate::exit::Outcome;
use crate::sys::interrupts::{AffinityReader, FileSampler, ProcSampler, Sampler};

pub mod app;
pub mod batch;
pub mod tui;
pub mod ui;
pub mod view;

use view::{Mode, SortKey, ViewOpts};

/// A CPU list option value (`0-3,8,10-11`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuList(pub Vec<u32>);

fn parse_cpus(s: &str) -> Result<CpuList, String> {
    crate::domain::units::clap_parsers::cpu_list(s).and_then(|v| {
        if v.is_empty() {
            Err("empty CPU list".into())
        } else {
            Ok(CpuList(v))
        }
    })
}

fn parse_delay(s: &str) -> Result<f64, String> {
    let d = crate::domain::units::clap_parsers::duration(s)?.as_secs_f64();
    if d < 0.01 {
        return Err(format!("delay '{s}' is too short: at least 0.01 s"));
    }
    Ok(d)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// An aligned table per sample
    Text,
    /// One JSON object per line per sample
    Json,
}

#[derive(Debug, clap::Args)]
#[command(
    about = "Top-like per-CPU interrupt rates from /proc/interrupts",
    long_about = "Top-like per-CPU interrupt rates from /proc/interrupts.\n\n\
        Shows interrupts per second per IRQ: a column per CPU on boxes with 8 CPUs or fewer, \
        only the per-IRQ total above that (-a and -t force either). Rates are computed over the \
        measured interval; a new IRQ shows no rate on its first sample; CPUs are matched by id, \
        so one going offline never shifts columns. Each numbered IRQ shows its affinity \
        (effective_affinity_list, else smp_affinity_list), and a CPU taking most device \
        interrupts is called out.\n\n\
        On a terminal it is interactive (press ? for keys); when stdout is not a terminal, or \
        with -b, it prints plain samples.",
    after_help = "Examples:\n  \
        opskit itop -t                       # totals on a big box\n  \
        opskit itop -b -n 5 --top 10         # five samples of the 10 busiest IRQs\n  \
        opskit itop -b -n 1 --format json    # one JSON object per sample\n  \
        cat /proc/interrupts > a; sleep 10; cat /proc/interrupts > b\n  \
        opskit itop --from a --from b -d 10  # rates between captured snapshots"
)]
pub struct Args {
    /// A column per CPU (the default with 8 CPUs or fewer)
    #[arg(short = 'a', long = "all", conflicts_with = "total")]
    pub all: bool,

    /// Only the per-IRQ total (the default above 8 CPUs)
    #[arg(short = 't', long = "total")]
    pub total: bool,

    /// Seconds between samples (0.5, 2, 500ms)
    ///
    /// With --from: the seconds between the captured snapshots.
    #[arg(short = 'd', long, value_name = "SECS", default_value = "1", value_parser = parse_delay)]
    pub delay: f64,

    /// Only these CPUs, in kernel list syntax (0-3,8,10-11)
    ///
    /// Restricts the columns, the per-IRQ totals and the JSON keys to these CPU ids.
    #[arg(long, value_name = "LIST", value_parser = parse_cpus)]
    pub cpus: Option<CpuList>,

    /// Show only the N busiest rows (after sorting and filtering)
    #[arg(long, value_name = "N")]
    pub top: Option<usize>,

    /// Sort by: rate (default), irq, name, or a CPU id (cpu3 or 3)
    #[arg(long, value_name = "KEY", default_value = "rate", value_parser = SortKey::parse)]
    pub sort: SortKey,

    /// Only rows whose IRQ label or name contains TEXT (case-insensitive)
    #[arg(long, value_name = "TEXT")]
    pub filter: Option<String>,

    /// Hide rows with no interrupts during the interval
    #[arg(long)]
    pub hide_idle: bool,

    /// Show /proc/softirqs instead of /proc/interrupts
    ///
    /// /proc/softirqs has a column for every *possible* CPU, not only the online ones.
    #[arg(long)]
    pub softirq: bool,

    /// Plain samples even on a terminal (automatic when stdout is not a terminal)
    #[arg(short = 'b', long)]
    pub batch: bool,

    /// Stop after N samples (batch mode)
    #[arg(short = 'n', long, value_name = "N")]
    pub iterations: Option<u64>,

    /// Batch output format
    #[arg(long, value_enum, default_value_t = Format::Text, value_name = "FORMAT")]
    pub format: Format,

    /// Rates between captured snapshots instead of live sampling (repeat: --from a --from b)
    ///
    /// Consecutive files are --delay seconds apart; nothing sleeps. Implies batch mode.
    #[arg(long, value_name = "FILE", action = clap::ArgAction::Append)]
    pub from: Vec<PathBuf>,
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
        }
    }
}

pub fn run(args: Args, ctx: &Context) -> anyhow::Result<Outcome> {
    let source = if args.softirq {
        "softirqs"
    } else {
        "interrupts"
    };
    let opts = args.view_opts();
    if !args.from.is_empty() {
        if args.from.len() < 2 {
            anyhow::bail!("--from needs at least two snapshots (--from a --from b)");
        }
        let mut sampler = FileSampler::new(args.from.clone(), args.delay);
        return batch(&args, &opts, source, &mut sampler, ctx, false);
    }
    let mut sampler = ProcSampler::new(&ctx.root, args.softirq);
    let tty = std::io::stdout().is_terminal();
    if args.batch || !tty || args.format == Format::Json || args.iterations.is_some() {
        return batch(&args, &opts, source, &mut sampler, ctx, true);
    }
    interactive(&args, opts, source, &mut sampler, ctx)
}

/// Plain samples: text tables or JSON lines.
fn batch(
    args: &Args,
    opts: &ViewOpts,
    source: &'static str,
    sampler: &mut dyn Sampler,
    ctx: &Context,
    live: bool,
) -> anyhow::Result<Outcome> {
    let mut prev = Snapshot::default();
    let mut cur = Snapshot::default();
    let Some(mut pstamp) = sampler.sample(&mut prev)? else {
        anyhow::bail!("{}: no snapshot", sampler.describe());
    };
    let start = Instant::now();
    let mut scratch = RateScratch::default();
    let mut rates = Rates::default();
    // captured snapshots have no /proc/irq beside them unless --root points at a capture
    let read_affinity = live || !ctx.root.is_live();
    let mut aff = AffinityReader::new(ctx.root.clone(), 10);
    let mut affinity: Vec<Option<String>> = Vec::new();
    let mut out = String::new();
    let stdout = std::io::stdout();
    let mut n = 0u64;
    while args.iterations.is_none_or(|max| n < max) {
        if live {
            let due = start + Duration::from_secs_f64(args.delay * (n + 1) as f64);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        let Some(stamp) = sampler.sample(&mut cur)? else {
            break;
        };
        rates_into(
            &prev,
            &cur,
            stamp.mono - pstamp.mono,
            &mut scratch,
            &mut rates,
        );
        aff.tick();
        affinity.clear();
        for ir in &rates.irqs {
            let a = if read_affinity {
                aff.get(cur.row(ir.row).label)
            } else {
                None
            };
            affinity.push(a.map(str::to_string));
        }
        let imb = imbalance(&cur, &rates, 0.5, 100.0);
        let sample = batch::Sample {
            snap: &cur,
            rates: &rates,
            stamp,
            affinity: &affinity,
            imbalance: imb.as_ref(),
            source,
        };
        out.clear();
        match args.format {
            Format::Text => batch::write_text(&mut out, &sample, opts),
            Format::Json => batch::write_json(&mut out, &sample, opts),
        }
        let mut lock = stdout.lock();
        lock.write_all(out.as_bytes())
            .and_then(|()| lock.flush())
            .context("writing to stdout")?;
        std::mem::swap(&mut prev, &mut cur);
        pstamp = stamp;
        n += 1;
    }
    Ok(Outcome::Success)
}

/// The TUI. Fallible setup happens before the terminal is touched; the terminal is restored
/// on quit, on SIGTERM/SIGHUP/SIGINT (via [`tui::STOP`]) and on panic (ratatui's hook).
fn interactive(
    args: &Args,
    opts: ViewOpts,
    source: &'static str,
    sampler: &mut ProcSampler,
    ctx: &Context,
) -> anyhow::Result<Outcome> {
    // fail before entering the alternate screen if the file cannot be read
    let mut probe = Snapshot::default();
    sampler.sample(&mut probe)?;
    tui::install_signal_handlers()?;
    let mut app = app::App::new(opts, args.delay, source);
    let mut aff = AffinityReader::new(ctx.root.clone(), 10);
    let mut term = ratatui::try_init().context("setting up the terminal")?;
    let r = tui::run_loop(
        &mut term,
        &mut app,
        sampler,
        &mut tui::CrosstermEvents,
        &mut aff,
    );
    ratatui::try_restore().context("restoring the terminal")?;
    r?;
    if tui::STOP.load(std::sync::atomic::Ordering::SeqCst) {
        // killed by a signal: the terminal is back; exit as the shell expects
        return Ok(Outcome::Signalled(libc::SIGTERM));
    }
    Ok(Outcome::Success)
}
