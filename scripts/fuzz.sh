#!/usr/bin/env bash
# Runs each cargo-fuzz target for SECONDS (default 660) one after another,
# from the committed seeds, and prints libFuzzer's summary line of each.
#   scripts/fuzz.sh [seconds] [target...]
# Needs cargo-fuzz (`cargo install cargo-fuzz`). libFuzzer's sanitizer flags
# are nightly-only: on a stable toolchain RUSTC_BOOTSTRAP=1 lets them through.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../fuzz"
seconds="${1:-660}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(drop_in_signature standard_webhooks webhook_body)
export RUSTC_BOOTSTRAP="${RUSTC_BOOTSTRAP:-1}"
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target"
    cp -n seeds/"$target"/* "corpus/$target/" 2>/dev/null || true
    echo "== $target: ${seconds}s"
    cargo fuzz run -O -a "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -max_len=65536 -print_final_stats=1 2>&1 \
        | tee "target/$target.log" | grep -E "^(#[0-9]+.*DONE|stat::|==[0-9]+==ERROR|SUMMARY|Done)" || true
done
