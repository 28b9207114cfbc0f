//! An emulation of the part of StackStorm's API the handoff uses, on the loopback
//! server core: `POST /v1/packs/register` as st2's `PackRegisterController` answers it.
//! It checks the `St2-Api-Key` or `X-Auth-Token` header (401 with st2's faultstring
//! otherwise), reads `{"packs": [...], "types": [...], "fail_on_failure": bool}`,
//! counts each pack's content from disk the way st2's registrars find it (the
//! `*.yaml`/`*.yml` files of `actions/`, `sensors/`, `rules/`, `aliases/`,
//! `policies/`, `triggers/`) and answers `{"actions": 3, ...}`. A pack that is not on
//! disk is a 400 with a faultstring, as in st2. [`St2Api::fail`] makes it answer a
//! chosen status and faultstring instead; [`down_url`] is an API that is not there.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use crate::http::{Reply, Seen, Server};

/// What st2 registers for each type the request names (st2's `ENTITIES`).
const TYPES: [(&str, &str, &str); 6] = [
    ("trigger", "triggers", "triggers"),
    ("sensor", "sensors", "sensors"),
    ("action", "actions", "actions"),
    ("rule", "rules", "rules"),
    ("alias", "aliases", "aliases"),
    ("policy", "policies", "policies"),
];

/// The emulated API. Requests are recorded by its [`Server`].
pub struct St2Api {
    pub server: Server,
    failure: Arc<Mutex<Option<(u16, String)>>>,
}

/// A credential the emulated API accepts.
#[derive(Debug, Clone)]
pub enum Accept {
    ApiKey(String),
    Token(String),
}

impl St2Api {
    /// An API over the packs in `packs_dir`, accepting `accept`.
    pub fn start(packs_dir: &Path, accept: Accept) -> St2Api {
        let failure: Arc<Mutex<Option<(u16, String)>>> = Arc::default();
        let (dir, fail) = (packs_dir.to_path_buf(), failure.clone());
        let server = Server::start(move |req| {
            let forced = fail.lock().unwrap_or_else(PoisonError::into_inner).clone();
            answer(&dir, &accept, forced, req)
        });
        St2Api { server, failure }
    }

    /// The API's base URL, as `[st2] api_url` takes it.
    pub fn api_url(&self) -> String {
        self.server.base.clone()
    }

    /// From now on, answers `status` with `{"faultstring": faultstring}`; `None` goes
    /// back to answering normally.
    pub fn fail(&self, failure: Option<(u16, &str)>) {
        *self.failure.lock().unwrap_or_else(PoisonError::into_inner) =
            failure.map(|(s, f)| (s, f.to_string()));
    }

    /// The bodies of the registration requests so far, parsed.
    pub fn registrations(&self) -> Vec<serde_json::Value> {
        self.server
            .requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path == "/v1/packs/register")
            .map(|r| serde_json::from_slice(&r.body).expect("a JSON request body"))
            .collect()
    }
}

/// A base URL where nothing listens (a port bound, then released).
pub fn down_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let addr = listener.local_addr().expect("its address");
    drop(listener);
    format!("http://{addr}")
}

fn fault(status: u16, text: &str) -> Reply {
    Reply::status(
        status,
        serde_json::json!({ "faultstring": text }).to_string(),
    )
    .header("Content-Type", "application/json")
}

fn answer(dir: &Path, accept: &Accept, forced: Option<(u16, String)>, req: &Seen) -> Reply {
    if req.path != "/v1/packs/register" {
        return fault(404, "The resource could not be found.");
    }
    if req.method != "POST" {
        return fault(405, "The method is not allowed for the requested URL.");
    }
    let authorized = match accept {
        Accept::ApiKey(k) => req.header("st2-api-key") == Some(k.as_str()),
        Accept::Token(t) => req.header("x-auth-token") == Some(t.as_str()),
    };
    if !authorized {
        return fault(
            401,
            match (req.header("st2-api-key"), req.header("x-auth-token")) {
                (None, None) => "Unauthorized - One of Token or API key required.",
                (Some(_), _) => "Unauthorized - ApiKey with key_hash=*** not found.",
                (None, Some(_)) => "Unauthorized - Token has expired.",
            },
        );
    }
    if let Some((status, text)) = forced {
        return fault(status, &text);
    }
    let body: serde_json::Value = match serde_json::from_slice(&req.body) {
        Ok(v) => v,
        Err(e) => return fault(400, &format!("Failed to parse request body: {e}")),
    };
    let packs: Vec<String> = body["packs"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let types: Vec<String> = body["types"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_else(|| vec!["all".into()]);
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (singular, plural, sub) in TYPES {
        if !types
            .iter()
            .any(|t| t == "all" || t == singular || t == plural)
        {
            continue;
        }
        let mut n = 0;
        for pack in &packs {
            let pack_dir: PathBuf = dir.join(pack);
            if !pack_dir.join("pack.yaml").is_file() {
                return fault(400, &format!("Pack \"{pack}\" not found on disk"));
            }
            n += yaml_files(&pack_dir.join(sub));
        }
        counts.insert(plural, n);
    }
    if types.iter().any(|t| t == "all" || t == "config") {
        counts.insert("configs", 0);
    }
    Reply::ok(serde_json::to_string(&counts).expect("counts as JSON"))
        .header("Content-Type", "application/json")
}

fn yaml_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| {
                    let name = e.file_name();
                    let name = name.to_string_lossy();
                    name.ends_with(".yaml") || name.ends_with(".yml")
                })
                .count()
        })
        .unwrap_or(0)
}
