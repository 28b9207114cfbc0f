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
        /// Do not ask the configured StackStorm API ([st2]) to delete the packs' resources
        #[arg(long)]
        no_st2: bool,
        /// Seconds to wait for another stackpack working on the same root
        #[arg(long, default_value_t = 300, value_name = "SECS")]
        lock_timeout: u64,
    },
    /// Make this root exactly what a desired lockfile says (install, replace, remove);
    /// --check only compares, --status shows the last applied lockfile
    Sync(SyncArgs),
    /// Push a pack (installed, or a directory) or, with --lockfile, this root's lockfile
    /// and overrides, to an OCI registry
    Push(PushArgs),
    /// Load installed packs' content into the registry, applying override policies
    Register(RegisterArgs),
    /// Configure a pack from its config.schema.yaml (interactive, or --set / --from-file)
    Config(ConfigArgs),
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
    /// Check the configured StackStorm API ([st2]): reachable, the credential accepted,
    /// and which packs st2 registered differently from what is on disk (exit 1 then)
    Doctor,
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
    /// Do not hand the changed packs to the configured StackStorm API ([st2])
    #[arg(long)]
    pub no_st2: bool,
    /// Seconds to wait for another stackpack working on the same root
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    pub lock_timeout: u64,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// The pack (an installed pack's name, or a pack directory), then the destination
    /// oci://HOST[:PORT]/REPO[:TAG] (the tag defaults to the pack's version); with
    /// --lockfile, the destination alone, which names a tag
    #[arg(required = true, num_args = 1..=2, value_name = "PACK|DIR> <oci://HOST[:PORT]/REPO[:TAG]")]
    pub args: Vec<String>,
    /// Push this root's stackpack.lock and overrides/ (a fleet's desired state) instead of a pack
    #[arg(long)]
    pub lockfile: bool,
    /// Push this wasm component as a plugin artifact instead of a pack (the destination
    /// alone, which names a tag); add it with `plugin add oci://… --sha256 …`
    #[arg(long, value_name = "FILE.wasm", conflicts_with = "lockfile")]
    pub plugin: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The desired lockfile: a path, a file:// URL or an https:// URL
    #[arg(required_unless_present = "status", value_name = "LOCKFILE")]
    pub source: Option<String>,
    /// Change nothing: list the differences and exit 4 when the root differs
    #[arg(long, conflicts_with = "status")]
    pub check: bool,
    /// Show the sha256 of the last lockfile this root applied, and whether it still holds it
    #[arg(long, conflicts_with = "source")]
    pub status: bool,
    /// Install even when stackstorm_version or python_versions do not match
    #[arg(long)]
    pub force: bool,
    /// Do not build the packs' Python virtualenvs
    #[arg(long)]
    pub no_venv: bool,
    /// Do not register the changed packs' content (run `stackpack register` later)
    #[arg(long)]
    pub no_register: bool,
    /// Do not hand the changed and removed packs to the configured StackStorm API ([st2])
    #[arg(long)]
    pub no_st2: bool,
    /// Seconds to wait for another stackpack working on the same root
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    pub lock_timeout: u64,
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// List the plugins in chain order: name, kind, order, origin, WIT version, sha256, grants
    List,
    /// Add a plugin component, pinned by its sha256, to <root>/plugins
    Add(AddArgs),
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
    /// Test a plugin: a resolver over references against recorded HTTP responses, or an
    /// override policy over a sample pack (author test kit)
    Test(TestArgs),
    /// Start a plugin project: a Rust crate on the SDK or a Python project, with a
    /// README, its build command and a `plugin test` fixture
    New(NewArgs),
}

#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// Packs to register (default: every pack in every packs base path; registered
    /// packs no longer on disk are then unregistered)
    #[arg(value_name = "PACK")]
    pub packs: Vec<String>,
    /// Also load each pack's config (<root>/configs/<pack>.yaml), validated by its schema
    #[arg(long)]
    pub configs: bool,
    /// Do not hand the registered packs to the configured StackStorm API ([st2])
    #[arg(long, conflicts_with = "st2")]
    pub no_st2: bool,
    /// Only hand packs to the configured StackStorm API ([st2]): the PACKs named and
    /// those earlier handoffs could not send, without registering them locally again
    #[arg(long, conflicts_with_all = ["configs", "fail_on_failure"])]
    pub st2: bool,
    /// Refuse a pack with any invalid file (its previous registration is kept) and
    /// exit 1, instead of skipping the file
    #[arg(long)]
    pub fail_on_failure: bool,
    /// Register only these kinds of content, as `st2 pack register --types`: all,
    /// action(s), trigger(s), sensor(s), rule(s), alias(es), policy/policies,
    /// config(s), runner(s), rule_type(s), policy_type(s); comma-separated or repeated.
    /// Other kinds keep their registration
    #[arg(long, value_name = "TYPE", value_delimiter = ',', num_args = 1..,
          value_parser = parse_register_type)]
    pub types: Vec<stackpack_registry::RegisterType>,
}

