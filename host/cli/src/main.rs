//! The `stackpack` command: parses arguments, sets up logging, builds the session,
//! runs one operation of `stackpack-ops`, and prints its report (a table or `--json`);
//! an error becomes a message on stderr and the exit code of its kind (see `error.rs`).

mod cli;
mod config_cmd;
mod doctor_cmd;
mod error;
mod index_cmd;
mod install_cmd;
mod output;
mod packs_cmd;
mod plugin_cmd;
mod push_cmd;
mod register_cmd;
mod sync_cmd;

use std::io::IsTerminal;
use std::sync::Arc;

use clap::Parser;
use stackpack_ops::{Session, SessionOptions};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use cli::{Cli, Command, IndexCommand};
use error::CliError;

fn main() {
    let cli = Cli::parse();
    init_logging(&cli.global);
    if let Err(e) = run(&cli) {
        // A reader that closed stdout early (`stackpack list | head -1`) got what it
        // wanted.
        if e.is_broken_pipe() {
            std::process::exit(0);
        }
        if !matches!(e, CliError::Reported(_)) {
            eprintln!("error: {e}");
        }
        std::process::exit(e.exit_code());
    }
}

fn run(cli: &Cli) -> Result<(), CliError> {
    let g = &cli.global;
    let mut s = Session::new(&SessionOptions {
        root: g.root.clone(),
        config: g.config.clone(),
        index: g.index.clone(),
        offline: g.offline,
        cache_dir: g.cache_dir.clone(),
    })?;
    s.progress = Arc::new(output::Spinners::new());
    let json = g.json;
    match &cli.command {
        Command::List => packs_cmd::list(&s, json),
        Command::Get { pack } => packs_cmd::get(&s, pack, json),
        Command::Install(args) => install_cmd::install(&s, args, json),
        Command::Remove {
            packs,
            force,
            no_st2,
            lock_timeout,
        } => install_cmd::remove(&s, packs, *force, *lock_timeout, !*no_st2, json),
        Command::Sync(args) => sync_cmd::sync(&s, args, json),
        Command::Push(args) => push_cmd::push(&s, args, json),
        Command::Register(args) => register_cmd::register(&s, args, json),
        Command::Config(args) => config_cmd::config(&s, args, json),
        Command::Venv { pack, recreate } => packs_cmd::venv(&s, pack, *recreate, json),
        Command::Search { query } => index_cmd::search(&s, query, json),
        Command::Show { pack } => index_cmd::show(&s, pack, json),
        Command::Index(IndexCommand::Health) => index_cmd::health(&s, json),
        Command::Doctor => doctor_cmd::doctor(&s, json),
        Command::Plugin(cmd) => plugin_cmd::run(&s, cmd, json),
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
    // The OCI client logs token responses at debug level: its messages stop at info.
    let targets = tracing_subscriber::filter::Targets::new()
        .with_default(level)
        .with_target("oci_client", level.min(tracing::Level::INFO));
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .finish()
        .with(targets)
        .init();
}
