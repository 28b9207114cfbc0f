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
    /// Install or upgrade packs, with their dependencies, atomically
    Install(InstallArgs),
    /// Remove installed packs (their configs are kept)
    Remove {
        /// Pack refs
        #[arg(required = true)]
        packs: Vec<String>,
        /// Also remove packs that ship with StackStorm or that other packs depend on
        #[arg(long)]
        force: bool,
        /// Seconds to wait for another stackpack working on the same root
        #[arg(long, default_value_t = 300, value_name = "SECS")]
        lock_timeout: u64,
    },
    /// Load installed packs' content into the registry, applying override policies
    Register(crate::register_cmd::RegisterArgs),
    /// Configure a pack from its config.schema.yaml (interactive, or --set / --from-file)
    Config(crate::config_cmd::ConfigArgs),
    /// Build or refresh an installed pack's Python virtualenv
    Venv {
        /// Pack ref
        pack: String,
        /// Rebuild even when nothing changed
        #[arg(long)]
        recreate: bool,
    },
    /// Search the pack indexes (name, keywords, description, author)
    Search {
        /// Words to look for
        query: String,
    },
    /// Show one pack's index entry (everything with --json)
    Show {
        /// Pack name or ref
        pack: String,
    },
    /// Pack indexes
    #[command(subcommand)]
    Index(IndexCommand),
    /// Manage plugins: list, add, remove, inspect, test
    #[command(subcommand)]
    Plugin(PluginCommand),
}

#[derive(Debug, Subcommand)]
pub enum IndexCommand {
    /// Per index: status, pack count and cache age; exit 1 when none is usable
    Health,
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Pack references: name, name=version, owner/repo, https://host/path[.git][=ref],
    /// ssh://…, git@host:group/pack, file:///dir[=ref]
    #[arg(required_unless_present = "locked", value_name = "REF")]
    pub packs: Vec<String>,
    /// Install only the packs named, not their dependencies
    #[arg(long)]
    pub skip_dependencies: bool,
    /// Install even when stackstorm_version or python_versions do not match
    #[arg(long)]
    pub force: bool,
    /// Install exactly what stackpack.lock records (all of it when no REF is given)
    #[arg(long)]
    pub locked: bool,
    /// Do not build the packs' Python virtualenvs
    #[arg(long)]
    pub no_venv: bool,
    /// Do not register the packs' content (run `stackpack register` later)
    #[arg(long)]
    pub no_register: bool,
    /// Seconds to wait for another stackpack working on the same root
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    pub lock_timeout: u64,
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// List the plugins in chain order: name, kind, order, origin, WIT version, sha256, grants
    List,
    /// Add a plugin component, pinned by its sha256, to <root>/plugins
    Add(crate::plugin_cmd::AddArgs),
    /// Remove an added plugin (its .wasm and its manifest)
    Remove {
        /// Plugin name
        name: String,
    },
    /// Show a plugin's world, API version, requested and granted hosts, limits and digests
    Inspect {
        /// Plugin name, or the path of a .wasm component
        target: String,
    },
    /// Run a resolver over references against recorded HTTP responses (author test kit)
    Test(crate::plugin_cmd::TestArgs),
}
