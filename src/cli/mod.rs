//! The `keymint` command line: clap derive, one file per command. Commands
//! that print data print JSON on stdout; errors go to stderr with exit 1.

mod bootstrap;
mod migrate;
mod serve;
mod signing_keys;
mod token;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;

#[derive(Debug, Parser)]
#[command(
    name = "keymint",
    version,
    about = "Exchange long-lived API secrets for short-lived JWTs."
)]
pub struct Cli {
    /// Log filter, env_logger syntax (e.g. `info`, `keymint=debug,actix_web=warn`).
    #[arg(long = "log", env = "RUST_LOG", default_value = "info", global = true)]
    pub log_filter: String,
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create a workspace, its owner and a workspace key with every scope.
    Bootstrap(bootstrap::Args),
    /// List, rotate, retire or import signing keys (the keys folder).
    #[command(subcommand)]
    SigningKeys(signing_keys::Command),
    /// Verify an access token.
    #[command(subcommand)]
    Token(token::Command),
}

/// Runs the parsed command line; the exit code says how it went.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve::run(cli.config),
        Command::Migrate => migrate::run(&cli.config),
        Command::Bootstrap(args) => bootstrap::run(&cli.config, args),
        Command::SigningKeys(command) => signing_keys::run(&cli.config, command),
        Command::Token(command) => token::run(&cli.config, command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Prints a value as one line of JSON on stdout.
fn print_json(value: &impl serde::Serialize) -> Result<(), String> {
    let text = serde_json::to_string(value).map_err(|e| e.to_string())?;
    println!("{text}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_work_before_and_after_the_command() {
        let cli = Cli::try_parse_from([
            "keymint",
            "--bind",
            "0.0.0.0:9000",
            "migrate",
            "--keys-dir",
            "/k",
        ])
        .unwrap();
        assert_eq!(cli.config.bind, "0.0.0.0:9000");
        assert_eq!(cli.config.keys_dir, std::path::PathBuf::from("/k"));
        assert!(matches!(cli.command, Some(Command::Migrate)));
        let bad = Cli::try_parse_from(["keymint", "--signing-alg", "HS256"]);
        assert!(bad.is_err());
    }
}
