//! Which tool builds pack virtualenvs, as an operator writes it: `auto`, `uv`, `pip`,
//! or the path of a uv binary.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::error::CoreError;

/// Which tool creates a venv and installs requirements into it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum InstallerChoice {
    /// `uv` on PATH, else `~/.local/bin/uv` if executable, else pip.
    #[default]
    Auto,
    /// This uv binary (a path, or a name looked up on PATH); an error if it is not there.
    Uv(PathBuf),
    /// The interpreter's own venv module and pip, run from outside the venv.
    Pip,
}

impl FromStr for InstallerChoice {
    type Err = CoreError;

    /// `auto`, `uv`, `pip`, or a path containing `/` (a uv binary). Surrounding
    /// whitespace is ignored.
    fn from_str(text: &str) -> Result<Self, CoreError> {
        match text.trim() {
            "auto" => Ok(InstallerChoice::Auto),
            "pip" => Ok(InstallerChoice::Pip),
            "uv" => Ok(InstallerChoice::Uv("uv".into())),
            path if path.contains('/') => Ok(InstallerChoice::Uv(path.into())),
            _ => Err(CoreError::Installer {
                value: text.to_owned(),
            }),
        }
    }
}

/// The written form: `auto`, `pip`, or the uv binary as given (`uv` for the one on PATH).
impl fmt::Display for InstallerChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstallerChoice::Auto => f.write_str("auto"),
            InstallerChoice::Pip => f.write_str("pip"),
            InstallerChoice::Uv(path) => write!(f, "{}", path.display()),
        }
    }
}

impl serde::Serialize for InstallerChoice {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn written_forms_parse_and_print_back() {
        for (text, choice) in [
            ("auto", InstallerChoice::Auto),
            (" pip ", InstallerChoice::Pip),
            ("uv", InstallerChoice::Uv("uv".into())),
            (
                "/opt/uv/bin/uv",
                InstallerChoice::Uv("/opt/uv/bin/uv".into()),
            ),
            ("./uv", InstallerChoice::Uv("./uv".into())),
        ] {
            let parsed: InstallerChoice = text.parse().unwrap();
            assert_eq!(parsed, choice, "{text}");
            assert_eq!(parsed.to_string(), text.trim());
        }
    }

    #[test]
    fn anything_else_is_refused_with_the_accepted_forms() {
        for text in ["", "poetry", "UV"] {
            let e = text.parse::<InstallerChoice>().unwrap_err().to_string();
            assert!(e.contains(&format!("\"{text}\"")), "{e}");
            assert!(
                e.contains("auto, uv, pip, or the path of a uv binary"),
                "{e}"
            );
        }
    }
}
