#!/bin/sh
# Time to find each planted bug (`make fuzz-planted`). For every `planted-*`
# feature (each a one-line change in reference-stack/src/tcb.rs that a real
# stack could have) this builds tcp-fuzz and harness with it, runs a one-core
# campaign from the seeds (from nothing with PLANTED_NO_SEEDS=1) until the
# first solution or the limit, prints the
# campaign time of the first solution, then triages the solutions with the
# same build (`harness fuzz --time 0`) to show which oracle caught what.
# With PLANTED_AGAINST=STACK the campaign is differential (`--against STACK`)
# and the planted bug must come out as a divergence.
# Usage: fuzzer/planted.sh [seconds-limit] [features...]
set -u
limit=${1:-300}
[ $# -gt 0 ] && shift
features=${*:-planted-rst-any-in-window planted-ack-unsent planted-fin-wait-1-skip planted-window-shrink planted-delack-restart planted-rto-restart-on-dupack planted-persist-restart planted-time-wait-restart planted-keepalive-count}
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/target/planted-build
out=${PLANTED_OUT:-$root/target/planted}
mkdir -p "$out"
status=0
for f in $features; do
    RUSTC_WORKSPACE_WRAPPER="$root/fuzzer/sancov-rustc" CARGO_TARGET_DIR="$build" \
        cargo build --quiet --profile fuzz -p fuzzer --features "$f" || exit 2
    CARGO_TARGET_DIR="$build" cargo build --quiet --release -p harness --features "$f" || exit 2
    bin="$out/tcp-fuzz-$f"
    cp "$build/fuzz/tcp-fuzz" "$bin"
    rm -rf "$out/$f"
    # shellcheck disable=SC2086
    "$bin" --cores 0 --time "$limit" --corpus "$root/corpus" --out "$out/$f" --broker-port 13370 \
        ${PLANTED_NO_SEEDS:+--no-seeds} ${PLANTED_AGAINST:+--against $PLANTED_AGAINST} >"$out/$f.log" 2>&1 &
    deadline=$(($(date +%s) + limit + 10))
    found=""
    while [ "$(date +%s)" -lt "$deadline" ] && pgrep -f "$bin" >/dev/null; do
        found=$(grep -a -m1 "(GLOBAL).*objectives: [1-9]" "$out/$f.log" |
            sed 's/.*run time: \([^,]*\),.*executions: \([0-9]*\).*/\1 (\2 execs)/')
        [ -n "$found" ] && break
        sleep 1
    done
    pkill -INT -f "$bin"
    sleep 2
    pkill -KILL -f "$bin"
    wait 2>/dev/null
    echo "$f: ${found:-NOT FOUND within ${limit}s}"
    if [ -z "$found" ]; then
        status=1
        continue
    fi
    # Every finding must replay as a failing script (harness fuzz exits 1 when
    # it has findings and says DOES NOT REPLAY for one that does not).
    "$build/release/harness" fuzz --time 0 --out "$out/$f" ${PLANTED_AGAINST:+--against $PLANTED_AGAINST} \
        >"$out/$f.triage" 2>&1
    rc=$?
    sed 's/^/    /' "$out/$f.triage"
    if [ $rc -ne 1 ] || grep -q "DOES NOT REPLAY" "$out/$f.triage"; then
        echo "$f: triage failed (exit $rc)"
        status=1
    fi
    if [ -n "${PLANTED_AGAINST:-}" ] && ! grep -q " x divergence: " "$out/$f.triage"; then
        echo "$f: no divergence among the findings"
        status=1
    fi
done
exit $status
