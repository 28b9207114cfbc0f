//! The one redirect loop. [`follow_redirects`] joins each `Location` onto the URL that
//! answered it, counts hops, and drops the userinfo of a URL whenever a hop changes
//! origin; what a hop is (one buffered GET, a streamed download) and which URLs are
//! acceptable (a plugin's grants, https only) are the caller's. [`get_following`] runs
//! it over a [`NetBackend`], also dropping credential headers on a change of origin.

use stackpack_core::redact_url;
use url::Url;

use crate::backend::{HttpReply, NetBackend, NetFailure};

/// What one hop answered: a redirect to a location (absolute, or relative to the URL
/// asked for), or the final response.
#[derive(Debug)]
pub enum Hop<R> {
    Redirect(String),
    Done(R),
}

/// Why a chain of redirects was abandoned. Locations in it are redacted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectError {
    #[error("more than {max} redirects")]
    TooMany { max: u32 },
    #[error("bad redirect location {location:?}: {reason}")]
    BadLocation { location: String, reason: String },
}

/// What [`follow_redirects`] returns on failure: the step's own error, or a problem
/// with the redirects themselves.
#[derive(Debug)]
pub enum FollowError<E> {
    Step(E),
    Redirect(RedirectError),
}

/// What [`get_following`] returns on failure.
#[derive(Debug)]
pub enum GetError<E> {
    /// The per-hop check refused a URL (the first one or a redirect target).
    Refused(E),
    /// The backend could not complete a hop.
    Net(NetFailure),
    Redirect(RedirectError),
}

/// Headers that carry credentials: sent to the origin they were meant for only.
const CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "proxy-authorization", "cookie"];

