use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong loading or calling a plugin. Each message names the
/// plugin, what failed and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("could not set up the WebAssembly engine: {0}")]
    Engine(String),

    #[error(
        "plugin {plugin} is not a valid WebAssembly component: {reason}. \
         Rebuild it with `cargo build --target wasm32-wasip2` against wit/plugin.wit"
    )]
    InvalidComponent { plugin: String, reason: String },

    #[error(
        "plugin {plugin} is not a stackpack plugin: it exports neither \
         stackpack:plugin/resolver nor stackpack:plugin/policy (it exports: {exports})"
    )]
    NotAPlugin { plugin: String, exports: String },

    #[error(
        "plugin {plugin} targets stackpack:plugin@{found}; this stackpack supports {supported}. \
         Upgrade stackpack or use a build of the plugin for a supported API version"
    )]
    UnsupportedApi {
        plugin: String,
        found: String,
        supported: String,
    },

    #[error(
        "plugin {plugin} declares {count} {what}, more than the {ceiling} stackpack allows; \
         it was not run. Rebuild it with fewer, or ask its author"
    )]
    TooLarge {
        plugin: String,
        what: &'static str,
        count: u64,
        ceiling: u64,
    },

    #[error("plugin {plugin} does not fit the {world} world: {reason}")]
    Link {
        plugin: String,
        world: &'static str,
        reason: String,
    },

    #[error("plugin {plugin} is a {actual}, not a {wanted}; check its `kind` in the config")]
    WrongKind {
        plugin: String,
        actual: &'static str,
        wanted: &'static str,
    },

    #[error(
        "plugin {plugin} exceeded its time limit of {} ms in `{call}` and was stopped; \
         raise `time_ms` under `[plugins.{plugin}]` in the config only if you trust it",
        limit.as_millis()
    )]
    TimeLimit {
        plugin: String,
        call: &'static str,
        limit: Duration,
    },

    #[error(
        "plugin {plugin} exceeded its memory limit of {} MiB in `{call}` and was stopped; \
         raise `memory_mib` under `[plugins.{plugin}]` in the config only if you trust it",
        limit_bytes / (1024 * 1024)
    )]
    MemoryLimit {
        plugin: String,
        call: &'static str,
        limit_bytes: usize,
    },

    #[error("plugin {plugin} crashed in `{call}`: {reason}")]
    Trap {
        plugin: String,
        call: &'static str,
        reason: String,
    },

    #[error("plugin {plugin} returned {returned} verdicts for {expected} resources in `decide`")]
    BadReply {
        plugin: String,
        expected: usize,
        returned: usize,
    },

    #[error(
        "plugin {plugin} answered with a source stackpack cannot use: {reason}; the plugin \
         must be fixed (ask its author)"
    )]
    BadSource { plugin: String, reason: String },

    #[error("invalid host grant {grant:?} for plugin {plugin}: {reason}")]
    Grant {
        plugin: String,
        grant: String,
        reason: String,
    },

    #[error("could not use the plugin code cache at {path}: {reason}")]
    Cache { path: PathBuf, reason: String },
}
