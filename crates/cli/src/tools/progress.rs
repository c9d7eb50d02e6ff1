//! Progress output for the long-running tools, always on stderr (stdout may carry media):
//! a one-line live status (indicatif spinner) when stderr is a terminal, else a plain line
//! every [`PLAIN_INTERVAL`] so logs stay readable.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

/// How often a plain progress line is printed when stderr is not a terminal.
pub const PLAIN_INTERVAL: Duration = Duration::from_secs(3);

/// How often the terminal status line is refreshed.
const TTY_INTERVAL: Duration = Duration::from_millis(200);

/// A progress reporter.
#[derive(Debug)]
pub struct Progress {
    prefix: &'static str,
    bar: Option<ProgressBar>,
    quiet: bool,
    last: Option<Instant>,
}

impl Progress {
    /// A reporter whose lines start with `prefix`; `quiet` prints nothing until [`Progress::done`].
    pub fn new(prefix: &'static str, quiet: bool) -> Progress {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template("{spinner} {prefix}: {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            bar.set_style(style);
            bar.set_prefix(prefix);
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Progress {
            prefix,
            bar,
            quiet,
            last: None,
        }
    }

    /// Report the current state; `line` is only called when something will be printed.
    pub fn update(&mut self, line: impl FnOnce() -> String) {
        if self.quiet {
            return;
        }
        let now = Instant::now();
        let every = if self.bar.is_some() {
            TTY_INTERVAL
        } else {
            PLAIN_INTERVAL
        };
        if self.last.is_some_and(|t| now.duration_since(t) < every) {
            return;
        }
        if self.last.is_none() && self.bar.is_none() {
            // The first plain line waits for one interval: short runs print only the summary.
            self.last = Some(now);
            return;
        }
        self.last = Some(now);
        match &self.bar {
            Some(bar) => bar.set_message(line()),
            None => eprintln!("{}: {}", self.prefix, line()),
        }
    }

    /// Clear the live line and print the final summary (also when quiet).
    pub fn done(&self, summary: &str) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        eprintln!("{}: {summary}", self.prefix);
    }
}
