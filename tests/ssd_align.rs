//! Integration tests for `opskit ssd-align` (filled in by its owner).
