//! Progress of long work (a build, a release phase, a rollout) as lines for
//! whoever watches it: a push's `remote:` lines, the CLI, the dashboard. It
//! sits below `build/` and `deploy/`, which only write to it; the operation
//! that runs the work decides where the lines go.

use std::sync::Arc;

type Sink = Arc<dyn Fn(String) + Send + Sync>;

#[derive(Clone)]
pub struct Output(Sink);

impl Output {
    /// Lines go to `sink`, in order, as they are written.
    pub fn new(sink: impl Fn(String) + Send + Sync + 'static) -> Self {
        Self(Arc::new(sink))
    }

    /// An output nobody reads.
    pub fn discard() -> Self {
        Self::new(|_| {})
    }

    /// A step heading: `-----> Building ...`.
    pub fn step(&self, text: impl AsRef<str>) {
        (self.0)(format!("-----> {}", text.as_ref()));
    }

    /// A detail line, indented under its step.
    pub fn line(&self, text: impl AsRef<str>) {
        (self.0)(format!("       {}", text.as_ref()));
    }

    pub fn error(&self, text: impl AsRef<str>) {
        for line in text.as_ref().lines() {
            (self.0)(format!(" !     {line}"));
        }
    }

    /// A line as a tool printed it (docker build output).
    pub fn raw(&self, text: impl Into<String>) {
        (self.0)(text.into());
    }
}

/// A duration for people: `45 s`, `15 minutes`.
pub fn span(d: std::time::Duration) -> String {
    match d.as_secs() {
        s if s < 120 => format!("{s} s"),
        s => format!("{} minutes", s / 60),
    }
}
