//! Placeholder; filled in by the test-infrastructure work.
