//! The `stackpack` command: parses arguments, sets up logging, runs one command, and
//! turns its error into a message on stderr and an exit code.

mod cli;
mod config_cmd;
mod context;
mod error;
mod indexes;
mod install_cmd;
mod output;
mod packs;
mod plugin_cmd;
mod plugins;
mod register_cmd;
mod venv_cmd;

use std::io::IsTerminal;

use clap::Parser;

use cli::{Cli, Command, IndexCommand};
use context::Context;
use error::CliError;

fn main() {
    let cli = Cli::parse();
    init_logging(&cli.global);
    if let Err(e) = run(&cli) {
        if !matches!(e, CliError::Reported) {
            eprintln!("error: {e}");
        }
        std::process::exit(e.exit_code());
    }
}

fn run(cli: &Cli) -> Result<(), CliError> {
    let ctx = Context::new(&cli.global)?;
    match &cli.command {
        Command::List => packs::list(&ctx),
        Command::Get { pack } => packs::get(&ctx, pack),
        Command::Install(args) => install_cmd::install(&ctx, args),
        Command::Remove {
            packs,
            force,
            lock_timeout,
        } => install_cmd::remove(&ctx, packs, *force, *lock_timeout),
        Command::Register(args) => register_cmd::register(&ctx, args),
        Command::Config(args) => config_cmd::config(&ctx, args),
        Command::Venv { pack, recreate } => venv_cmd::venv(&ctx, pack, *recreate),
        Command::Search { query } => indexes::search(&ctx, query),
        Command::Show { pack } => indexes::show(&ctx, pack),
        Command::Index(IndexCommand::Health) => indexes::health_cmd(&ctx),
        Command::Plugin(cmd) => plugin_cmd::run(&ctx, cmd),
    }
}

fn init_logging(g: &cli::Global) {
    let level = match (g.quiet, g.verbose) {
        (true, _) => tracing::Level::ERROR,
        (false, 0) => tracing::Level::WARN,
        (false, 1) => tracing::Level::INFO,
        (false, 2) => tracing::Level::DEBUG,
        _ => tracing::Level::TRACE,
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
