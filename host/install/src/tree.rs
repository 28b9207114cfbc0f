//! The digests of an installed tree (see `stackpack_fetch::TreeManifest`): the
//! fingerprint, as git's index keeps one (every entry's relative path, kind, mode, size,
//! modification time and inode, and a symlink's target, in name order, hashed; no file
//! content is read, so recording it at install and checking it on reinstall costs one
//! `stat` per entry, and like git it trusts that whoever changes content also changes
//! size or mtime), and the content digest (paths, modes, link targets, file bytes; the
//! same on every machine). Both are computed from the bytes as an export writes them.

use cap_std::fs::Dir;

/// The fingerprint of the tree under `dir`.
pub fn tree_digest(dir: &Dir) -> std::io::Result<String> {
    stackpack_fetch::tree_fingerprint(dir)
}

/// How an installed tree compares with what was recorded for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Its fingerprint is the recorded one.
    Same,
    /// Its fingerprint differs but its content digest is the recorded one: intact,
    /// and this is its fingerprint on this root.
    SameContent(String),
    /// Modified, unreadable, or nothing recorded.
    Changed,
}

impl Check {
    pub fn intact(&self) -> bool {
        !matches!(self, Check::Changed)
    }
}

/// Checks the tree under `dir` against a recorded `fingerprint` and `content` digest,
/// by the rule of [`crate::lockfile::LockedPack::tree_content_sha256`]: the fingerprint
/// first (one `stat` per entry), the content (every file read) only when it differs and
/// a content digest was recorded.
pub fn check(dir: &Dir, fingerprint: Option<&str>, content: Option<&str>) -> Check {
    let Ok(actual) = tree_digest(dir) else {
        return Check::Changed;
    };
    if fingerprint == Some(actual.as_str()) {
        return Check::Same;
    }
    match content {
        Some(want) if stackpack_fetch::tree_content_sha256(dir).is_ok_and(|got| got == want) => {
            Check::SameContent(actual)
        }
        _ => Check::Changed,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn digest_sees_content_names_and_modes() {
        let d = tempfile::tempdir().unwrap();
        let dir = Dir::open_ambient_dir(d.path(), cap_std::ambient_authority()).unwrap();
        dir.create_dir("a").unwrap();
        dir.write("a/x", "1").unwrap();
        dir.write("y", "2").unwrap();
        let first = tree_digest(&dir).unwrap();
        assert_eq!(first, tree_digest(&dir).unwrap());
        dir.write("a/x", "changed!").unwrap();
        let second = tree_digest(&dir).unwrap();
        assert_ne!(first, second);
        std::fs::set_permissions(
            d.path().join("y"),
            <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755),
        )
        .unwrap();
        assert_ne!(second, tree_digest(&dir).unwrap());
        dir.write("z", "").unwrap();
        assert_ne!(second, tree_digest(&dir).unwrap());
    }

    /// The rule an installed tree is checked by: its own fingerprint says intact; a
    /// foreign fingerprint with the same content is intact and yields this root's
    /// fingerprint; an entry without a content digest (an older lockfile) is checked by
    /// its fingerprint alone; one changed byte is a change either way.
    #[test]
    fn check_uses_the_fingerprint_then_the_content() {
        let d = tempfile::tempdir().unwrap();
        let dir = Dir::open_ambient_dir(d.path(), cap_std::ambient_authority()).unwrap();
        dir.create_dir("a").unwrap();
        dir.write("a/x", "1").unwrap();
        let fp = tree_digest(&dir).unwrap();
        let content = stackpack_fetch::tree_content_sha256(&dir).unwrap();
        assert_eq!(check(&dir, Some(&fp), None), Check::Same);
        assert_eq!(check(&dir, Some(&fp), Some(&content)), Check::Same);
        assert_eq!(
            check(&dir, Some("from-another-root"), Some(&content)),
            Check::SameContent(fp.clone())
        );
        assert_eq!(check(&dir, Some("from-another-root"), None), Check::Changed);
        dir.write("a/x", "22").unwrap();
        assert_eq!(check(&dir, Some(&fp), Some(&content)), Check::Changed);
    }
}
