#!/usr/bin/env bash
# Build opskit's Debian package and print its path on the last line:
#   bash scripts/package.sh        -> $CARGO_TARGET_DIR/debian/opskit_VERSION-1_ARCH.deb
# beside it SHA256SUMS (check with `sha256sum -c SHA256SUMS` in that directory).
# It runs `cargo build --release --locked` (nothing to do when the release build is current)
# and assembles the package with dpkg's own tools: dpkg-shlibdeps computes Depends and
# `dpkg-deb --build --root-owner-group` builds it, so nothing beyond dpkg-dev (part of
# build-essential) is needed. The files it packs are in pkg/ (munin plugins, systemd units,
# maintainer scripts, examples, lintian overrides), man/ and completions/; the copyright file
# is generated from `cargo metadata` (pkg/gen-copyright.pl, perl from dpkg-dev).
#
# Reproducible: the same commit gives the same .deb whoever builds it and wherever the
# checkout, CARGO_HOME and the target directory are. The build maps those three paths to
# /opskit, /cargo and /target (--remap-path-prefix, added to any RUSTFLAGS given), the
# dates are the commit's (SOURCE_DATE_EPOCH), and the umask, owners and sizes are fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd -P)
umask 022

die() { echo "package: $*" >&2; exit 1; }
for tool in dpkg-deb dpkg-shlibdeps gzip objcopy perl sha256sum; do
  command -v "$tool" >/dev/null || die "$tool not found (apt-get install dpkg-dev)"
done

