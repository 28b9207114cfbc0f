//! How operations report long work: a small trait the caller implements (the CLI with
//! a spinner on a terminal), so this crate draws nothing itself.

/// Progress of long work: one step at a time.
pub trait Progress: Send + Sync {
    /// Long work began, or moved on to `message`.
    fn start(&self, message: &str);
    /// The work ended; clear whatever was shown.
    fn finish(&self);
}

/// Shows nothing (the default).
pub struct Silent;

impl Progress for Silent {
    fn start(&self, _message: &str) {}
    fn finish(&self) {}
}
