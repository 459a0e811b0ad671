#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --deps
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked -- --test-threads=2
