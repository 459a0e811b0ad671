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
      -timeout=10 -print_final_stats=0 >"fuzz/$t.log" 2>&1; then
    failed+=("$t")
    echo "fuzz: $t FAILED: see fuzz/$t.log and fuzz/artifacts/$t/" >&2
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: crashes in ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: no crash"
