use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let argv = match opskit::dispatch::normalize(std::env::args_os().collect()) {
        Ok(argv) => argv,
        Err(e) => {
            eprintln!("opskit: {e}");
            return ExitCode::from(2);
        }
    };
    let nagios = opskit::exit::wants_nagios(&argv);
    let cli = match opskit::cli::Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) if nagios && e.use_stderr() => return opskit::exit::nagios_usage(&e, "CONN-AUDIT"),
        Err(e) => return opskit::exit::from_clap(&e),
    };
    opskit::app::run(cli)
}
