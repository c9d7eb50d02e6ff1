//! Summarised repeated warnings: an operator's log must stay readable when one cause repeats
//! thousands of times (5 000 port scanners that never finish the handshake would otherwise write
//! 5 000 lines).
//!
//! Each warning site names its kind (a `&'static str` such as `"handshake timeout"`). Per window
//! of [`WINDOW`] a kind is logged at most `log.repeat_limit` times; further occurrences are only
//! counted, and one summary line per kind (`"N more ... in the last 10 s"`) is written when the
//! window rolls over: on the next occurrence, or from the server's once-a-window
//! [`LogThrottle::flush`], whichever comes first. A limit of 0 logs everything.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tracing::warn;

/// The length of one counting window.
pub const WINDOW: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct Window {
    start: Instant,
    logged: u32,
    suppressed: u64,
}

/// Per-kind counters of warnings; see the module docs.
#[derive(Debug)]
pub struct LogThrottle {
    limit: u32,
    kinds: Mutex<HashMap<&'static str, Window>>,
}

impl LogThrottle {
    /// A throttle logging each kind at most `limit` times per window (0 = no limit).
    pub fn new(limit: u32) -> LogThrottle {
        LogThrottle {
            limit,
            kinds: Mutex::new(HashMap::new()),
        }
    }

    /// Whether one more warning of `kind` may be logged now (counts it either way).
    pub fn allow(&self, kind: &'static str) -> bool {
        self.allow_at(kind, Instant::now())
    }

    fn allow_at(&self, kind: &'static str, now: Instant) -> bool {
        if self.limit == 0 {
            return true;
        }
        let mut kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        let w = kinds.entry(kind).or_insert(Window {
            start: now,
            logged: 0,
            suppressed: 0,
        });
        if now.duration_since(w.start) >= WINDOW {
            summarise(kind, w.suppressed);
            *w = Window {
                start: now,
                logged: 0,
                suppressed: 0,
            };
        }
        if w.logged < self.limit {
            w.logged += 1;
            true
        } else {
            w.suppressed += 1;
            false
        }
    }

    /// Write the summary of every kind whose window has ended, and forget idle kinds. The
    /// server calls this once per [`WINDOW`].
    pub fn flush(&self) {
        self.flush_at(Instant::now());
    }

    fn flush_at(&self, now: Instant) -> u64 {
        let mut kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        let mut total = 0;
        kinds.retain(|kind, w| {
            if now.duration_since(w.start) < WINDOW {
                return true;
            }
            total += w.suppressed;
            summarise(kind, w.suppressed);
            false
        });
        total
    }
}

fn summarise(kind: &str, suppressed: u64) {
    if suppressed > 0 {
        warn!(
            kind,
            suppressed,
            "{suppressed} more warnings of this kind in the last {} s (not logged one by one)",
            WINDOW.as_secs()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_the_limit_then_counts_and_summarises() {
        let t = LogThrottle::new(3);
        let t0 = Instant::now();
        let allowed = (0..10).filter(|_| t.allow_at("handshake", t0)).count();
        assert_eq!(allowed, 3);
        // Another kind has its own budget.
        assert!(t.allow_at("tls", t0));
        // Inside the window nothing is flushed.
        assert_eq!(t.flush_at(t0 + Duration::from_secs(1)), 0);
        // After it, the 7 suppressed ones are summarised and the budget is back.
        assert_eq!(t.flush_at(t0 + WINDOW), 7);
        assert!(t.allow_at("handshake", t0 + WINDOW));
    }

    #[test]
    fn a_new_window_restores_the_budget_without_flush() {
        let t = LogThrottle::new(1);
        let t0 = Instant::now();
        assert!(t.allow_at("k", t0));
        assert!(!t.allow_at("k", t0));
        assert!(t.allow_at("k", t0 + WINDOW));
    }

    #[test]
    fn zero_means_no_limit() {
        let t = LogThrottle::new(0);
        let t0 = Instant::now();
        assert!((0..100).all(|_| t.allow_at("k", t0)));
    }
}
