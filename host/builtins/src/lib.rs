//! The built-in plugins: the github, gitlab, file, index and generic git source
//! resolvers and the default override policy. Their sources live under `plugins/`; `build.rs` compiles
//! them for `wasm32-wasip2` during the normal build and this crate embeds the
//! components, so the binary carries them and a clean clone builds with cargo alone.
//! Built-ins run in the same sandbox, through the same WIT worlds, as third-party
//! plugins: they are ordinary [`Builtin`] components that happen to ship inside.

/// The world a built-in implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Resolver,
    Policy,
}

/// One embedded plugin.
#[derive(Debug)]
pub struct Builtin {
    pub name: &'static str,
    pub kind: Kind,
    /// Hex sha256 of `wasm`, computed at build time.
    pub sha256: &'static str,
    /// Hosts granted before the operator's config adds any.
    pub default_grants: &'static [&'static str],
    pub wasm: &'static [u8],
    /// `wasm` compiled to machine code at build time with the plugin runtime's engine
    /// settings, for the target the binary runs on; `None` when the build could not
    /// precompile it. Private: only this crate's build makes it, so whoever loads it
    /// knows it came from this binary.
    precompiled: Option<&'static [u8]>,
}

impl Builtin {
    /// The machine code this build made from [`Builtin::wasm`], if any. Only wasmtime's
    /// compatibility check (done when it is loaded) says whether it suits the engine
    /// that runs.
    pub fn precompiled(&self) -> Option<&'static [u8]> {
        self.precompiled
    }
}

include!(concat!(env!("OUT_DIR"), "/builtins.rs"));

/// The built-in resolvers in chain order, then the default policy.
pub fn all() -> &'static [Builtin] {
    BUILTINS
}

/// A built-in by name.
pub fn get(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}