target=${CARGO_TARGET_DIR:-target}
case $target in /*) ;; *) target=$repo/$target ;; esac
mkdir -p "$target"
target=$(cd "$target" && pwd -P)
export CARGO_TARGET_DIR=$target
cargo_home=${CARGO_HOME:-$HOME/.cargo}
[ -d "$cargo_home" ] && cargo_home=$(cd "$cargo_home" && pwd -P)

# No build path reaches the binary: panic locations and debug strings name
# /cargo/registry/src/..., /opskit/src/... and /target/... instead. The last matching prefix
# wins, so the target directory (often inside the checkout) comes last. CARGO_ENCODED_RUSTFLAGS
# (0x1f-separated) keeps paths with spaces whole.
sep=$'\x1f'
flags=${CARGO_ENCODED_RUSTFLAGS:-}
if [ -z "$flags" ] && [ -n "${RUSTFLAGS:-}" ]; then
  read -r -a words <<<"$RUSTFLAGS"
  flags=$(IFS=$sep; echo "${words[*]}")
fi
for map in "$cargo_home=/cargo" "$repo=/opskit" "$target=/target"; do
  flags=${flags:+$flags$sep}--remap-path-prefix=$map
done
export CARGO_ENCODED_RUSTFLAGS=$flags
unset RUSTFLAGS

echo "package: cargo build --release --locked (paths remapped)" >&2
cargo build --release --locked --bin opskit >&2
bin=$target/release/opskit
for path in "$repo" "$cargo_home" "$target"; do
  ! grep -qaF "$path/" "$bin" || die "$bin still contains the build path $path/"
done

pkgid=$(cargo pkgid --offline 2>/dev/null || cargo pkgid)
version=${pkgid##*[#@]}
[[ $version =~ ^[0-9][0-9A-Za-z.+~-]*$ ]] || die "cannot read the version from Cargo.toml ($pkgid)"
debversion=$version-1
arch=$(dpkg --print-architecture)
maintainer='opskit maintainers <maintainers@users.noreply.r-seed-93215386.example>'
# the package's dates: the commit's (reproducible), else the environment's, else now
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH=$epoch
commit=$(git rev-parse --short=7 HEAD 2>/dev/null || true)

stage=$target/debian/opskit_${debversion}_$arch
rm -rf "$stage"
install -d "$stage/DEBIAN"
install -Dm755 "$bin" "$stage/usr/bin/opskit"
# the release profile strips symbols; the compilers' version notes can go too
objcopy --remove-section=.comment "$stage/usr/bin/opskit"

man1=$stage/usr/share/man/man1
install -d "$man1"
for page in man/*.1; do
  gzip -9n <"$page" >"$man1/$(basename "$page").gz"
done
install -Dm644 completions/opskit.bash "$stage/usr/share/bash-completion/completions/opskit"
install -Dm644 completions/_opskit "$stage/usr/share/zsh/vendor-completions/_opskit"
install -Dm644 completions/opskit.fish "$stage/usr/share/fish/vendor_completions.d/opskit.fish"

install -Dm755 -t "$stage/usr/share/munin/plugins" pkg/munin/bind9_opskit pkg/munin/conn_audit
# Debian 12's place for units (dh_installsystemd's, and what its lintian expects)
install -Dm644 -t "$stage/lib/systemd/system" pkg/systemd/*.service pkg/systemd/*.timer

install -m755 pkg/debian/postinst pkg/debian/prerm pkg/debian/postrm "$stage/DEBIAN/"
install -Dm644 pkg/lintian-overrides "$stage/usr/share/lintian/overrides/opskit"

# the copyright file: opskit's and every compiled crate's notice and license, from cargo's
# metadata and dependency tree for this host; X-Cargo-Built-Using names the same crates
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
host=$(rustc -vV | sed -n 's/^host: //p')
cargo metadata --format-version 1 --locked --offline --filter-platform "$host" >"$scratch/meta.json" 2>/dev/null ||
  cargo metadata --format-version 1 --locked --filter-platform "$host" >"$scratch/meta.json"
cargo tree --locked --offline -e normal,build --target "$host" --prefix none -f '{p}' >"$scratch/crates"
doc=$stage/usr/share/doc/opskit
install -d "$doc"
perl pkg/gen-copyright.pl Cargo.lock "$scratch/meta.json" "$scratch/crates" pkg "$doc/copyright" "$scratch/built-using"
chmod 644 "$doc/copyright"
built_using=$(cat "$scratch/built-using")
install -Dm644 README.md "$doc/README.md"
# examples, folders kept (prometheus/ alert rules and their tests, grafana/ dashboard)
(cd pkg/examples && find . -type f | sort) | while read -r f; do
  install -Dm644 "pkg/examples/$f" "$doc/examples/${f#./}"
done
{
  echo "opskit ($debversion) unstable; urgency=medium"
  echo
  echo "  * Built by scripts/package.sh from opskit $version${commit:+ (git $commit)}."
  echo
  echo " -- $maintainer  $(date -u -R -d "@$epoch")"
} | gzip -9n >"$doc/changelog.Debian.gz"

# Depends: the shared libraries the binary links, as dpkg-shlibdeps names them (it wants a
# debian/control to read, so it runs in a scratch directory that has one)
install -d "$scratch/debian"
printf 'Source: opskit\n\nPackage: opskit\nArchitecture: any\n' >"$scratch/debian/control"
depends=$(cd "$scratch" && dpkg-shlibdeps -O -e"$stage/usr/bin/opskit" 2>/dev/null |
  sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || die "dpkg-shlibdeps found no dependencies for $bin"

# as dpkg-gencontrol counts it: KiB per file rounded up, 1 per directory or link; the same on
# every file system (du's blocks are not)
installed_size=$(cd "$stage" && find . -path ./DEBIAN -prune -o ! -path . -printf '%y %s\n' |
  awk '$1 == "f" { n += int(($2 + 1023) / 1024); next } { n += 1 } END { print n }')
cat >"$stage/DEBIAN/control" <<EOF
Package: opskit
Version: $debversion
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $installed_size
Depends: $depends
X-Cargo-Built-Using: $built_using
Suggests: munin-node, prometheus-node-exporter, nagios-nrpe-server
Section: admin
Priority: optional
Description: sysadmin tools in one binary: interrupts, BIND stats, SSD, stale TCP
 opskit is one binary with four tools a Linux operator reaches for when a
 server misbehaves:
  * itop: top-like per-CPU interrupt rates from /proc/interrupts (like
    irqtop and lsirq), as a terminal UI, plain text or JSON;
  * bindstats: BIND's statistics channel as munin graphs, Prometheus
    metrics or JSON (a replacement for the bind9_statchannel munin plugin);
  * ssd-align: computes and checks the alignment of partitions, LVM and
    ext4/XFS on SSDs;
  * conn-audit: finds stale ESTABLISHED TCP connections by peer and by
    process, as a table, a Nagios/Icinga check, munin or Prometheus data.
 .
 The package also holds the munin plugins bind9_opskit and conn_audit,
 systemd units for Prometheus (a bindstats exporter, and a timer writing
 conn-audit's metrics for node_exporter's textfile collector), installed
 disabled, and NRPE, Nagios and Icinga 2 examples.
EOF
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
  xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
chmod 644 "$stage/DEBIAN/control" "$stage/DEBIAN/md5sums"

deb=$target/debian/opskit_${debversion}_$arch.deb
dpkg-deb --build --root-owner-group -Zxz "$stage" "$deb" >&2
(cd "$(dirname "$deb")" && sha256sum "$(basename "$deb")" >SHA256SUMS)
echo "$deb"
