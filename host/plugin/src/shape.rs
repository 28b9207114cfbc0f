//! What a component declares: how many core instances one instantiation creates, and
//! how many memories and tables those instances define. Read once per load with
//! `wasmparser` (no validation, no compilation), so the per-call store limits can be
//! derived from the component itself and a component that declares absurd counts is
//! refused before anything is compiled or run.
//!
//! wasmtime charges a store one instance per core module instantiated, plus the
//! memories and tables that module defines (imported ones are not counted again); the
//! counts here follow the same rule, nested components included, each multiplied by
//! the number of times it is instantiated.

use wasmparser::{
    ComponentAlias, ComponentExternalKind, ComponentInstance, ComponentOuterAliasKind,
    ComponentTypeRef, Instance, Parser, Payload,
};

use crate::error::PluginError;

/// The most a component may declare. Above any of these, a plugin is refused at load
/// (and so at `plugin add`). A componentize-py 0.25 policy declares 14 core instances,
/// 1 memory and 2 tables (CPython and its libraries are linked into one memory); a Rust
/// wasm32-wasip2 guest 3 instances, 1 memory and 2 tables. The ceilings leave several
/// times that for other toolchains and larger apps.
pub const MAX_INSTANCES: u64 = 100;
/// See [`MAX_INSTANCES`].
pub const MAX_MEMORIES: u64 = 20;
/// See [`MAX_INSTANCES`].
pub const MAX_TABLES: u64 = 100;

/// The per-store counts of one instantiation of a component.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Shape {
    /// Core module instances created.
    pub instances: u64,
    /// Linear memories those instances define.
    pub memories: u64,
    /// Tables those instances define.
    pub tables: u64,
}

impl Shape {
    fn add(&mut self, other: Shape, times: u64) {
        self.instances = self
            .instances
            .saturating_add(other.instances.saturating_mul(times));
        self.memories = self
            .memories
            .saturating_add(other.memories.saturating_mul(times));
        self.tables = self
            .tables
            .saturating_add(other.tables.saturating_mul(times));
    }

    /// Refuses a component declaring more than a ceiling allows.
    pub fn check(&self, plugin: &str) -> Result<(), PluginError> {
        for (what, count, ceiling) in [
            ("core instances", self.instances, MAX_INSTANCES),
            ("memories", self.memories, MAX_MEMORIES),
            ("tables", self.tables, MAX_TABLES),
        ] {
            if count > ceiling {
                return Err(PluginError::TooLarge {
                    plugin: plugin.to_string(),
                    what,
                    count,
                    ceiling,
                });
            }
        }
        Ok(())
    }
}

/// A core module as instantiation sees it.
#[derive(Clone, Copy)]
enum ModuleRef {
    /// Defined in this file: its own memories and tables.
    Known { memories: u64, tables: u64 },
    /// Imported or taken from an instance's exports: not resolvable statically,
    /// charged as the largest module of the file.
    Unknown,
}

#[derive(Clone, Copy)]
enum ComponentRef {
    Known(Shape),
    /// Imported or taken from an instance's exports: charged as every instantiation
    /// in the file at once.
    Unknown,
}

/// One component being read: its index spaces of modules and components, and what
/// its own instantiations cost so far.
#[derive(Default)]
struct Scope {
    modules: Vec<ModuleRef>,
    components: Vec<ComponentRef>,
    shape: Shape,
    /// Instantiations of modules that cannot be resolved here.
    unknown_modules: u64,
    /// Instantiations of components that cannot be resolved here.
    unknown_components: u64,
}

/// One module being read.
#[derive(Default)]
struct ModuleCounts {
    memories: u64,
    tables: u64,
}

enum Frame {
    Component(Scope),
    Module(ModuleCounts),
}

