use std::process::ExitCode;

use clap::FromArgMatches;

fn main() -> ExitCode {
    let argv = match opskit::dispatch::normalize(std::env::args_os().collect()) {
        Ok(argv) => argv,
        Err(e) => {
            eprintln!("opskit: {e}");
            return ExitCode::from(2);
        }
    };
    let nagios = opskit::exit::wants_nagios(&argv);
    // the command with the manual's text as `--help`'s long epilogue (src/manual.rs)
    let parsed = opskit::manual::command()
        .try_get_matches_from(argv)
        .and_then(|m| opskit::cli::Cli::from_arg_matches(&m))
        .map_err(|e| e.format(&mut opskit::manual::command()));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) if nagios && e.use_stderr() => return opskit::exit::nagios_usage(&e, "CONN-AUDIT"),
        Err(e) => return opskit::exit::from_clap(&e),
    };
    opskit::app::run(cli)
}
