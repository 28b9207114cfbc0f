//! stackpack's network interface, with no I/O of its own and no WebAssembly runtime:
//! what the plugin runtime, the index fetcher and the HTTP client share.
//!
//! [`NetBackend`] is one GET (redirects not followed, body capped), one
//! `git ls-remote` and the two OCI registry reads (tags, a manifest), answered with an [`HttpReply`] or a [`NetFailure`];
//! `stackpack_fetch::Net` implements it over the real network, [`NoNetwork`] refuses
//! everything. [`follow_redirects`] is the one redirect loop (a per-hop callback checks
//! each URL: grants, scheme downgrades) and [`get_following`] runs it over a backend.
//! [`grants`] parses and checks which hosts a plugin may reach. [`SafeUrl`] is a URL
//! whose `Display` and `Debug` never show its password or token, with the credential-free
//! forms the lockfile and the caches use.

mod backend;
pub mod grants;
mod redirect;
mod safe_url;

pub use backend::{
    HttpReply, NetBackend, NetFailure, NoNetwork, OciDescriptor, OciManifest, no_oci_client,
};
pub use grants::Grants;
pub use redirect::{FollowError, GetError, Hop, RedirectError, follow_redirects, get_following};
pub use safe_url::SafeUrl;