/// Reads a component's declared counts. `bytes` that are not a component, or that
/// cannot be parsed, are an [`PluginError::InvalidComponent`].
pub fn read(plugin: &str, bytes: &[u8]) -> Result<Shape, PluginError> {
    let invalid = |reason: String| PluginError::InvalidComponent {
        plugin: plugin.to_string(),
        reason,
    };
    let mut stack: Vec<Frame> = Vec::new();
    // Whole-file figures for what cannot be resolved statically.
    let mut largest_module = (0u64, 0u64);
    let mut flat = Shape::default();
    let mut result: Option<(Scope, Shape)> = None;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| invalid(e.to_string()))?;
        match payload {
            Payload::Version { encoding, .. } => stack.push(match encoding {
                wasmparser::Encoding::Component => Frame::Component(Scope::default()),
                wasmparser::Encoding::Module => Frame::Module(ModuleCounts::default()),
            }),
            Payload::MemorySection(r) => {
                if let Some(Frame::Module(m)) = stack.last_mut() {
                    m.memories = m.memories.saturating_add(u64::from(r.count()));
                }
            }
            Payload::TableSection(r) => {
                if let Some(Frame::Module(m)) = stack.last_mut() {
                    m.tables = m.tables.saturating_add(u64::from(r.count()));
                }
            }
            Payload::ComponentImportSection(r) => {
                let Some(Frame::Component(scope)) = stack.last_mut() else {
                    continue;
                };
                for import in r {
                    match import.map_err(|e| invalid(e.to_string()))?.ty {
                        ComponentTypeRef::Module(_) => scope.modules.push(ModuleRef::Unknown),
                        ComponentTypeRef::Component(_) => {
                            scope.components.push(ComponentRef::Unknown)
                        }
                        _ => {}
                    }
                }
            }
            Payload::ComponentAliasSection(r) => {
                let depth = stack.len();
                for alias in r {
                    let alias = alias.map_err(|e| invalid(e.to_string()))?;
                    match alias {
                        ComponentAlias::InstanceExport { kind, .. } => {
                            if let Some(Frame::Component(scope)) = stack.last_mut() {
                                match kind {
                                    ComponentExternalKind::Module => {
                                        scope.modules.push(ModuleRef::Unknown)
                                    }
                                    ComponentExternalKind::Component => {
                                        scope.components.push(ComponentRef::Unknown)
                                    }
                                    _ => {}
                                }
                            }
                        }
                        ComponentAlias::Outer { kind, count, index } => {
                            let outer = usize::try_from(count)
                                .ok()
                                .and_then(|c| depth.checked_sub(1 + c))
                                .and_then(|i| match stack.get(i) {
                                    Some(Frame::Component(s)) => Some(s),
                                    _ => None,
                                });
                            let index = index as usize;
                            match kind {
                                ComponentOuterAliasKind::CoreModule => {
                                    let found = outer
                                        .and_then(|s| s.modules.get(index).copied())
                                        .unwrap_or(ModuleRef::Unknown);
                                    if let Some(Frame::Component(scope)) = stack.last_mut() {
                                        scope.modules.push(found);
                                    }
                                }
                                ComponentOuterAliasKind::Component => {
                                    let found = outer
                                        .and_then(|s| s.components.get(index).copied())
                                        .unwrap_or(ComponentRef::Unknown);
                                    if let Some(Frame::Component(scope)) = stack.last_mut() {
                                        scope.components.push(found);
                                    }
                                }
                                _ => {}
                            }
                        }
                        ComponentAlias::CoreInstanceExport { .. } => {}
                    }
                }
            }
            Payload::ComponentExportSection(r) => {
                // An export adds the exported item to its index space again.
                let Some(Frame::Component(scope)) = stack.last_mut() else {
                    continue;
                };
                for export in r {
                    let export = export.map_err(|e| invalid(e.to_string()))?;
                    let index = export.index as usize;
                    match export.kind {
                        ComponentExternalKind::Module => {
                            let m = scope
                                .modules
                                .get(index)
                                .copied()
                                .unwrap_or(ModuleRef::Unknown);
                            scope.modules.push(m);
                        }
                        ComponentExternalKind::Component => {
                            let c = scope
                                .components
                                .get(index)
                                .copied()
                                .unwrap_or(ComponentRef::Unknown);
                            scope.components.push(c);
                        }
                        _ => {}
                    }
                }
            }
            Payload::InstanceSection(r) => {
                let Some(Frame::Component(scope)) = stack.last_mut() else {
                    continue;
                };
                for instance in r {
                    if let Instance::Instantiate { module_index, .. } =
                        instance.map_err(|e| invalid(e.to_string()))?
                    {
                        flat.instances = flat.instances.saturating_add(1);
                        match scope.modules.get(module_index as usize) {
                            Some(ModuleRef::Known { memories, tables }) => {
                                let (memories, tables) = (*memories, *tables);
                                scope.shape.add(
                                    Shape {
                                        instances: 1,
                                        memories,
                                        tables,
                                    },
                                    1,
                                );
                                flat.memories = flat.memories.saturating_add(memories);
                                flat.tables = flat.tables.saturating_add(tables);
                            }
                            _ => {
                                scope.shape.instances = scope.shape.instances.saturating_add(1);
                                scope.unknown_modules = scope.unknown_modules.saturating_add(1);
                            }
                        }
                    }
                }
            }
            Payload::ComponentInstanceSection(r) => {
                let Some(Frame::Component(scope)) = stack.last_mut() else {
                    continue;
                };
                for instance in r {
                    if let ComponentInstance::Instantiate {
                        component_index, ..
                    } = instance.map_err(|e| invalid(e.to_string()))?
                    {
                        match scope.components.get(component_index as usize) {
                            Some(ComponentRef::Known(shape)) => {
                                let shape = *shape;
                                scope.shape.add(shape, 1);
                            }
                            _ => {
                                scope.unknown_components =
                                    scope.unknown_components.saturating_add(1);
                            }
                        }
                    }
                }
            }
            Payload::End(_) => match stack.pop() {
                Some(Frame::Module(m)) => {
                    largest_module.0 = largest_module.0.max(m.memories);
                    largest_module.1 = largest_module.1.max(m.tables);
                    if let Some(Frame::Component(parent)) = stack.last_mut() {
                        parent.modules.push(ModuleRef::Known {
                            memories: m.memories,
                            tables: m.tables,
                        });
                    }
                }
                Some(Frame::Component(scope)) => {
                    let shape = scope.shape;
                    match stack.last_mut() {
                        Some(Frame::Component(parent)) => {
                            parent.components.push(ComponentRef::Known(shape));
                            // Unresolved instantiations inside it bubble up as such.
                            parent.unknown_modules =
                                parent.unknown_modules.saturating_add(scope.unknown_modules);
                            parent.unknown_components = parent
                                .unknown_components
                                .saturating_add(scope.unknown_components);
                        }
                        _ => result = Some((scope, shape)),
                    }
                }
                None => {}
            },
            _ => {}
        }
    }
    let Some((top, mut shape)) = result else {
        return Err(invalid(
            "the file is a core WebAssembly module or is cut short, not a component".into(),
        ));
    };
    // What could not be resolved is charged at the most it could cost.
    shape.memories = shape
        .memories
        .saturating_add(top.unknown_modules.saturating_mul(largest_module.0));
    shape.tables = shape
        .tables
        .saturating_add(top.unknown_modules.saturating_mul(largest_module.1));
    shape.add(flat, top.unknown_components);
    Ok(shape)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use stackpack_testkit::guests::{declaring, nested};

    /// Safe outcome: the counts read are the ones the component declares.
    #[test]
    fn counts_what_the_component_declares() {
        let shape = read("t", &declaring(7, 3, 5)).unwrap();
        assert_eq!(
            shape,
            Shape {
                instances: 7,
                memories: 3,
                tables: 5
            }
        );
        assert!(shape.check("t").is_ok());
    }

    /// Safe outcome: a nested component's instances count once per instantiation of it.
    #[test]
    fn nested_components_multiply() {
        let shape = read("t", &nested(3, 4)).unwrap();
        assert_eq!((shape.instances, shape.memories), (12, 12));
        // 2^k blow-up through nesting is counted, not overflowed.
        let shape = read("t", &nested(u32::from(u16::MAX), u32::from(u16::MAX))).unwrap();
        assert!(shape.check("t").is_err());
    }

    /// Safe outcome: absurd counts are refused with the plugin, the count and the
    /// ceiling named.
    #[test]
    fn absurd_counts_are_refused_naming_count_and_ceiling() {
        for (bytes, what, count, ceiling) in [
            (declaring(5000, 1, 1), "core instances", 5000, MAX_INSTANCES),
            (declaring(1, 500, 1), "memories", 500, MAX_MEMORIES),
            (declaring(1, 1, 100_000), "tables", 100_000, MAX_TABLES),
        ] {
            let err = read("greedy", &bytes)
                .unwrap()
                .check("greedy")
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!(
                    "plugin greedy declares {count} {what}, more than the {ceiling} stackpack allows"
                )),
                "{err}"
            );
            assert!(err.contains("it was not run"), "{err}");
        }
    }

    /// Safe outcome: a core module or a cut-short file is not taken for a component.
    #[test]
    fn not_a_component_is_invalid() {
        let core = wasm_encoder::Module::new().finish();
        assert!(matches!(
            read("t", &core),
            Err(PluginError::InvalidComponent { .. })
        ));
        let whole = declaring(2, 1, 1);
        assert!(read("t", &whole[..whole.len() - 3]).is_err());
        assert!(read("t", b"not wasm").is_err());
    }
}
