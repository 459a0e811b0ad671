#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this). For CI and test machines,
# not production servers (scripts/install.sh is the one for those): it installs the Debian
# packages the tests need (scripts/test-deps.txt) and stops the daemons those packages start
# on installation (named, munin-node), so the tests run their own on free loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)

installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }

mapfile -t deps < <(sed -e 's/#.*//' scripts/test-deps.txt | tr -s ' \t' '\n\n' | grep . | sort -u)
missing=()
for p in "${deps[@]}"; do
  installed "$p" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "test: installing ${missing[*]}" >&2
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # stop what those packages just started (only those: a daemon that was already installed
  # here is left alone)
  for pair in bind9:named bind9:bind9 munin-node:munin-node prometheus:prometheus \
      prometheus-bind-exporter:prometheus-bind-exporter nginx-light:nginx; do
    pkg=${pair%%:*} svc=${pair#*:}
    [[ " ${missing[*]} " == *" $pkg "* ]] || continue
    if [ -d /run/systemd/system ]; then
      "${sudo[@]}" systemctl stop "$svc" >/dev/null 2>&1 || true
    elif [ -x "/etc/init.d/$svc" ]; then
      "${sudo[@]}" "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
    fi
  done
fi

cargo fmt --check
cargo clippy --locked --all-targets --features system-tests -- -D warnings
# every fuzz target still builds against the library (fuzz/ is its own workspace; stable can
# check it, running it needs nightly: scripts/fuzz.sh)
cargo check --locked --quiet --manifest-path fuzz/Cargo.toml --bins
# and each runs a few seconds without a crash, where nightly Rust and cargo-fuzz are installed
# (not on a fresh machine: scripts/fuzz.sh says how to run them longer)
if cargo +nightly fuzz --version >/dev/null 2>&1; then
  bash scripts/fuzz.sh 3
else
  echo "SKIPPED: fuzz smoke run: needs nightly Rust and cargo-fuzz (cargo install --locked cargo-fuzz)"
fi
cargo test --locked --features system-tests -- --test-threads=2
