//! How long work reports its progress: a small trait the caller implements (the CLI
//! with spinners on a terminal), so the library crates draw nothing themselves.

/// Progress of long work, several tasks at a time (parallel fetches).
pub trait Progress: Send + Sync {
    /// A task began: `message` says what it does. Returns the id [`Progress::finish`]
    /// takes.
    fn start(&self, message: &str) -> usize;
    /// The task ended, however it ended; clear whatever was shown for it.
    fn finish(&self, id: usize);
}

/// Shows nothing.
pub struct Silent;

impl Progress for Silent {
    fn start(&self, _message: &str) -> usize {
        0
    }
    fn finish(&self, _id: usize) {}
}

/// Finishes its task when dropped, so a task that fails or panics is cleared too.
pub struct Task<'a> {
    progress: &'a dyn Progress,
    id: usize,
}

impl<'a> Task<'a> {
    pub fn start(progress: &'a dyn Progress, message: &str) -> Task<'a> {
        Task {
            id: progress.start(message),
            progress,
        }
    }
}

impl Drop for Task<'_> {
    fn drop(&mut self) {
        self.progress.finish(self.id);
    }
}
