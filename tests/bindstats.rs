//! Integration tests for `opskit bindstats` (filled in by its owner).
