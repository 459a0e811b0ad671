//! Integration tests for `opskit itop` (filled in by its owner).
