#!/usr/bin/env bash
# Install what opskit's build and tests need on Debian (as root, or through sudo).
#   scripts/setup.sh            system packages + `cargo install --path .`
#   scripts/setup.sh --deps     system packages only (what scripts/test.sh uses)
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential pkg-config   # cc for crates with C parts
  util-linux util-linux-extra  # lsirq (itop's oracle), losetup, partx, unshare
  tmux                         # itop's end-to-end TUI test
  bzip2                        # the 1152-CPU fixtures are .bz2
  bind9 bind9-dnsutils         # a real named + dig for bindstats' tests
  munin-node                   # munin-run for the plugin test
  libxml2-utils                # xmllint, bindstats' benchmark baseline
  libxml-simple-perl libxml-parser-perl libwww-perl  # the perl bind9_statchannel plugin (bindstats oracle)
  python3-prometheus-client    # the exposition parser of bindstats' Prometheus tests
  fdisk parted lvm2 e2fsprogs xfsprogs gdisk  # ssd-align's image tests
  strace                       # ssd-align's no-write test
  iproute2 procps              # ss (conn-audit's oracle), ip
  python3                      # small test helpers
)

SUDO=()
if [ "$(id -u)" -ne 0 ]; then SUDO=(sudo); fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  "${SUDO[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# a freshly installed named/munin-node must not hold the ports or files the tests use
for svc in named bind9 munin-node; do
  "${SUDO[@]}" systemctl stop "$svc" >/dev/null 2>&1 || true
done

if ! command -v cargo >/dev/null; then
  echo "setup: cargo not found: install Rust (https://rustup.rs) first" >&2
  exit 1
fi

if [ "${1:-}" != "--deps" ]; then
  cargo install --locked --path .
fi
