//! `stackpack push`: a pack or this root's lockfile to an OCI registry; prints the
//! reference, manifest digest, layer digest and size (a table, or `--json`).

use stackpack_ops::push::{PushReport, push as push_pack, push_lockfile};
use stackpack_ops::{OpsError, Session};

use crate::cli::PushArgs;
use crate::error::CliError;
use crate::output;

pub fn push(s: &Session, args: &PushArgs, json: bool) -> Result<(), CliError> {
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
