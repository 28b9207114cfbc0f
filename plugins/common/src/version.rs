//! A small version ordering, enough to list a pack's versions newest first without
//! pulling the `semver` crate into every guest.
//!
//! Versions are compared like SemVer 2.0 precedence, leniently: an optional leading
//! `v`, any number of numeric dot components (missing ones count as 0, so `1.2` ==
//! `1.2.0` in precedence), an optional `-prerelease` and an ignored `+build`. Strings
//! that do not parse sort below every version that does, among themselves by plain
//! string order.

use std::cmp::Ordering;

struct Parsed<'a> {
    core: Vec<u64>,
    pre: Option<&'a str>,
}

fn parse(s: &str) -> Option<Parsed<'_>> {
    let s = s.strip_prefix(['v', 'V']).unwrap_or(s);
    let s = s.split_once('+').map_or(s, |(v, _)| v);
    let (core, pre) = match s.split_once('-') {
        Some((c, p)) if !p.is_empty() => (c, Some(p)),
        Some(_) => return None,
        None => (s, None),
    };
    let core = core
        .split('.')
        .map(|n| {
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                None
            } else {
                n.parse::<u64>().ok()
            }
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Parsed { core, pre })
}

fn compare_pre(a: &str, b: &str) -> Ordering {
    let mut ia = a.split('.');
    let mut ib = b.split('.');
    loop {
        match (ia.next(), ib.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let ord = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(n), Ok(m)) => n.cmp(&m),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => x.cmp(y),
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
        }
    }
}

/// Orders two version strings by precedence (see the module docs); versions of equal
/// precedence (`1.2` and `v1.2.0`) fall back to string order so sorting is total and
/// deterministic. Sort descending with `v.sort_by(|a, b| compare_versions(b, a))`.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let ord = match (parse(a), parse(b)) {
        (Some(x), Some(y)) => {
            let len = x.core.len().max(y.core.len());
            let at = |v: &Vec<u64>, i: usize| v.get(i).copied().unwrap_or(0);
            (0..len)
                .map(|i| at(&x.core, i).cmp(&at(&y.core, i)))
                .find(|o| *o != Ordering::Equal)
                .unwrap_or(Ordering::Equal)
                .then_with(|| match (x.pre, y.pre) {
                    (None, None) => Ordering::Equal,
                    (None, Some(_)) => Ordering::Greater,
                    (Some(_), None) => Ordering::Less,
                    (Some(p), Some(q)) => compare_pre(p, q),
                })
        }
        (Some(_), None) => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        (None, None) => Ordering::Equal,
    };
    ord.then_with(|| a.cmp(b))
}

/// The version a tag names: `v1.2.0` -> `1.2.0`. The `v` is only dropped when a digit
/// follows, so a tag like `vendor-fix` is left alone.
pub fn strip_tag_v(tag: &str) -> &str {
    match tag.strip_prefix(['v', 'V']) {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => rest,
        _ => tag,
    }
}
