//! Integration tests for `opskit conn-audit` (filled in by its owner).