/// Whether two URLs share scheme, host and port (the port defaulted by scheme).
pub(crate) fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Follows redirects from `start`: `step(url, from)` performs one hop (`from` is the URL
/// that redirected to `url`, `None` for `start`) and says whether it redirected. At most
/// `max_redirects` redirects are followed, so `step` runs at most `max_redirects + 1`
/// times. A redirect target on another origin than the URL that pointed to it loses its
/// userinfo (user name and password). Returns the final URL with the step's result.
///
/// A per-hop check (grants, refusing a downgrade from https) goes at the top of `step`;
/// it sees every URL before it is requested.
pub fn follow_redirects<R, E>(
    start: &Url,
    max_redirects: u32,
    mut step: impl FnMut(&Url, Option<&Url>) -> Result<Hop<R>, E>,
) -> Result<(Url, R), FollowError<E>> {
    let mut current = start.clone();
    let mut from: Option<Url> = None;
    for hop in 0..=max_redirects {
        match step(&current, from.as_ref()).map_err(FollowError::Step)? {
            Hop::Done(r) => return Ok((current, r)),
            Hop::Redirect(_) if hop == max_redirects => break,
            Hop::Redirect(location) => {
                let mut next = current.join(&location).map_err(|e| {
                    FollowError::Redirect(RedirectError::BadLocation {
                        location: redact_url(&location),
                        reason: e.to_string(),
                    })
                })?;
                if !same_origin(&current, &next) {
                    let _ = next.set_password(None);
                    let _ = next.set_username("");
                }
                from = Some(std::mem::replace(&mut current, next));
            }
        }
    }
    Err(FollowError::Redirect(RedirectError::TooMany {
        max: max_redirects,
    }))
}

/// One GET through `net`, following up to `max_redirects` redirects (301, 302, 303, 307
/// and 308 with a `Location`; any other reply is final, including a 3xx without one).
/// `check(url, from)` runs before each request and may refuse it. `headers` go with every
/// hop, except that `Authorization`, `Proxy-Authorization` and `Cookie` are dropped on
/// hops to another origin than `url`'s. Returns the final URL and reply.
///
/// ```
/// # use stackpack_net::{NoNetwork, GetError, get_following};
/// let url = url::Url::parse("http://example.com/x").unwrap();
/// let only_https = |u: &url::Url, _: Option<&url::Url>| {
///     if u.scheme() == "https" { Ok(()) } else { Err(format!("{u} is not https")) }
/// };
/// let e = get_following(&NoNetwork, &url, &[], 1 << 20, 5, only_https).unwrap_err();
/// assert!(matches!(e, GetError::Refused(_)));
/// ```
pub fn get_following<E>(
    net: &(impl NetBackend + ?Sized),
    url: &Url,
    headers: &[(String, String)],
    max_body: u64,
    max_redirects: u32,
    mut check: impl FnMut(&Url, Option<&Url>) -> Result<(), E>,
) -> Result<(Url, HttpReply), GetError<E>> {
    let elsewhere: Vec<(String, String)> = headers
        .iter()
        .filter(|(k, _)| !CREDENTIAL_HEADERS.contains(&k.to_ascii_lowercase().as_str()))
        .cloned()
        .collect();
    follow_redirects(url, max_redirects, |current, from| {
        check(current, from).map_err(GetError::Refused)?;
        let sent = if same_origin(current, url) {
            headers
        } else {
            &elsewhere
        };
        let reply = net
            .http_get(current, sent, max_body)
            .map_err(GetError::Net)?;
        Ok(match reply.redirect_location() {
            Some(location) => Hop::Redirect(location.to_string()),
            None => Hop::Done(reply),
        })
    })
    .map_err(|e| match e {
        FollowError::Step(e) => e,
        FollowError::Redirect(r) => GetError::Redirect(r),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use super::*;

    /// Answers from a table and records what each request carried.
    #[derive(Default)]
    struct Table {
        replies: BTreeMap<String, (u16, Option<String>)>,
        seen: Mutex<Vec<(String, Vec<String>)>>,
    }

    impl Table {
        fn with(mut self, url: &str, status: u16, location: Option<&str>) -> Table {
            self.replies
                .insert(url.into(), (status, location.map(str::to_string)));
            self
        }
    }

    impl NetBackend for Table {
        fn http_get(
            &self,
            url: &Url,
            headers: &[(String, String)],
            _: u64,
        ) -> Result<HttpReply, NetFailure> {
            self.seen.lock().unwrap().push((
                url.to_string(),
                headers.iter().map(|(k, _)| k.clone()).collect(),
            ));
            let (status, location) = self
                .replies
                .get(url.as_str())
                .cloned()
                .ok_or_else(|| NetFailure::Transport(format!("no reply for {url}")))?;
            Ok(HttpReply {
                status,
                headers: location
                    .map(|l| vec![("Location".to_string(), l)])
                    .unwrap_or_default(),
                body: Vec::new(),
            })
        }
        fn git_list_refs(&self, _: &str) -> Result<Vec<(String, String)>, NetFailure> {
            Err(NetFailure::Offline)
        }
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn any(_: &Url, _: Option<&Url>) -> Result<(), String> {
        Ok(())
    }

    #[test]
    fn follows_relative_and_absolute_locations() {
        let net = Table::default()
            .with("https://a.example/x", 302, Some("/y"))
            .with("https://a.example/y", 301, Some("https://b.example/z"))
            .with("https://b.example/z", 200, None);
        let mut hops = Vec::new();
        let (last, reply) = get_following(&net, &url("https://a.example/x"), &[], 10, 5, |u, f| {
            hops.push((u.to_string(), f.map(Url::to_string)));
            any(u, f)
        })
        .unwrap();
        assert_eq!(last.as_str(), "https://b.example/z");
        assert_eq!(reply.status, 200);
        assert_eq!(
            hops,
            vec![
                ("https://a.example/x".into(), None),
                (
                    "https://a.example/y".into(),
                    Some("https://a.example/x".into())
                ),
                (
                    "https://b.example/z".into(),
                    Some("https://a.example/y".into())
                ),
            ]
        );
    }

    #[test]
    fn counts_redirects() {
        let net = Table::default()
            .with("https://a.example/1", 302, Some("/2"))
            .with("https://a.example/2", 302, Some("/3"))
            .with("https://a.example/3", 200, None);
        assert!(get_following(&net, &url("https://a.example/1"), &[], 10, 2, any).is_ok());
        let e = get_following(&net, &url("https://a.example/1"), &[], 10, 1, any).unwrap_err();
        assert!(
            matches!(e, GetError::Redirect(RedirectError::TooMany { max: 1 })),
            "{e:?}"
        );
        assert_eq!(net.seen.lock().unwrap().len(), 3 + 2);
    }

    #[test]
    fn a_3xx_without_location_is_final() {
        let net = Table::default()
            .with("https://a.example/x", 302, None)
            .with("https://a.example/y", 301, Some(""));
        let (_, reply) = get_following(&net, &url("https://a.example/x"), &[], 10, 5, any).unwrap();
        assert_eq!(reply.status, 302);
        let (_, reply) = get_following(&net, &url("https://a.example/y"), &[], 10, 5, any).unwrap();
        assert_eq!(reply.status, 301);
    }

    #[test]
    fn the_check_sees_every_hop_and_can_refuse() {
        let net = Table::default()
            .with("https://a.example/x", 302, Some("http://a.example/x"))
            .with("http://a.example/x", 200, None);
        let e = get_following(&net, &url("https://a.example/x"), &[], 10, 5, |u, _| {
            if u.scheme() == "https" {
                Ok(())
            } else {
                Err(format!("refused {u}"))
            }
        })
        .unwrap_err();
        assert!(
            matches!(&e, GetError::Refused(m) if m == "refused http://a.example/x"),
            "{e:?}"
        );
        // The refused URL was never requested.
        assert_eq!(net.seen.lock().unwrap().len(), 1);
    }

    #[test]
    fn credentials_stay_with_their_origin() {
        let net = Table::default()
            .with("https://u:pw@a.example/x", 302, Some("/y"))
            .with("https://u:pw@a.example/y", 302, Some("https://b.example/z"))
            .with("https://b.example/z", 200, None);
        let headers = vec![
            ("Authorization".to_string(), "Bearer t".to_string()),
            ("Accept".to_string(), "*/*".to_string()),
        ];
        get_following(&net, &url("https://u:pw@a.example/x"), &headers, 10, 5, any).unwrap();
        let seen = net.seen.lock().unwrap();
        assert_eq!(seen[1].0, "https://u:pw@a.example/y");
        assert_eq!(seen[1].1, vec!["Authorization", "Accept"]);
        assert_eq!(seen[2].0, "https://b.example/z");
        assert_eq!(seen[2].1, vec!["Accept"]);
    }

    #[test]
    fn cross_origin_targets_lose_userinfo() {
        let (last, ()) = follow_redirects(&url("https://a.example/"), 5, |u, _| {
            Ok::<_, ()>(if u.host_str() == Some("a.example") {
                Hop::Redirect("https://tok:secret@b.example/".into())
            } else {
                Hop::Done(())
            })
        })
        .unwrap();
        assert_eq!(last.as_str(), "https://b.example/");
    }

    #[test]
    fn bad_locations_are_redacted() {
        let e = follow_redirects(&url("https://a.example/"), 5, |_, _| {
            Ok::<Hop<()>, ()>(Hop::Redirect("https://tok:secret@[::1".into()))
        })
        .unwrap_err();
        let FollowError::Redirect(r) = e else {
            panic!("expected a redirect error")
        };
        assert!(!r.to_string().contains("secret"), "{r}");
    }
}
