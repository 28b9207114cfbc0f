//! `stackpack plugin ...`.

use crate::context::Context;
use crate::error::CliError;
use crate::{output, plugins};

#[derive(serde::Serialize)]
struct PluginRow {
    name: String,
    kind: stackpack_plugin::PluginKind,
    version: String,
    description: String,
    wit: String,
    sha256: String,
    granted_hosts: Vec<String>,
    requested_hosts: Vec<String>,
    builtin: bool,
}

pub fn list(ctx: &Context) -> Result<(), CliError> {
    let rt = plugins::runtime(ctx, plugins::net(ctx)?)?;
    let mut rows = Vec::new();
    for plugin in plugins::load_builtins(ctx, &rt)? {
        let d = plugin.describe()?;
        rows.push(PluginRow {
            name: plugin.name().to_string(),
            kind: plugin.kind(),
            version: d.version,
            description: d.description,
            wit: format!("{}@{}", stackpack_plugin::API_PACKAGE, plugin.api_version()),
            sha256: plugin.sha256().to_string(),
            granted_hosts: plugin.grants().as_strings().to_vec(),
            requested_hosts: d.requested_hosts,
            builtin: true,
        });
    }
    if ctx.json {
        return output::json(&rows);
    }
    let mut t = output::table(&["name", "kind", "wit", "sha256", "granted hosts"]);
    for r in &rows {
        let hosts = if r.granted_hosts.is_empty() {
            "(none)".to_string()
        } else {
            r.granted_hosts.join(", ")
        };
        t.add_row(vec![
            r.name.clone(),
            r.kind.to_string(),
            r.wit.clone(),
            r.sha256.clone(),
            hosts,
        ]);
    }
    output::print_table(t)
}
