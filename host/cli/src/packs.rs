//! `stackpack list` and `stackpack get`.

use stackpack_site::{InstalledPack, PackState, discover, find};

use crate::context::Context;
use crate::error::CliError;
use crate::output;

pub fn list(ctx: &Context) -> Result<(), CliError> {
    let packs = discover(&ctx.search_paths())?;
    if ctx.json {
        return output::json(&packs);
    }
    if packs.is_empty() {
        let paths: Vec<String> = ctx
            .search_paths()
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        return output::print(format!(
            "No packs installed (searched {}).",
            paths.join(", ")
        ));
    }
    let mut t = output::table(&["ref", "version", "name", "path", "note"]);
    for p in &packs {
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
    output::print_table(t)
}

/// The active installed pack with this ref, or `Pack "x" is not found.` with close
/// names and where it looked.
pub fn installed(ctx: &Context, pack: &str) -> Result<InstalledPack, CliError> {
    let packs = discover(&ctx.search_paths())?;
    find(&packs, pack)
        .cloned()
        .ok_or_else(|| not_found(ctx, pack, &packs))
}

pub fn get(ctx: &Context, pack: &str) -> Result<(), CliError> {
    let packs = discover(&ctx.search_paths())?;
    let Some(found) = find(&packs, pack) else {
        return Err(not_found(ctx, pack, &packs));
    };
    let shadowed: Vec<&InstalledPack> = packs
        .iter()
        .filter(|p| p.shadowed_by.as_ref() == Some(&found.path))
        .collect();
    let meta = match &found.meta {
        PackState::Valid(m) => m,
        PackState::Invalid(reason) => {
            return Err(CliError::PackInvalid {
                pack: pack.to_string(),
                path: found.path.display().to_string(),
                reason: reason.clone(),
            });
        }
    };
    if ctx.json {
        #[derive(serde::Serialize)]
        struct Out<'a> {
            #[serde(flatten)]
            pack: &'a InstalledPack,
            shadows: Vec<&'a std::path::Path>,
            /// What the registry holds for the pack (null: not registered).
            registry: Option<stackpack_registry::Registered>,
        }
        return output::json(&Out {
            pack: found,
            shadows: shadowed.iter().map(|p| p.path.as_path()).collect(),
            registry: crate::register_cmd::registered(&ctx.root.registry_db(), &meta.ref_)?,
        });
    }
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
        ("path", found.path.display().to_string()),
    ];
    for s in &shadowed {
        rows.push(("shadows", s.path.display().to_string()));
    }
    rows.extend(crate::register_cmd::get_rows(ctx, &meta.ref_)?);
    output::print_table(output::properties(&rows))
}

fn not_found(ctx: &Context, pack: &str, packs: &[InstalledPack]) -> CliError {
    let close: Vec<&str> = packs
        .iter()
        .filter(|p| p.is_active())
        .map(|p| p.ref_.as_str())
        .filter(|r| r.contains(pack) || pack.contains(r) || strsim::levenshtein(r, pack) <= 2)
        .collect();
    let searched: Vec<String> = ctx
        .search_paths()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let hint = if close.is_empty() {
        format!(
            "Searched {}. Run `stackpack list` to see installed packs.",
            searched.join(", ")
        )
    } else {
        format!(
            "Did you mean: {}? Run `stackpack list` to see installed packs.",
            close.join(", ")
        )
    };
    CliError::PackNotFound {
        pack: pack.to_string(),
        hint,
    }
}
