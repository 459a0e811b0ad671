#!/usr/bin/env bash
# Install opskit from this checkout for the user running it, and touch nothing else:
#   - a C compiler (gcc, libc6-dev: the linker cargo uses) through apt-get, only if `cc` is
#     missing;
#   - `cargo install --locked --path .` into ~/.cargo/bin ($CARGO_INSTALL_ROOT/bin if set);
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
