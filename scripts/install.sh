#!/usr/bin/env bash
# Install opskit from this checkout for the user running it, and touch nothing else:
#   - a C compiler (gcc, libc6-dev: the linker cargo uses) through apt-get, only if `cc` is
#     missing;
#   - `cargo install --locked --path .` into ~/.cargo/bin ($CARGO_INSTALL_ROOT/bin if set),
#     with Rust 1.85 or newer (Cargo.toml's rust-version; checked first, with a clear message:
#     Debian 12's packaged cargo 1.65 cannot even read Cargo.lock);
#   - the man pages beside it (~/.cargo/share/man, which man finds through PATH) and the
#     shell completions under ~/.local/share (fish: ~/.config/fish).
# It never installs servers (bind9, munin-node, ...) and never starts, stops or restarts a
# service: it is safe on a production server. The test suite's packages and service handling
# are scripts/test.sh's (for CI and test machines only); the Debian package is
# scripts/package.sh's.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "install: $*" >&2; }
die() { say "$*"; exit 1; }

command -v cargo >/dev/null || die "cargo not found: install Rust first (https://rustup.rs)"

# the minimum Rust, from Cargo.toml's rust-version: both cargo and rustc must be that new
need=$(sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' Cargo.toml | head -n1)
[ -n "$need" ] || die "Cargo.toml has no rust-version"
older() { # older A B: version A < version B (numeric, by component)
  [ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -t. -k1,1n -k2,2n -k3,3n | head -n1)" = "$1" ]
}
for tool in cargo rustc; do
  have=$("$tool" --version 2>/dev/null | sed -n 's/^[a-z]* \([0-9][0-9.]*\).*/\1/p')
  [ -n "$have" ] || die "cannot tell the version of $tool ($(command -v "$tool")): Rust $need or newer is needed"
  if older "$have" "$need"; then
    die "opskit needs Rust $need or newer; $(command -v "$tool") is $tool $have. Install a current toolchain with rustup (https://rustup.rs; Debian's packaged cargo is too old), make sure ~/.cargo/bin comes first on PATH, then rerun"
  fi
done

if ! command -v cc >/dev/null; then
  command -v apt-get >/dev/null || die "no C compiler (cc): install gcc or clang, then rerun"
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  say "no C compiler (cc): apt-get install gcc libc6-dev"
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends gcc libc6-dev
fi

root=${CARGO_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}
cargo install --locked --path . --root "$root"

# man pages: man-db maps each PATH directory's ../share/man, so ~/.cargo/bin on PATH is enough
install -d "$root/share/man/man1"
install -m644 man/*.1 "$root/share/man/man1/"
data=${XDG_DATA_HOME:-$HOME/.local/share}
install -Dm644 completions/opskit.bash "$data/bash-completion/completions/opskit"
if command -v zsh >/dev/null; then
  install -Dm644 completions/_opskit "$data/zsh/site-functions/_opskit"
  say "zsh: add  fpath+=($data/zsh/site-functions)  before compinit in ~/.zshrc"
fi
if command -v fish >/dev/null; then
  install -Dm644 completions/opskit.fish "${XDG_CONFIG_HOME:-$HOME/.config}/fish/completions/opskit.fish"
fi
say "installed $root/bin/opskit ($("$root/bin/opskit" --version)), man pages in $root/share/man"
if [ "$(command -v opskit || true)" != "$root/bin/opskit" ]; then
  say "note: $root/bin is not first on PATH for 'opskit': add it (rustup's ~/.cargo/env does)"
fi
