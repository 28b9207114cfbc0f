//! An emulation of the part of StackStorm's API the handoff uses, on the loopback
//! server core: `POST /v1/packs/register` as st2's `PackRegisterController` answers it.
//! It checks the `St2-Api-Key` or `X-Auth-Token` header (401 with st2's faultstring
//! otherwise), reads `{"packs": [...], "types": [...], "fail_on_failure": bool}`,
//! counts each pack's content from disk the way st2's registrars find it (the
//! `*.yaml`/`*.yml` files of `actions/`, `sensors/`, `rules/`, `aliases/`,
//! `policies/`, `triggers/`) and answers `{"actions": 3, ...}`. A pack that is not on
//! disk is a 400 with a faultstring, as in st2. A registration also records the
//! pack's actions, rules, aliases and policies (ref `<pack>.<name>`, `name` read from
//! each file), which `GET /v1/{actions,rules,actionalias,policies}?pack=<pack>&limit=<n>`
//! lists and `DELETE /v1/<collection>/<ref>` deletes (204; 404 when unknown), as st2's
//! resource controllers do. Sensors are held as `sensortypes` (ref `<pack>.<name or
//! class_name>`), which st2 cannot delete. `GET /v1/<collection>/<ref>` answers the
//! whole resource and `PUT /v1/<collection>/<ref>` takes it back (only `enabled` is
//! kept), for actions, rules, aliases and sensor types. [`St2Api::fail`] makes it answer a chosen status and
//! faultstring instead; [`down_url`] is an API that is not there.

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

/// The collections st2 lists by pack and deletes by ref: (collection, type directory
/// of the pack).
const COLLECTIONS: [(&str, &str); 5] = [
    ("actions", "actions"),
    ("rules", "rules"),
    ("actionalias", "aliases"),
    ("policies", "policies"),
    ("sensortypes", "sensors"),
];

/// A forced answer: (only requests of this method, else all; status; faultstring).
type Forced = (Option<String>, u16, String);

/// One registered resource.
#[derive(Debug, Clone)]
struct Resource {
    collection: String,
    ref_: String,
    pack: String,
    enabled: bool,
    /// A pack entry's whole body (`ref`, `version`, `files`, `path`).
    body: Option<serde_json::Value>,
}

type Held = Vec<Resource>;

