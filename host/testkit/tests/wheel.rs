//! The fixture wheel, checked by Python's own zipfile, hashlib and base64: every file is
//! listed in RECORD with its digest and size, and the metadata names the package.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

const CHECK: &str = r#"
import base64, hashlib, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
info = "my_pkg-2.0.dist-info/"
rows = [l.split(",") for l in z.read(info + "RECORD").decode().splitlines()]
listed = {r[0] for r in rows}
assert listed == set(z.namelist()), (listed, z.namelist())
for path, digest, size in rows:
    if path == info + "RECORD":
        assert digest == "" and size == "", (digest, size)
        continue
    data = z.read(path)
    want = "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    assert digest == want and int(size) == len(data), (path, digest, want, size)
meta = z.read(info + "METADATA").decode()
assert "Name: my-pkg\n" in meta and "Version: 2.0\n" in meta, meta
assert "Tag: py3-none-any" in z.read(info + "WHEEL").decode()
assert "my-pkg-cli = my_pkg:main" in z.read(info + "entry_points.txt").decode()
print("ok")
"#;

#[test]
fn record_lists_every_file_with_its_digest_and_size() {
    let tmp = tempfile::tempdir().unwrap();
    let wheelhouse = tmp.path().join("wheels");
    let wheel = stackpack_testkit::build_wheel(&wheelhouse, "my-pkg", "2.0", "v");
    assert_eq!(wheel, wheelhouse.join("my_pkg-2.0-py3-none-any.whl"));
    let out = Command::new("python3")
        .args(["-c", CHECK])
        .arg(&wheel)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success() && out.stdout == b"ok\n",
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
