#!/bin/sh
# A device under test that breaks the DUT protocol in the way its first
# argument names, for harness/tests/dut_errors.rs:
#   version  - a hello that names protocol version 2
#   garbage  - answers its setup with text that is not JSON
#   crash    - takes its setup, then dies on the first call, saying why on stderr
#   hang     - takes its setup, then never answers again
#   wrong-id - answers the first call with another request's id
#   silent   - says nothing at all, not even hello
how="$1"
answer_setup() {
  read -r line || exit 0
  id=$(printf '%s' "$line" | sed -n 's/.*"id":\([0-9]*\).*/\1/p')
  printf '{"id":%s}\n' "$id"
}
case "$how" in
  version)
    printf '{"dut":"tcp-harness","version":2,"stack":"broken"}\n'
    read -r line ;;
  garbage)
    printf '{"dut":"tcp-harness","version":1,"stack":"broken"}\n'
    read -r line
    printf 'hello there\n'
    read -r line ;;
  crash)
    printf '{"dut":"tcp-harness","version":1,"stack":"broken"}\n'
    answer_setup
    read -r line
    echo "broken-dut: segmentation fault in tcp_input (pretend)" >&2
    exit 3 ;;
  hang)
    printf '{"dut":"tcp-harness","version":1,"stack":"broken"}\n'
    answer_setup
    exec sleep 30 ;;
  wrong-id)
    printf '{"dut":"tcp-harness","version":1,"stack":"broken"}\n'
    answer_setup
    read -r line
    printf '{"id":999,"fd":3}\n'
    read -r line ;;
  silent)
    exec sleep 30 ;;
esac
