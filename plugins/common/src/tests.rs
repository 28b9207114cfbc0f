use super::*;
use std::cmp::Ordering;

#[test]
fn strip_dot_git_only_strips_the_suffix() {
    assert_eq!(strip_dot_git("repo.git"), "repo");
    assert_eq!(strip_dot_git("my.pack.git"), "my.pack");
    assert_eq!(strip_dot_git("my.pack"), "my.pack");
    assert_eq!(strip_dot_git("a.github.io"), "a.github.io");
    assert_eq!(strip_dot_git("repo.git.git"), "repo.git");
}

#[test]
fn parse_url_full() {
    let u = parse_url("https://user:t@k@github.com:8443/o/r.git?x=1#frag").unwrap();
    assert_eq!(u.scheme, "https");
    assert_eq!(u.userinfo, Some("user:t@k"));
    assert_eq!(u.host, "github.com");
    assert_eq!(u.port, Some("8443"));
    assert_eq!(u.path, "/o/r.git");
    assert_eq!(u.query, Some("x=1"));
    assert_eq!(u.fragment, Some("frag"));
}

#[test]
fn parse_url_minimal_and_edge_cases() {
    let u = parse_url("ssh://git@gitlab.com/g/s/p").unwrap();
    assert_eq!(
        (u.scheme, u.userinfo, u.host, u.port, u.path),
        ("ssh", Some("git"), "gitlab.com", None, "/g/s/p")
    );
    let f = parse_url("file:///abs/dir").unwrap();
    assert_eq!((f.host, f.path), ("", "/abs/dir"));
    let h = parse_url("https://host").unwrap();
    assert_eq!((h.host, h.path), ("host", ""));
    let v6 = parse_url("https://[::1]:8080/x").unwrap();
    assert_eq!((v6.host, v6.port, v6.path), ("[::1]", Some("8080"), "/x"));
    let empty_port = parse_url("https://host:/x").unwrap();
    assert_eq!(empty_port.port, None);
    assert!(parse_url("https://host:abc/x").is_none());
    assert!(parse_url("owner/repo").is_none());
    assert!(parse_url("git@github.com:o/r").is_none());
    assert!(parse_url("1http://x/y").is_none());
    assert!(parse_url("https://ho st/x").is_none());
    assert!(parse_url("HTTPS://X/y").unwrap().scheme_is("https"));
}

#[test]
fn scp_like() {
    let s = parse_scp_like("git@github.com:owner/repo.git").unwrap();
    assert_eq!(
        (s.user, s.host, s.path),
        (Some("git"), "github.com", "owner/repo.git")
    );
    let s = parse_scp_like("github.com:owner/repo").unwrap();
    assert_eq!((s.user, s.host), (None, "github.com"));
    let s = parse_scp_like("git@gitlab.com:group/sub/pack").unwrap();
    assert_eq!(s.path, "group/sub/pack");
    assert!(parse_scp_like("ssh://git@github.com/o/r").is_none());
    assert!(parse_scp_like("owner/repo").is_none());
    assert!(parse_scp_like("./dir:with/colon").is_none());
    assert!(parse_scp_like("git@github.com:").is_none());
    assert!(parse_scp_like("@github.com:o/r").is_none());
    assert!(parse_scp_like("name").is_none());
}

#[test]
fn st2_ssh_form() {
    let s = parse_st2_ssh("git@github.com/owner/repo").unwrap();
    assert_eq!(
        (s.user, s.host, s.path),
        (Some("git"), "github.com", "owner/repo")
    );
    assert!(parse_st2_ssh("github.com/owner/repo").is_none());
    assert!(parse_st2_ssh("git@github.com:owner/repo").is_none());
    assert!(parse_st2_ssh("https://git@github.com/owner/repo").is_none());
    assert!(parse_st2_ssh("git@github.com/").is_none());
}

#[test]
fn git_locator_dispatch() {
    assert!(matches!(
        parse_git_locator("https://github.com/o/r"),
        Some(GitLocator::Url(_))
    ));
    let scp = parse_git_locator("git@github.com:o/r").unwrap();
    assert!(matches!(scp, GitLocator::Scp(_)));
    assert_eq!((scp.host(), scp.path()), ("github.com", "o/r"));
    let st2 = parse_git_locator("git@github.com/o/r").unwrap();
    assert!(matches!(st2, GitLocator::St2Ssh(_)));
    assert_eq!(st2.path(), "o/r");
    assert_eq!(parse_git_locator("ssh://git@h/o/r").unwrap().path(), "o/r");
    assert!(parse_git_locator("owner/repo").is_none());
    assert!(parse_git_locator("name").is_none());
}

#[test]
fn owner_repo_shorthand() {
    assert_eq!(parse_owner_repo("owner/repo"), Some(("owner", "repo")));
    assert_eq!(
        parse_owner_repo("StackStorm-Exchange/stackstorm-aws.git"),
        Some(("StackStorm-Exchange", "stackstorm-aws.git"))
    );
    assert_eq!(
        parse_owner_repo("my_org/my.pack"),
        Some(("my_org", "my.pack"))
    );
    for bad in [
        "repo",
        "a/b/c",
        "/repo",
        "owner/",
        "git@github.com/o",
        "host:o/r",
        "https://github.com/o/r",
        "o w/r",
        "../r",
        "o/.git",
        "o/r?x",
    ] {
        assert_eq!(parse_owner_repo(bad), None, "{bad}");
    }
}

