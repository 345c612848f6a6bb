#!/usr/bin/env python3
# Stand-in for the `../common/set_sysctls.py` that google's packetdrill tree
# runs and the copy of the tree on this machine does not hold: each argument
# is PROC_FILE=VALUE, written to the file. (The original also writes a script
# that restores the old values; inside the run's namespace there is nothing
# to restore.) Written for this project; `harness import` reads the call's
# arguments, not this file.
import sys

for arg in sys.argv[1:]:
    path, value = arg.split("=", 1)
    with open(path, "w") as f:
        f.write(value)
