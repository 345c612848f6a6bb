#!/bin/sh
# Writes parse-fuzz's seeds into DIR (default target/fuzz-parsers/seeds):
# every suite script (selector byte 0), the distinct packet lines of the
# suites (1), and, when packetdrill's scripts are beside the checkout
# (../shared/peers/packetdrill, GPL data: read there, never copied into
# the repository), its .pkt files (2).
set -eu
dir=${1:-target/fuzz-parsers/seeds}
rm -rf "$dir" && mkdir -p "$dir"
n=0
for f in $(find suites -name '*.yaml' ! -path '*/expectations/*' ! -name requirements.yaml | sort); do
    n=$((n + 1))
    { printf '\000'; cat "$f"; } > "$dir/script-$n"
done
grep -rhoE '(in|out): *"?[SFRP.EWU]*[.]? [0-9*]+:[0-9*]+\([0-9*]+\)[^"}]*' suites | sed -E 's/^(in|out): *"?//' | sort -u | head -400 |
while IFS= read -r line; do
    n=$((n + 1))
    { printf '\001'; printf '%s\n' "$line"; } > "$dir/packet-$n"
done
pd=../shared/peers/packetdrill/gtests/net/tcp
if [ -d "$pd" ]; then
    for f in $(find "$pd" -name '*.pkt' | sort | head -80); do
        n=$((n + 1))
        { printf '\002'; cat "$f"; } > "$dir/pkt-$n"
    done
fi
echo "$(ls "$dir" | wc -l) seeds in $dir"
