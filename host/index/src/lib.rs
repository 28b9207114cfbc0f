//! stackpack's pack indexes (st2's `index_url`): fetching them, merging them, and answering
//! `search`, `show` and `health` from the result. Unlike st2, indexes are fetched in
//! parallel with a timeout and cached, versions are sorted by semver rather than as text,
//! and search scores every searched field instead of letting the first matching key decide.
//!
//! [`fetch_indexes`] fetches every configured index in parallel through the host's
//! [`NetBackend`](stackpack_net::NetBackend) (in practice `stackpack_fetch::Net`, which
//! applies proxies, CA, the timeout and the operator's credentials), follows redirects,
//! and keeps an on-disk cache revalidated with `If-None-Match` / `If-Modified-Since`: a
//! cached copy serves offline runs and stands in for an index that is unreachable. Each
//! index comes back as a [`FetchedIndex`] with its [`IndexStatus`]; a malformed, empty or
//! unreachable index never affects the others. [`merge`] builds the [`MergedIndex`] (the
//! first index listing a pack wins, as in st2) of [`Entry`]s, whose `versions` are in
//! semver order, each a [`Release`] (ref, yanked) in `releases`; [`MergedIndex::search`] ranks matches on name, ref, keywords,
//! description and author (never the `content` listing), [`MergedIndex::show`] finds one
//! pack by key, else by a unique ref (the rule `install` uses), and [`MergedIndex::suggest`] offers close names.
//! [`health`] summarises the fetch as a [`Health`] report.
//!
//! ```no_run
//! use stackpack_fetch::{Net, NetConfig};
//! use stackpack_index::{FetchOptions, fetch_indexes, merge};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let net = Net::new(NetConfig::default())?;
//! let urls = vec!["https://index.stackstorm.org/v1/index.json".to_string()];
//! let fetched = fetch_indexes(&net, &urls, &FetchOptions::new("/var/cache/stackpack/index"));
//! for warning in fetched.iter().filter_map(|i| i.warning.as_deref()) {
//!     eprintln!("warning: {warning}");
//! }
//! let index = merge(&fetched);
//! for entry in index.search("slack") {
//!     println!("{} {}", entry.key, entry.version.as_deref().unwrap_or("-"));
//! }
//! # Ok(())
//! # }
//! ```

mod fetch;
mod health;
mod merged;

pub use fetch::{
    DEFAULT_MAX_BODY, FetchOptions, FetchedIndex, IndexStatus, RawEntry, fetch_indexes,
};
pub use health::{Health, IndexHealth, health};
pub use merged::{Entry, MergedIndex, Release, merge};