fn parse_kind(s: &str) -> Result<stackpack_ops::scaffold::Kind, String> {
    stackpack_ops::scaffold::Kind::parse(s).ok_or_else(|| "use resolver or policy".to_string())
}

fn parse_lang(s: &str) -> Result<stackpack_ops::scaffold::Lang, String> {
    stackpack_ops::scaffold::Lang::parse(s).ok_or_else(|| "use rust or python".to_string())
}

fn parse_register_type(s: &str) -> Result<stackpack_registry::RegisterType, String> {
    stackpack_registry::RegisterType::parse(s.trim())
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Pack ref
    pub pack: String,
    /// Set a value (dotted path: `instances.0.host=db1`); repeatable, no prompts
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Take the values from a YAML file (then apply any --set)
    #[arg(long, value_name = "FILE")]
    pub from_file: Option<PathBuf>,
    /// Save without asking for confirmation
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Show the current config (secrets masked) and exit
    #[arg(long, conflicts_with_all = ["set", "from_file", "validate"])]
    pub show: bool,
    /// Validate the current config file against the schema and exit
    #[arg(long, conflicts_with_all = ["set", "from_file"])]
    pub validate: bool,
    /// Show the pack's config schema (key, type, required, secret, default, description;
    /// --json: st2's `{"pack": ..., "attributes": {...}}`) and exit
    #[arg(long, conflicts_with_all = ["set", "from_file", "show", "validate", "yes"])]
    pub schema: bool,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// The component: a path, a file:// URL or an https:// URL
    pub source: String,
    /// Its sha256 (64 hex digits); nothing is added when the bytes differ
    #[arg(long, value_name = "HEX")]
    pub sha256: String,
    /// Name to add it under [default: the name the component gives in describe()]
    #[arg(long)]
    pub name: Option<String>,
    /// Grant the plugin a host, `scheme://host[:port]`; repeat for several. Nothing else is granted
    #[arg(long = "grant", value_name = "ORIGIN")]
    pub grants: Vec<String>,
    /// Position in its chain: lower runs first; built-in resolvers sit at 100 (github) to 500 (git) [default: 0]
    #[arg(long, allow_negative_numbers = true)]
    pub order: Option<i64>,
    /// Memory limit per call, in MiB [default: 64]
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..))]
    pub memory_mib: Option<u64>,
    /// Guest time limit per call, in milliseconds [default: 5000]
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    pub time_ms: Option<u64>,
    /// A config value the plugin reads with config-get; repeat for several
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Replace a plugin already added under this name
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The plugin's name: lower-case letters, digits, `-` and `_`, starting with a letter
    pub name: String,
    /// What the plugin is: resolver or policy
    #[arg(long, value_parser = parse_kind)]
    pub kind: stackpack_ops::scaffold::Kind,
    /// The language it is written in: rust or python
    #[arg(long, value_parser = parse_lang)]
    pub lang: stackpack_ops::scaffold::Lang,
    /// Where to create it (must not exist, or be empty) [default: ./<name>]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// The plugin: a .wasm file (path, file:// or https:// URL), or the name of a plugin
    pub target: String,
    /// A resolver's references to resolve, one per line (`#` comments and blank lines are skipped)
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "pack",
        requires = "recorded"
    )]
    pub refs: Option<PathBuf>,
    /// Recorded responses: a JSON array of {"url", "status", "headers", "body"}, and of
    /// {"url", "git_refs"} for the `git ls-remote` of a repository
    #[arg(long, value_name = "FILE", requires = "refs")]
    pub recorded: Option<PathBuf>,
    /// An override policy's sample pack: the policy decides its resources as `register` would
    #[arg(long, value_name = "DIR", conflicts_with_all = ["refs", "recorded", "grants"])]
    pub pack: Option<PathBuf>,
    /// With --pack: expected verdicts, `<pack>.<name> keep|enable|disable` per line; a differing verdict fails
    #[arg(long, value_name = "FILE", requires = "pack")]
    pub expect: Option<PathBuf>,
    /// With --pack: the source the policy is told, e.g. `git:gitlab.example.com/ops/pack@<commit>` [default: unmanaged:<DIR>]
    #[arg(long, value_name = "SOURCE", requires = "pack")]
    pub source: Option<String>,
    /// With --pack: the site label the policy is told [default: the config's environment]
    #[arg(long, value_name = "LABEL", requires = "pack")]
    pub environment: Option<String>,
    /// A config value the plugin reads with config-get; repeat for several
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Grant a host, `scheme://host[:port]`; repeat for several [default: the origins of the recorded URLs]
    #[arg(long = "grant", value_name = "ORIGIN")]
    pub grants: Vec<String>,
}
