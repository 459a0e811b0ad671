#!/usr/bin/env bash
# A smoke run of every cargo-fuzz target (nightly + cargo-fuzz; not part of scripts/test.sh).
#   bash scripts/fuzz.sh            # each target for 30 s
#   bash scripts/fuzz.sh 300 gpt    # one target for 5 minutes
# Seeds come from ../shared/fixtures (real captures) when it is beside the checkout. A crash
# leaves its input in fuzz/artifacts/TARGET/; turn it into a regression test by the parser.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
only=${2:-}
shared=../shared/fixtures

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz: needs nightly Rust and cargo-fuzz (cargo install --locked cargo-fuzz)" >&2
  exit 2
fi

# target -> files or folders whose contents seed it (globs under ../shared/fixtures)
seeds_for() {
  case "$1" in
    units) printf '%s\n' "" ;;
    *) grep -E "^$1 " fuzz/seeds.txt 2>/dev/null | cut -d' ' -f2- | tr ' ' '\n' ;;
  esac
}

# Disk parsers have no captures in ../shared: make small real images with the real tools
# (sfdisk, cryptsetup, lvm2 as root) so the fuzzer starts past the signatures and CRCs.
disk_seeds() {
  local dir; dir=$(mktemp -d)
  (
    set +e
    cd "$dir" || exit
    mk() { mkdir -p "$OLDPWD/fuzz/corpus/$1"; head -c "$3" "$2" > "$OLDPWD/fuzz/corpus/$1/seed-$2"; }
    if command -v sfdisk >/dev/null; then
      truncate -s 128K mbr.img && printf 'label: dos\nstart=34, size=10, type=83\nstart=48, size=64, type=5\nstart=50, size=20, type=83\n' | sfdisk -q mbr.img >/dev/null 2>&1 && mk mbr mbr.img 128K
      truncate -s 128K gpt.img && printf 'label: gpt\nstart=40, size=50\nstart=100, size=100\n' | sfdisk -q gpt.img >/dev/null 2>&1 && mk gpt gpt.img 128K && mk mbr gpt.img 1K
    fi
    if command -v cryptsetup >/dev/null; then
      truncate -s 8M luks2.img && printf pw | cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 \
        --pbkdf-force-iterations 1000 --luks2-metadata-size 16k --luks2-keyslots-size 1m luks2.img - \
        >/dev/null 2>&1 && mk luks luks2.img 64K
      truncate -s 8M luks1.img && printf pw | cryptsetup luksFormat -q --type luks1 \
        --pbkdf-force-iterations 1000 luks1.img - >/dev/null 2>&1 && mk luks luks1.img 4K
    fi
    if [ "$(id -u)" -eq 0 ] && command -v pvcreate >/dev/null; then
      truncate -s 8M pv.img && dev=$(losetup -f --show pv.img) && {
        vg=fuzzseed$$
        pvcreate -q --metadatasize 64k "$dev" && vgcreate -q --setautoactivation n "$vg" "$dev" &&
          lvcreate -q --driverloaded n -an -Zn -L 1M -n lv1 "$vg" && mk lvm pv.img 128K
        vgremove -qq -f "$vg"; losetup -d "$dev"
      } >/dev/null 2>&1
    fi
  )
  rm -rf "$dir"
}
disk_seeds

failed=()
for t in $(cargo +nightly fuzz list); do
  [ -n "$only" ] && [ "$t" != "$only" ] && continue
  corpus=fuzz/corpus/$t
  mkdir -p "$corpus"
  for g in $(seeds_for "$t"); do
    for f in $shared/$g; do
      [ -f "$f" ] || continue
      case "$f" in
        *.gz) zcat "$f" > "$corpus/seed-$(basename "${f%.gz}")" ;;
        *.bz2) bzcat "$f" > "$corpus/seed-$(basename "${f%.bz2}")" ;;
        *) cp "$f" "$corpus/seed-$(basename "$f")" ;;
      esac
    done
  done
  echo "fuzz: $t for ${secs}s ($(ls "$corpus" | wc -l) inputs in the corpus)"
  if ! cargo +nightly fuzz run "$t" "$corpus" -- -max_total_time="$secs" -rss_limit_mb=2048 \
      -max_len=65536 -timeout=10 -print_final_stats=0 >"fuzz/$t.log" 2>&1; then
    failed+=("$t")
    echo "fuzz: $t FAILED: see fuzz/$t.log and fuzz/artifacts/$t/" >&2
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: crashes in ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: no crash"
