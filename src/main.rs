use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = keymint::cli::Cli::parse();
    env_logger::Builder::new()
        .parse_filters(&cli.log_filter)
        .init();
    keymint::cli::run(cli)
}
