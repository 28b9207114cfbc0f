//! `stackpack list`, `get` and `venv`.

use stackpack_ops::{packs, venv};
use stackpack_site::PackState;
use stackpack_venv::{VenvAction, VenvReport};

use crate::error::CliError;
use crate::output;

pub fn list(s: &stackpack_ops::Session, json: bool) -> Result<(), CliError> {
    let found = packs::list(s)?;
    if json {
        return output::json(&serde_json::json!({
            "packs": found.packs,
            "synced": found.synced,
        }));
    }
    let synced = found.synced.as_ref().map(|st| {
        format!(
            "last synced to {} ({}){}",
            st.source,
            st.digest,
            st.at
                .as_ref()
                .map(|at| format!(" at {at}"))
                .unwrap_or_default()
        )
    });
    if found.packs.is_empty() {
        let paths: Vec<String> = found
            .searched
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        output::print(format!(
            "No packs installed (searched {}).",
            paths.join(", ")
        ))?;
        return synced.map_or(Ok(()), output::print);
    }
    let mut t = output::table(&["ref", "version", "name", "path", "note"]);
    for p in &found.packs {
        let (version, name, note) = match &p.meta {
            PackState::Valid(m) => (m.version.clone(), m.name.clone(), String::new()),
            PackState::Invalid(e) => ("-".into(), "-".into(), format!("invalid: {e}")),
        };
        let note = match &p.shadowed_by {
            Some(by) if note.is_empty() => format!("shadowed by {}", by.display()),
            Some(by) => format!("shadowed by {}; {note}", by.display()),
            None => note,
        };
        t.add_row(vec![
            p.ref_.clone(),
            version,
            name,
            p.path.display().to_string(),
            note,
        ]);
    }
    output::print_table(t)?;
    synced.map_or(Ok(()), output::print)
}

pub fn get(s: &stackpack_ops::Session, pack: &str, json: bool) -> Result<(), CliError> {
    let detail = packs::get(s, pack)?;
    if json {
        return output::json(&detail);
    }
    let Some(meta) = detail.meta() else {
        return Ok(());
    };
    let list = |v: &[String]| v.join(", ");
    let mut rows = vec![
        ("ref", meta.ref_.clone()),
        ("name", meta.name.clone()),
        ("version", meta.version.clone()),
        ("author", meta.author.clone()),
        ("email", meta.email.clone().unwrap_or_default()),
        ("keywords", list(&meta.keywords)),
        ("description", meta.description.clone()),
        ("dependencies", list(&meta.dependencies)),
        ("python_versions", list(&meta.python_versions)),
        (
            "stackstorm_version",
            meta.stackstorm_version.clone().unwrap_or_default(),
        ),
        ("path", detail.pack.path.display().to_string()),
    ];
    for p in &detail.shadows {
        rows.push(("shadows", p.display().to_string()));
    }
    rows.extend(crate::register_cmd::registry_rows(detail.registry.as_ref()));
    output::print_table(output::properties(&rows))
}

/// One line about a venv, for people.
pub fn describe(r: &VenvReport) -> String {
    match r.action {
        VenvAction::Kept => "virtualenv unchanged".to_string(),
        VenvAction::Created | VenvAction::Rebuilt => format!(
            "virtualenv {} with {} (python {}) in {:.1}s",
            if matches!(r.action, VenvAction::Created) {
                "created"
            } else {
                "rebuilt"
            },
            r.installer,
            r.python,
            r.seconds
        ),
    }
}

/// `stackpack venv <pack> [--recreate]`.
pub fn venv(
    s: &stackpack_ops::Session,
    pack: &str,
    recreate: bool,
    json: bool,
) -> Result<(), CliError> {
    let report = venv::venv(s, pack, recreate)?;
    if json {
        return output::json(&report);
    }
    output::print(format!(
        "{pack}: {} at {}",
        describe(&report),
        report.path.display()
    ))
}