/// The emulated API. Requests are recorded by its [`Server`].
pub struct St2Api {
    pub server: Server,
    failure: Arc<Mutex<Option<Forced>>>,
    held: Arc<Mutex<Held>>,
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
        let failure: Arc<Mutex<Option<Forced>>> = Arc::default();
        let held: Arc<Mutex<Held>> = Arc::default();
        let (dir, fail, state) = (packs_dir.to_path_buf(), failure.clone(), held.clone());
        let server = Server::start(move |req| {
            let forced = fail.lock().unwrap_or_else(PoisonError::into_inner).clone();
            let mut held = state.lock().unwrap_or_else(PoisonError::into_inner);
            answer(&dir, &accept, forced, &mut held, req)
        });
        St2Api {
            server,
            failure,
            held,
        }
    }

    /// The refs st2 holds for `pack` in `collection` (`actions`, `rules`,
    /// `actionalias`, `policies`), sorted.
    pub fn held(&self, collection: &str, pack: &str) -> Vec<String> {
        let held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<String> = held
            .iter()
            .filter(|r| r.collection == collection && r.pack == pack)
            .map(|r| r.ref_.clone())
            .collect();
        out.sort();
        out
    }

    /// Whether st2 holds `ref_` in `collection` enabled (None: not held).
    pub fn enabled(&self, collection: &str, ref_: &str) -> Option<bool> {
        let held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.iter()
            .find(|r| r.collection == collection && r.ref_ == ref_)
            .map(|r| r.enabled)
    }

    /// The `(method, path)` of every request so far but the registrations.
    pub fn calls(&self) -> Vec<(String, String)> {
        self.server
            .requests()
            .iter()
            .filter(|r| r.path != "/v1/packs/register")
            .map(|r| (r.method.clone(), r.path.clone()))
            .collect()
    }

    /// The API's base URL, as `[st2] api_url` takes it.
    pub fn api_url(&self) -> String {
        self.server.base.clone()
    }

    /// From now on, answers `status` with `{"faultstring": faultstring}`; `None` goes
    /// back to answering normally.
    pub fn fail(&self, failure: Option<(u16, &str)>) {
        *self.failure.lock().unwrap_or_else(PoisonError::into_inner) =
            failure.map(|(s, f)| (None, s, f.to_string()));
    }

    /// As [`St2Api::fail`], for requests of `method` (`PUT`) only.
    pub fn fail_method(&self, method: &str, status: u16, faultstring: &str) {
        *self.failure.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((Some(method.to_string()), status, faultstring.to_string()));
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

fn answer(
    dir: &Path,
    accept: &Accept,
    forced: Option<Forced>,
    held: &mut Held,
    req: &Seen,
) -> Reply {
    let (path, query) = req.path.split_once('?').unwrap_or((&req.path, ""));
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let route = match segments.as_slice() {
        ["v1", "packs", "register"] => Route::Register,
        ["v1", "packs"] => Route::List("packs".into()),
        ["v1", c] if COLLECTIONS.iter().any(|(n, _)| n == c) => Route::List(c.to_string()),
        ["v1", c, r] if COLLECTIONS.iter().any(|(n, _)| n == c) => {
            Route::One(c.to_string(), r.to_string())
        }
        _ => return fault(404, "The resource could not be found."),
    };
    let allowed = match &route {
        Route::Register => req.method == "POST",
        Route::List(_) => req.method == "GET",
        // st2 has no DELETE for sensor types.
        Route::One(c, _) if c == "sensortypes" => matches!(req.method.as_str(), "GET" | "PUT"),
        Route::One(..) => matches!(req.method.as_str(), "GET" | "PUT" | "DELETE"),
    };
    if !allowed {
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
    if let Some((method, status, text)) = forced
        && method.is_none_or(|m| m == req.method)
    {
        return fault(status, &text);
    }
    match route {
        Route::Register => register(dir, held, req),
        Route::List(collection) => {
            let arg = |name: &str| {
                query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                    .map(str::to_string)
            };
            let pack = arg("pack");
            let limit: usize = arg("limit").and_then(|l| l.parse().ok()).unwrap_or(100);
            let offset: usize = arg("offset").and_then(|l| l.parse().ok()).unwrap_or(0);
            let items: Vec<serde_json::Value> = held
                .iter()
                .filter(|r| {
                    r.collection == collection && pack.as_ref().is_none_or(|q| *q == r.pack)
                })
                .skip(offset)
                .take(limit)
                .map(Resource::json)
                .collect();
            Reply::ok(serde_json::Value::Array(items).to_string())
                .header("Content-Type", "application/json")
        }
        Route::One(collection, r) => {
            let Some(i) = held
                .iter()
                .position(|h| h.collection == collection && h.ref_ == r)
            else {
                return fault(
                    404,
                    &format!("Resource with a reference or id \"{r}\" not found"),
                );
            };
            match req.method.as_str() {
                "DELETE" => {
                    held.remove(i);
                    Reply::status(204, String::new())
                }
                "PUT" => {
                    let body: serde_json::Value = match serde_json::from_slice(&req.body) {
                        Ok(v) => v,
                        Err(e) => return fault(400, &format!("Failed to parse request body: {e}")),
                    };
                    // st2 validates the whole resource: a PUT of a partial one is a 400.
                    if body["ref"] != serde_json::json!(r) || body.get("name").is_none() {
                        return fault(400, "'name' is a required property");
                    }
                    let Some(enabled) = body["enabled"].as_bool() else {
                        return fault(400, "'enabled' must be a boolean");
                    };
                    held[i].enabled = enabled;
                    Reply::ok(held[i].json().to_string()).header("Content-Type", "application/json")
                }
                _ => {
                    Reply::ok(held[i].json().to_string()).header("Content-Type", "application/json")
                }
            }
        }
    }
}

impl Resource {
    fn json(&self) -> serde_json::Value {
        if let Some(body) = &self.body {
            return body.clone();
        }
        serde_json::json!({
            "ref": self.ref_,
            "pack": self.pack,
            "name": self.ref_.split_once('.').map_or(self.ref_.as_str(), |(_, n)| n),
            "enabled": self.enabled,
            "description": "",
        })
    }
}

enum Route {
    Register,
    List(String),
    One(String, String),
}

/// `POST /v1/packs/register`.
fn register(dir: &Path, held: &mut Held, req: &Seen) -> Reply {
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
    for pack in &packs {
        // The pack's entry, as st2 stores it at registration: `files` lists every file
        // but `*.pyc` and `.git/*`.
        let pack_dir = dir.join(pack);
        let manifest = std::fs::read_to_string(pack_dir.join("pack.yaml")).unwrap_or_default();
        let version = manifest
            .lines()
            .find_map(|l| l.strip_prefix("version:"))
            .map(|v| v.trim().trim_matches(['"', '\'']).to_string());
        let mut files = Vec::new();
        list_files(&pack_dir, &pack_dir, &mut files);
        files.sort();
        held.retain(|r| !(r.collection == "packs" && r.ref_ == *pack));
        held.push(Resource {
            collection: "packs".into(),
            ref_: pack.clone(),
            pack: pack.clone(),
            enabled: true,
            body: Some(serde_json::json!({
                "ref": pack,
                "name": pack,
                "version": version,
                "files": files,
                "path": pack_dir.display().to_string(),
            })),
        });
        for (collection, sub) in COLLECTIONS {
            let singular = TYPES
                .iter()
                .find(|(_, _, d)| *d == sub)
                .map_or("", |(s, _, _)| *s);
            if !types
                .iter()
                .any(|t| t == "all" || t == singular || t == sub)
            {
                continue;
            }
            held.retain(|r| !(r.collection == collection && r.pack == *pack));
            for (name, enabled) in names(&dir.join(pack).join(sub)) {
                held.push(Resource {
                    collection: collection.to_string(),
                    ref_: format!("{pack}.{name}"),
                    pack: pack.clone(),
                    enabled,
                    body: None,
                });
            }
        }
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

/// The `name:` (else `class_name:`) and `enabled:` of each YAML file in `dir`, from its
/// top-level lines.
fn names(dir: &Path) -> Vec<(String, bool)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.filter_map(Result::ok) {
        let file = e.file_name().to_string_lossy().into_owned();
        if !(file.ends_with(".yaml") || file.ends_with(".yml")) {
            continue;
        }
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        let field = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key))
                .map(|v| v.trim().trim_matches(['"', '\'']).to_string())
        };
        if let Some(name) = field("name:").or_else(|| field("class_name:")) {
            out.push((name, field("enabled:").as_deref() != Some("false")));
        }
    }
    out.sort();
    out
}

fn list_files(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.filter_map(Result::ok) {
        let path = e.path();
        let rel = path
            .strip_prefix(root)
            .map(|r| r.to_string_lossy().into_owned())
            .unwrap_or_default();
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            if rel != ".git" {
                list_files(root, &path, out);
            }
        } else if !rel.ends_with(".pyc") {
            out.push(rel);
        }
    }
}
