//! `stackpack push`: a pack or this root's lockfile to an OCI registry; prints the
//! reference, manifest digest, layer digest and size (a table, or `--json`).

use stackpack_ops::push::{PushReport, push as push_pack, push_lockfile};
use stackpack_ops::{OpsError, Session};

use crate::cli::PushArgs;
use crate::error::CliError;
use crate::output;

pub fn push(s: &Session, args: &PushArgs, json: bool) -> Result<(), CliError> {
    if let Some(wasm) = &args.plugin {
        return push_plugin(s, wasm, &args.args, json);
    }
    let report = match (args.lockfile, args.args.as_slice()) {
        (true, [target]) => push_lockfile(s, target)?,
        (false, [source, target]) => push_pack(s, source, target)?,
        (true, _) => return Err(usage("--lockfile takes the destination alone").into()),
        (false, _) => {
            return Err(usage("name the pack (or directory) and the destination").into());
        }
    };
    if json {
        return output::json(&report);
    }
    print(&report)
}

fn usage(reason: &str) -> OpsError {
    OpsError::Push {
        what: "that".to_string(),
        reason: reason.to_string(),
        fix: "run `stackpack push <pack|dir> oci://HOST[:PORT]/REPO[:TAG]` or \
              `stackpack push --lockfile oci://HOST[:PORT]/REPO:TAG`"
            .to_string(),
    }
}

fn print(r: &PushReport) -> Result<(), CliError> {
    let mut t = output::table(&["reference", "digest", "layer digest", "size"]);
    t.add_row(vec![
        r.reference.clone(),
        r.digest.clone(),
        r.layer_digest.clone(),
        r.size.to_string(),
    ]);
    output::print_table(t)?;
    let what = match (&r.pack, &r.version) {
        (Some(p), Some(v)) => format!("pack {p} {v}"),
        _ => "the lockfile and overrides".to_string(),
    };
    output::print(format!("pushed {what} as {}", r.reference))
}

/// `push --plugin FILE.wasm oci://…:TAG`: prints the reference and digests, and the
/// sha256 to pin it by.
fn push_plugin(
    s: &Session,
    wasm: &std::path::Path,
    args: &[String],
    json: bool,
) -> Result<(), CliError> {
    let [target] = args else {
        return Err(usage("--plugin takes the destination alone").into());
    };
    let report = stackpack_ops::plugin_oci::push_plugin(s, wasm, target)?;
    if json {
        return output::json(&report);
    }
    output::print(format!(
        "pushed plugin {} as {} (manifest {}, {} bytes)\nadd it with: stackpack plugin add {} \
         --sha256 {}",
        wasm.display(),
        report.reference,
        report.digest,
        report.layer_size,
        report.reference,
        report
            .tree_sha256
            .strip_prefix("sha256:")
            .unwrap_or(&report.tree_sha256)
    ))
}
