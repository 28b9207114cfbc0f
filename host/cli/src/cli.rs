//! Command-line definitions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// A pack manager for StackStorm packs: fast, safe, reproducible, and extended by
/// sandboxed WebAssembly plugins.
#[derive(Debug, Parser)]
#[command(name = "stackpack", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Root holding packs/, virtualenvs/, configs/, overrides/, registry.db, the cache
    /// and the lockfile [default: /opt/stackstorm, or base_path from an st2.conf]
    #[arg(long, global = true, env = "STACKPACK_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// Settings file: stackpack.toml or an existing st2.conf [default: <root>/stackpack.toml]
    #[arg(long, global = true, env = "STACKPACK_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Pack index URL or path; repeat for several, highest priority first (replaces index_url)
    #[arg(long = "index", global = true, value_name = "URL")]
    pub index: Vec<String>,

    /// Use only what is cached; never touch the network
    #[arg(long, global = true)]
    pub offline: bool,

    /// Machine-readable output on stdout
    #[arg(long, global = true)]
    pub json: bool,

    /// Cache directory [default: <root>/cache]
    #[arg(
        long,
        global = true,
        env = "STACKPACK_CACHE_DIR",
        value_name = "DIR",
        hide_short_help = true
    )]
    pub cache_dir: Option<PathBuf>,

    /// More output (-v info, -vv debug, -vvv trace)
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Only errors
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List installed packs across all packs base paths
    List,
    /// Show one installed pack
    Get {
        /// Pack ref
        pack: String,
    },
    /// Inspect plugins
    #[command(subcommand)]
    Plugin(PluginCommand),
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// List the plugins: name, kind, WIT version, sha256, granted hosts
    List,
}
