//! The wasmtime settings of the plugin engine, in a file of its own: the build of
//! `stackpack-builtins` includes this same file to precompile the built-in plugins, so
//! the code shipped in the binary is made with exactly the settings that load it.
//! Keep it free of anything but `wasmtime`.

/// The engine settings every plugin runtime uses.
pub fn config() -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true).epoch_interruption(true);
    config
}
