#!/bin/sh
# Time to find each planted bug: builds tcp-fuzz once per `planted-*`
# feature (each a one-line change in reference-stack/src/tcb.rs), runs a
# one-core campaign from an empty corpus and prints the campaign time at which
# the first objective appeared, or "not found" after the limit.
# Usage: fuzzer/planted.sh [seconds-limit] [features...]
set -u
limit=${1:-300}
[ $# -gt 0 ] && shift
features=${*:-planted-rst-any-in-window planted-ack-unsent planted-fin-wait-1-skip planted-window-shrink}
root=$(cd "$(dirname "$0")/.." && pwd)
out=${PLANTED_OUT:-$root/target/planted}
mkdir -p "$out"
for f in $features; do
    RUSTC_WORKSPACE_WRAPPER="$root/fuzzer/sancov-rustc" CARGO_TARGET_DIR="$root/target/planted-build" \
        cargo build --quiet --profile fuzz -p fuzzer --features "$f" || exit 2
    cp "$root/target/planted-build/fuzz/tcp-fuzz" "$out/tcp-fuzz-$f"
    rm -rf "$out/$f"
    start=$(date +%s)
    setsid "$out/tcp-fuzz-$f" --cores 0 --time "$limit" --no-seeds --out "$out/$f" --broker-port 13370 >"$out/$f.log" 2>&1 &
    pid=$!
    found=""
    while kill -0 "$pid" 2>/dev/null; do
        if grep -aq "objectives: [1-9]" "$out/$f.log"; then
            found=$(grep -a "objectives: [1-9]" "$out/$f.log" | head -1 | sed 's/.*run time: \([^,]*\),.*executions: \([0-9]*\).*/\1 (\2 execs)/')
            kill -INT -- "-$pid" 2>/dev/null
            sleep 3
            kill -KILL -- "-$pid" 2>/dev/null
            break
        fi
        sleep 1
    done
    wait "$pid" 2>/dev/null
    echo "$f: ${found:-not found in ${limit}s} (wall $(($(date +%s) - start))s)"
done