#[test]
fn bare_names_and_ranges() {
    assert!(is_bare_name("sensu"));
    assert!(is_bare_name("my_pack-2.x"));
    assert!(!is_bare_name(""));
    assert!(!is_bare_name(".."));
    assert!(!is_bare_name("o/r"));
    assert!(!is_bare_name("a:b"));
    assert!(!is_bare_name("a@b"));
    assert_eq!(split_version_range("some_pack>"), Some(("some_pack", ">")));
    assert_eq!(
        split_version_range("some_pack<2.0"),
        Some(("some_pack", "<2.0"))
    );
    assert_eq!(split_version_range("p~1"), Some(("p", "~1")));
    assert_eq!(split_version_range("some_pack"), None);
    assert_eq!(split_version_range("o/r>"), None);
    assert_eq!(split_version_range(">1"), None);
}

#[test]
fn repo_paths() {
    assert_eq!(
        repo_path_segments("/group/sub/pack.git/").unwrap(),
        ["group", "sub", "pack"]
    );
    assert_eq!(repo_path_segments("/").unwrap(), Vec::<&str>::new());
    assert!(repo_path_segments("/a//b").is_err());
    assert!(repo_path_segments("/a/b c").is_err());
    assert!(repo_path_segments("/a/../b").is_err());
}

#[test]
fn canonical_identities_never_hold_credentials() {
    assert_eq!(
        canonical_identity("GitHub.com", "/o/r.git"),
        "github.com/o/r"
    );
    assert_eq!(
        canonical_identity("gitlab.com", "g/s/p/"),
        "gitlab.com/g/s/p"
    );
    for url in [
        "https://user:token@github.com/o/r.git",
        "http://github.com/o/r",
        "ssh://git@github.com:22/o/r",
        "git@github.com:o/r.git",
        "git@github.com/o/r",
    ] {
        assert_eq!(
            canonical_from_url(url).as_deref(),
            Some("github.com/o/r"),
            "{url}"
        );
    }
    assert_eq!(
        canonical_from_url("file:///srv/packs/x.git").as_deref(),
        Some("file:///srv/packs/x")
    );
    assert_eq!(canonical_from_url("not a url"), None);
}

#[test]
fn userinfo_removal() {
    assert_eq!(
        without_userinfo("https://u:t@github.com/o/r"),
        "https://github.com/o/r"
    );
    assert_eq!(
        without_userinfo("https://github.com/o/r"),
        "https://github.com/o/r"
    );
    assert_eq!(without_userinfo("git@github.com:o/r"), "git@github.com:o/r");
}

#[test]
fn host_lists() {
    let hosts = parse_host_list(" ghe.example.com, https://Git.Corp:8443/ ,http://old.corp\n");
    assert_eq!(
        hosts,
        [
            ConfiguredHost {
                host: "ghe.example.com".into(),
                origin: "https://ghe.example.com".into()
            },
            ConfiguredHost {
                host: "git.corp".into(),
                origin: "https://git.corp:8443".into()
            },
            ConfiguredHost {
                host: "old.corp".into(),
                origin: "http://old.corp".into()
            },
        ]
    );
    assert!(parse_host_list("").is_empty());
    assert!(parse_host_list("u:p@host").is_empty());
}

#[test]
fn percent_decoding() {
    assert_eq!(percent_decode("/a%20b").as_deref(), Some("/a b"));
    assert_eq!(percent_decode("/plain").as_deref(), Some("/plain"));
    assert_eq!(percent_decode("/bad%2"), None);
    assert_eq!(percent_decode("/bad%zz"), None);
    assert_eq!(percent_decode("/%ff"), None);
}

#[test]
fn sha256() {
    assert!(is_sha256_hex(&"aB".repeat(32)));
    assert!(!is_sha256_hex("abc"));
    assert!(!is_sha256_hex(&"g".repeat(64)));
}

#[test]
fn version_order() {
    let mut v = vec![
        "1.0.0",
        "v2.0.0",
        "1.10.0",
        "1.2.0",
        "1.2.0-rc.1",
        "1.2.0-rc.10",
        "1.2.0-beta",
        "garbage",
        "0.9",
        "1.2.0-rc.2",
    ];
    v.sort_by(|a, b| compare_versions(b, a));
    assert_eq!(
        v,
        [
            "v2.0.0",
            "1.10.0",
            "1.2.0",
            "1.2.0-rc.10",
            "1.2.0-rc.2",
            "1.2.0-rc.1",
            "1.2.0-beta",
            "1.0.0",
            "0.9",
            "garbage"
        ]
    );
    assert_eq!(
        compare_versions("1.0.0+build", "1.0.0+other"),
        Ordering::Less
    );
    assert_eq!(compare_versions("1.0", "1.0.0"), Ordering::Less); // tie broken by text
    assert_eq!(compare_versions("1.0.0", "1.0.0"), Ordering::Equal);
    assert_eq!(compare_versions("1.0.0-", "1.0.0"), Ordering::Less);
}

#[test]
fn tag_v() {
    assert_eq!(strip_tag_v("v1.2.0"), "1.2.0");
    assert_eq!(strip_tag_v("1.2.0"), "1.2.0");
    assert_eq!(strip_tag_v("vendor-fix"), "vendor-fix");
    assert_eq!(strip_tag_v("v"), "v");
}

#[test]
fn requested_git_ref_rules() {
    use crate::forge::requested_git_ref;
    assert_eq!(requested_git_ref("o/r", None), Ok(None));
    assert_eq!(
        requested_git_ref("o/r", Some("v1.2.0")),
        Ok(Some("v1.2.0".into()))
    );
    let err = requested_git_ref("https://u:tok@github.com/o/r", Some("")).unwrap_err();
    assert!(err.contains("nothing after '='"), "{err}");
    assert!(!err.contains("tok"), "{err}");
}
