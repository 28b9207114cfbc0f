//! A fingerprint of a directory tree, as git's index keeps one: every entry's relative
//! path, kind, mode, size, modification time and inode (and a symlink's target), in
//! name order, hashed. It reads no file content, so recording it at install and checking
//! it on reinstall costs one `stat` per entry; any edit, replacement or new file changes
//! it. (Like git, it trusts that whoever changes content also changes size or mtime.)

use cap_std::fs::{MetadataExt, PermissionsExt};

use cap_std::fs::Dir;
use sha2::{Digest, Sha256};

pub fn tree_digest(dir: &Dir) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    walk(dir, "", &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

fn walk(dir: &Dir, prefix: &str, hasher: &mut Sha256) -> std::io::Result<()> {
    let mut entries: Vec<_> = dir.entries()?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let path = format!("{prefix}{name}");
        let ty = entry.file_type()?;
        if ty.is_dir() {
            hasher.update(format!("d {path}\0"));
            walk(&entry.open_dir()?, &format!("{path}/"), hasher)?;
        } else if ty.is_symlink() {
            let target = dir.read_link(&*name)?;
            hasher.update(format!("l {path}\0{}\0", target.display()));
        } else {
            let m = entry.metadata()?;
            hasher.update(format!(
                "f {path} {:o} {} {:?} {}\0",
                m.permissions().mode(),
                m.len(),
                m.modified().map(|t| t.into_std()).ok(),
                m.ino()
            ));
        }
    }
    Ok(())
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
}
