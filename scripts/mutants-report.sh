#!/bin/bash
# The mutation score of each part `make mutants` ran (target/mutants/PART/),
# and over all of them. A part's run has two passes: pass1/ (the reference
# stack's own tests over every mutant) and mutants.out/ (the suites over
# what pass 1 missed, cargo-mutants --iterate). Killed = caught or timed out
# in either pass; viable = killed + missed by both; unviable mutants do not
# build and count for neither.
set -u
root=${1:-target/mutants}
n() { [ -f "$1" ] && wc -l < "$1" || echo 0; }
tk=0; tv=0; tu=0; parts=0
for d in "$root"/*/; do
  p1=$d/pass1; p2=$d/mutants.out
  [ -d "$p1" ] || continue
  parts=$((parts+1))
  c1=$(n $p1/caught.txt); t1=$(n $p1/timeout.txt); u1=$(n $p1/unviable.txt); m1=$(n $p1/missed.txt)
  if [ -f "$p2/previously_caught.txt" ]; then
    c2=$(n $p2/caught.txt); t2=$(n $p2/timeout.txt); m2=$(n $p2/missed.txt)
  else
    c2=0; t2=0; m2=$m1; echo "$d: the suites' pass has not run (pass 1 only)"
  fi
  k=$((c1+t1+c2+t2)); v=$((k+m2))
  [ $v -gt 0 ] || continue
  printf '%s: %d of %d viable mutants killed (%d.%d %%): own tests %d (+%d timeouts), suites %d more (+%d timeouts); missed %d (%s); unviable %d\n' \
    "$(basename $d)" $k $v $((100*k/v)) $(((1000*k/v)%10)) $c1 $t1 $c2 $t2 $m2 "$p2/missed.txt" $u1
  tk=$((tk+k)); tv=$((tv+v)); tu=$((tu+u1))
done
if [ $parts -eq 0 ]; then echo "no part run yet: make mutants MUTANTS_PART=wire (or stack, tcb)"; exit 0; fi
[ $tv -gt 0 ] && printf 'all parts run: %d of %d viable mutants killed (%d.%d %%), %d unviable\n' $tk $tv $((100*tk/tv)) $(((1000*tk/tv)%10)) $tu
