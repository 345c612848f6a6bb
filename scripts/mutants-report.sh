#!/bin/bash
# The mutation score of each part `make mutants` ran (target/mutants/PART/),
# and over all of them. pass1/ is the first run's pass 1 (the reference
# stack's own tests over every mutant: the part's measure); mutants.out/ is
# the latest --iterate run (the suites over what was left, or with
# MUTANTS_ARGS=--iterate the own tests and the suites again), whose
# previously_caught.txt holds everything killed before it. Killed = caught or timed out
# in either pass; viable = what pass 1 tried less the unviable (which do not
# build); a mutant the suites' pass did not reach (a stopped run) counts as
# not killed, and the line says how many.
set -u
root=${1:-target/mutants}
n() { [ -f "$1" ] && wc -l < "$1" || echo 0; }
tk=0; tv=0; tu=0; parts=0
for d in "$root"/*/; do
  p1=$d/pass1; p2=$d/mutants.out
  [ -d "$p1" ] || continue
  parts=$((parts+1))
  c1=$(n $p1/caught.txt); t1=$(n $p1/timeout.txt); u1=$(n $p1/unviable.txt); m1=$(n $p1/missed.txt)
  # Pass 1 tried every mutant: it gives the part's size.
  v=$((c1+t1+m1))
  if [ -f "$p2/previously_caught.txt" ]; then
    # An --iterate run: what earlier runs caught (pass 1's timeouts
    # included, unviable ones too), then what this one caught or hung on.
    prev=$(n $p2/previously_caught.txt); c2=$(n $p2/caught.txt); t2=$(n $p2/timeout.txt); m2=$(n $p2/missed.txt)
    k=$((prev-u1+c2+t2))
  else
    k=$((c1+t1)); m2=$m1; echo "$(basename $d): the suites' pass has not run (pass 1 only)"
  fi
  [ $v -gt 0 ] || continue
  untried=$((v-k-m2))
  note=""
  [ $untried -gt 0 ] && note="; $untried not yet tried against the suites (a stopped run: counted as not killed)"
  printf '%s: %d of %d viable mutants killed (%d.%d %%): %d by the first pass (own tests), %d more by later passes (the suites; the own tests again); missed %d (%s)%s; unviable %d\n' \
    "$(basename $d)" $k $v $((100*k/v)) $(((1000*k/v)%10)) $((c1+t1)) $((k-c1-t1)) $m2 "$p2/missed.txt" "$note" $u1
  tk=$((tk+k)); tv=$((tv+v)); tu=$((tu+u1))
done
if [ $parts -eq 0 ]; then echo "no part run yet: make mutants MUTANTS_PART=wire (or stack, tcb)"; exit 0; fi
[ $tv -gt 0 ] && printf 'all parts run: %d of %d viable mutants killed (%d.%d %%), %d unviable\n' $tk $tv $((100*tk/tv)) $(((1000*tk/tv)%10)) $tu
