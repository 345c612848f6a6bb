#!/bin/sh
# The fuzzer's benchmark (`make fuzz-bench`): three 60-second campaigns of the
# instrumented tcp-fuzz, printing for each the executions per second, the
# edges of the reference stack and the (state, cause, next state)
# transitions reached:
#   1. one core, from the seeds in corpus/
#   2. two cores, from the seeds (scaling: the ratio to 1 is printed)
#   3. one core, from an empty corpus (what the seeds are worth)
#   4. one core, from the seeds, cases of one connection only
#      (--one-connection: what every case was before they had three)
#   5. the first campaign's queue without LibAFL (the target's own cost),
#      its cases of one connection apart from the others
#   6. differential, one core, from the seeds: each case on the reference
#      stack and smoltcp side by side (`--against smoltcp`, the build of
#      `make fuzz-diff-build`, both stacks instrumented), three campaigns
#      and their average, then the first one's queue through run_diff
#      alone; skipped with a line when not built
#   7. the Linux replay (`harness diff`, root): the first campaign's queue
#      replayed on the kernel beside the reference stack's linux profile,
#      -j 128 on every core, cases per second end to end (cases with a
#      wait over 1 s or over 5 s in all skipped, counted); skipped with a
#      line without root
# Usage: fuzzer/bench.sh [seconds] [tcp-fuzz binary] [differential tcp-fuzz binary]
set -u
secs=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${2:-$root/target/fuzz/tcp-fuzz}
diffbin=${3:-$root/target/fuzz-diff/fuzz/tcp-fuzz}
[ -x "$bin" ] || { echo "fuzzer/bench.sh: $bin not built: run make fuzz-build" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run() { # name cores extra-args...
    name=$1 cores=$2
    shift 2
    "${BIN:-$bin}" --cores "$cores" --time "$secs" --corpus "$root/corpus" --out "$work/$name" --broker-port 13371 "$@" >"$work/$name.log" 2>&1
    last=$(grep -a "(GLOBAL)" "$work/$name.log" | tail -1)
    execs=$(echo "$last" | sed -n 's/.*executions: \([0-9]*\).*/\1/p')
    edges=$(echo "$last" | sed -n 's/.* edges: \([0-9.]*\)%.*/\1/p')
    trans=$(echo "$last" | sed -n 's/.*transitions: \([0-9.]*\)%.*/\1/p')
    cells=$(grep -a "transitions: [0-9]*/" "$work/$name.log" | tail -1 | sed -n 's/.*transitions: \([0-9]*\)\/.*/\1/p')
    rate=$(awk -v e="${execs:-0}" -v s="$secs" 'BEGIN { printf "%.0f", e / s }')
    printf '%-22s %10s execs/s  %8s execs  edges %6s%%  transitions %6s%% (%s cells)\n' "$name" "$rate" "${execs:-0}" "${edges:-?}" "${trans:-?}" "${cells:-?}"
    eval "rate_$(echo "$name" | tr -c 'a-z0-9\n' _)=$rate"
}
echo "tcp-fuzz benchmark: ${secs}s per campaign, $(nproc) cores, $(uname -r)"
run one-core-seeds 0
run two-cores-seeds 0,1
run one-core-empty 0 --no-seeds
run one-core-one-connection 0 --one-connection
awk -v a="$rate_one_core_seeds" -v b="$rate_two_cores_seeds" 'BEGIN { if (a > 0) printf "two cores / one core: %.2fx\n", b / a }'
# 4. The same cases without LibAFL: the one-core campaign's queue run
#    through run_case alone (harness/benches/fuzz_exec.rs), what an
#    execution of the reference stack and its oracles costs by itself.
(cd "$root" && cargo bench --quiet -p harness --bench fuzz_exec -- "$work/one-core-seeds/queue" 10 2>/dev/null) | grep '^fuzz_exec'
# The queue's cases of one connection (no connection bits, bursts or queue
# header bits) and the rest, each on its own.
mkdir -p "$work/one" "$work/more"
for f in "$work/one-core-seeds/queue"/*; do
    [ -f "$f" ] || continue
    if od -An -v -tu1 -w1 "$f" | awk 'NR == 1 && int($1 / 2) % 4 != 0 { m = 1 } NR == 2 && (int($1 / 2) % 4 != 0 || int($1 / 8) % 4 == 1 || int($1 / 8) % 4 == 2) { m = 1 } NR > 2 && (NR - 3) % 16 == 0 && (($1 == 7) || ($1 % 8 != 5 && int($1 / 8) % 3 != 0)) { m = 1 } END { exit m ? 1 : 0 }'; then
        cp "$f" "$work/one/"
    else
        cp "$f" "$work/more/"
    fi
done
for d in one more; do
    echo "cases of $([ $d = one ] && echo one connection || echo more than one, or bursts, or queue settings): $(ls "$work/$d" | wc -l)"
    [ -n "$(ls "$work/$d")" ] && (cd "$root" && cargo bench --quiet -p harness --bench fuzz_exec -- "$work/$d" 5 2>/dev/null) | grep 'execs/s'
done
if [ -x "$diffbin" ]; then
    # Three campaigns: one minute of one varies by about a thousand
    # executions a second with what the mutations happen to pick.
    for r in 1 2 3; do
        BIN=$diffbin run one-core-vs-smoltcp-$r 0 --against smoltcp
    done
    awk -v a="$rate_one_core_vs_smoltcp_1" -v b="$rate_one_core_vs_smoltcp_2" -v c="$rate_one_core_vs_smoltcp_3" 'BEGIN {
        lo = a; if (b < lo) lo = b; if (c < lo) lo = c
        hi = a; if (b > hi) hi = b; if (c > hi) hi = c
        printf "one-core-vs-smoltcp: %.0f execs/s on average over 3 campaigns (%d to %d)\n", (a + b + c) / 3, lo, hi }'
    (cd "$root" && FUZZ_EXEC_AGAINST=smoltcp cargo bench --quiet -p harness --bench fuzz_exec -- "$work/one-core-vs-smoltcp-1/queue" 10 2>/dev/null) | grep '^fuzz_exec'
else
    echo "one-core-vs-smoltcp: $diffbin not built (make fuzz-diff-build)"
fi
if [ "$(id -u)" = 0 ]; then
    (cd "$root" && cargo build --quiet --release -p harness) &&
        "$root/target/release/harness" diff "$work/one-core-seeds/queue" --against linux --out "$work/linux-replay" -j 128 |
        sed -n '1,2p' | sed 's/^/linux replay: /'
else
    echo "linux replay: needs root (private namespaces, TUN)"
fi
