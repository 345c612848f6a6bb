#!/usr/bin/env bash
# `make stress-linux`: Linux timing under load. Keeps every core busy with a
# load generator (one busy loop per core, bounded by this script's life),
# then runs the suites on the Linux target STRESS_RUNS times at -j
# STRESS_JOBS, and packetdrill's scripts (imported from PACKETDRILL_TCP, if
# present) STRESS_PD_RUNS times, comparing their verdicts run to run.
#
# A failure the harness explains by its own descheduling (its watchdog saw
# the harness off the CPU around the failing step) is tried again
# (--load-retries) and, if it keeps failing, counted apart; every other
# failure is unexplained, and one is enough to fail this target.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${STRESS_RUNS:-10}
jobs=${STRESS_JOBS:-16}
pd_runs=${STRESS_PD_RUNS:-3}
pd_tree=${PACKETDRILL_TCP:-../shared/peers/packetdrill/gtests/net/tcp}
H=target/release/harness
out=target/stress
rm -rf "$out" && mkdir -p "$out"

load=()
stop_load() { [ ${#load[@]} -eq 0 ] || kill "${load[@]}" 2>/dev/null || true; }
trap stop_load EXIT
for _ in $(seq "${STRESS_LOAD:-$(( $(nproc) + 1 ))}"); do
  ( while :; do :; done ) &
  load+=($!)
done
echo "load: ${#load[@]} busy loops on $(nproc) cores (STRESS_LOAD)"

# count FILE PATTERN: records of a JSON-lines report that hold PATTERN.
count() { grep -c -- "$2" "$1" || true; }

unexplained=0
for k in $(seq "$runs"); do
  start=$(date +%s)
  "$H" run suites/ --target linux -j "$jobs" --json "$out/suites-$k.jsonl" > "$out/suites-$k.txt" 2>&1 || true
  j=$out/suites-$k.jsonl
  [ -s "$j" ] || { echo "run $k: no report (see $out/suites-$k.txt)"; tail -5 "$out/suites-$k.txt"; exit 1; }
  failed=$(count "$j" '"status":"\(failed\|error\)"')
  desch=$(grep '"status":"failed"' "$j" | grep -vc '"descheduled_ms":null' || true)
  rerun=$(count "$j" '"rerun_for_load":true')
  flaky=$(count "$j" '"flaky":true')
  un=$((failed - desch))
  unexplained=$((unexplained + un))
  printf 'suites run %d: %s; unexplained failures %d, failed with the harness descheduled %d, passed after a rerun for load %d, flaky %d; %ds, load average %s\n' \
    "$k" "$(tail -1 "$out/suites-$k.txt")" "$un" "$desch" "$rerun" "$flaky" "$(( $(date +%s) - start ))" "$(cut -d' ' -f1-3 /proc/loadavg)"
  grep -E '^(FAIL|ERROR|RERUN|FLAKY) ' "$out/suites-$k.txt" | sed 's/^/    /' || true
done

differ=0
if [ "$pd_runs" -gt 0 ] && [ -d "$pd_tree" ]; then
  "$H" import "$pd_tree" --helpers "${PACKETDRILL_HELPERS:-harness/import-helpers/packetdrill-gtests}" --allow-shell -o "$out/packetdrill" > "$out/packetdrill-import.txt" 2>&1 || true
  for k in $(seq "$pd_runs"); do
    start=$(date +%s)
    "$H" run "$out/packetdrill" --target linux --allow-shell -j "$jobs" --verdicts > "$out/packetdrill-$k.txt" 2>&1 || true
    # "pass 0.12s path ..." -> "path verdict", sorted.
    grep -E '^(pass|FAIL|ERROR|skip) +[0-9.]+s ' "$out/packetdrill-$k.txt" | awk '{print $3, $1}' | sort > "$out/packetdrill-$k.verdicts"
    printf 'packetdrill run %d: %d scripts, %d pass, %d FAIL or ERROR; %ds, load average %s\n' "$k" \
      "$(wc -l < "$out/packetdrill-$k.verdicts")" "$(grep -c ' pass$' "$out/packetdrill-$k.verdicts" || true)" \
      "$(grep -cE ' (FAIL|ERROR)$' "$out/packetdrill-$k.verdicts" || true)" "$(( $(date +%s) - start ))" "$(cut -d' ' -f1-3 /proc/loadavg)"
    if [ "$k" -gt 1 ]; then
      d=$(diff "$out/packetdrill-1.verdicts" "$out/packetdrill-$k.verdicts" | grep -c '^>' || true)
      differ=$((differ + d))
      diff "$out/packetdrill-1.verdicts" "$out/packetdrill-$k.verdicts" | grep '^[<>]' | sed 's/^/    /' || true
    fi
  done
  echo "packetdrill: $differ verdicts differ from run 1's over $pd_runs runs"
elif [ "$pd_runs" -gt 0 ]; then
  echo "packetdrill: $pd_tree not found (PACKETDRILL_TCP): not run"
fi

echo "stress-linux: $unexplained unexplained failures in $runs runs of the suites at -j $jobs on a loaded machine"
[ "$unexplained" -eq 0 ] && [ "$differ" -eq 0 ]
