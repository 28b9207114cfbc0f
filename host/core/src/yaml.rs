//! The one way stackpack reads and writes YAML: [`from_str`] and [`to_string`], on
//! serde-saphyr (pure Rust, no `unsafe`), with the same rules for pack.yaml,
//! config.schema.yaml, configs and content files.
//!
//! The rules are YAML 1.2's core schema, as stackpack has always read these files:
//! only `true`/`false` (any case form YAML allows) are booleans, so `yes`, `on`, `y`
//! stay strings; `0755` and `1_000` stay strings rather than becoming numbers; a
//! duplicate key is an error; explicit tags outside YAML's own (`!!str`, `!!int`, ...)
//! are refused, so nothing is ever built from `!!python/object` and the like; one
//! document per text. Every error names the line and column.
//!
//! Hostile input is bounded before it costs memory or stack: a file over
//! [`MAX_FILE_BYTES`] is not read (the callers read through `stackpack_fs::read_limited`),
//! nesting deeper than
//! [`MAX_DEPTH`], more than [`MAX_NODES`] nodes (aliases count each time they are
//! expanded, so a "billion laughs" document stops early), more than [`MAX_ALIASES`]
//! aliases, or more than [`MAX_SCALAR_BYTES`] of scalar text are refused with an
//! error saying which budget was exceeded.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A YAML syntax error, a budget breach or a value of the wrong shape (boxed where
/// returned: it is large); it displays on one line and ends with `at line N, column M` where the parser knows the position.
pub type YamlError = serde_saphyr::Error;

/// An error turning a value into YAML text.
pub type YamlWriteError = serde_saphyr::SerializeError;

/// The largest metadata file read (pack.yaml, content files, config.schema.yaml,
/// configs, override files, `config --from-file`): 4 MiB, far above any real pack's
/// (they are a few KiB). A larger file is refused before it is read or parsed.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// How deep mappings and lists may nest.
pub const MAX_DEPTH: usize = 64;
/// How many nodes (scalars, lists, mappings; each alias expansion included) a text may hold.
pub const MAX_NODES: usize = 250_000;
/// How many aliases (`*name`) a text may use.
pub const MAX_ALIASES: usize = 10_000;
/// How much scalar text a document may hold, in bytes.
pub const MAX_SCALAR_BYTES: usize = 16 * 1024 * 1024;

/// The parser options every stackpack YAML read uses (see the module documentation).
pub fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: MAX_DEPTH,
            max_nodes: MAX_NODES,
            max_aliases: MAX_ALIASES,
            max_total_scalar_bytes: MAX_SCALAR_BYTES,
        },
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        underscored_numbers_as_strings: true,
        reject_unsupported_tags: true,
        with_snippet: false,
    }
}

/// Parses one YAML document into `T` (often `serde_json::Value`). An empty text is
/// YAML's null.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, Box<YamlError>> {
    serde_saphyr::from_str_with_options(text, options()).map_err(Box::new)
}

/// Writes `value` as a YAML document; strings that would read back as another type
/// (`"yes"`, `"1.0"`, `"null"`) are quoted.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, YamlWriteError> {
    serde_saphyr::to_string(value)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn parse(text: &str) -> Result<Value, String> {
        from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn core_schema_scalars() {
        let v = parse(
            "a: yes\nb: on\nc: y\nd: 0755\ne: 1_000\nf: ~\ng: 1.5\nh: 0x1f\ni: TRUE\nj: 2024-01-01\nk: 7\n",
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"a": "yes", "b": "on", "c": "y", "d": "0755", "e": "1_000", "f": null,
                   "g": 1.5, "h": 31, "i": true, "j": "2024-01-01", "k": 7})
        );
        assert_eq!(parse("").unwrap(), Value::Null);
        assert_eq!(parse("a: !!str 5\n").unwrap(), json!({"a": "5"}));
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("a: 1\nb: [1\n").unwrap_err();
        assert!(e.contains("line 2"), "{e}");
        assert!(!e.contains('\n'), "one line: {e}");
        let e = parse("a: 1\na: 2\n").unwrap_err();
        assert!(e.contains("duplicate") && e.contains("line 2"), "{e}");
        let e = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert!(e.contains("line 3"), "{e}");
    }

    #[test]
    fn custom_tags_are_refused() {
        for (text, tag) in [
            (
                "name: !python/object/apply:os.system [ls]\n",
                "!python/object/apply:os.system",
            ),
            ("name: !!python/name:os.system\n", "!!python/name:os.system"),
            ("- a\n- !custom b\n", "!custom"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(tag), "{e}");
        }
    }

    #[test]
    fn billion_laughs_is_refused() {
        let mut text = String::from(
            "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        for (prev, name) in ["a", "b", "c", "d", "e", "f", "g", "h"]
            .iter()
            .zip(["b", "c", "d", "e", "f", "g", "h", "i"])
        {
            let refs = vec![format!("*{prev}"); 9].join(",");
            text.push_str(&format!("{name}: &{name} [{refs}]\n"));
        }
        let started = std::time::Instant::now();
        let e = parse(&text).unwrap_err();
        assert!(e.contains("budget"), "{e}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn deep_nesting_is_refused() {
        for text in [
            "[".repeat(100_000),
            "{a: ".repeat(100_000),
            (0..MAX_DEPTH + 10)
                .map(|i| format!("{}a:\n", " ".repeat(i)))
                .collect(),
            "- ".repeat(MAX_DEPTH + 10) + "x\n",
        ] {
            assert!(parse(&text).is_err());
        }
        // Nesting within the limit is fine.
        let ok: String = (0..MAX_DEPTH / 2)
            .map(|i| format!("{}a:\n", " ".repeat(i)))
            .collect();
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn huge_documents_are_refused() {
        let big = format!("a: \"{}\"\n", "x".repeat(MAX_SCALAR_BYTES + 1));
        let e = parse(&big).unwrap_err();
        assert!(e.contains("budget"), "{e}");
        let many: String = (0..MAX_NODES).map(|i| format!("- {i}\n")).collect();
        let e = parse(&many).unwrap_err();
        assert!(e.contains("budget"), "{e}");
    }

    #[test]
    fn written_yaml_reads_back_the_same() {
        let v = json!({"s": "yes", "n": "1.0", "z": "null", "o": "0755", "t": "true",
                       "list": [1, 2.5, false, null], "nested": {"k": "multi\nline"}});
        let text = to_string(&v).unwrap();
        assert_eq!(parse(&text).unwrap(), v, "{text}");
    }
}
