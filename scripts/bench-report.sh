#!/usr/bin/env bash
# What writing the HTML report (--report-dir) adds to `harness run suites/`
# on the reference target: ROUNDS interleaved pairs of runs, without and
# with the report, into DIR (default: a directory under target/); prints
# the median wall time of each and the difference.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-41}
DIR=${REPORT_BENCH_DIR:-target/bench-report}
HARNESS=${HARNESS:-target/release/harness}
mkdir -p "$(dirname "$DIR")"
"$HARNESS" run suites/ --report-dir "$DIR" >/dev/null   # warm the caches
plain=(); report=()
ms() { local a b; a=$(date +%s%N); "$@" >/dev/null; b=$(date +%s%N); echo $(((b - a) / 1000)); }
for _ in $(seq "$ROUNDS"); do
  plain+=("$(ms "$HARNESS" run suites/)")
  report+=("$(ms "$HARNESS" run suites/ --report-dir "$DIR")")
done
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
p=$(median "${plain[@]}"); r=$(median "${report[@]}")
pages=$("$HARNESS" run suites/ --report-dir "$DIR" | grep '^report:')
echo "harness run suites/ (reference target), median of $ROUNDS: $((p / 1000)).$(printf '%03d' $((p % 1000))) ms;" \
  "with --report-dir $DIR: $((r / 1000)).$(printf '%03d' $((r % 1000))) ms:" \
  "+$(( (r - p) * 1000 / p / 10 )).$(( (r - p) * 1000 / p % 10 )) %"
echo "$pages"
