#!/bin/sh
# Stand-in for the `../common/defaults.sh` that google's packetdrill tree runs
# at the top of each script and that the copy of the tree on this machine
# (../shared/peers/packetdrill) does not hold. Written for this project from
# the facts in that copy's HELPERS.md (what the helper sets), not copied from
# it. `harness import --helpers harness/import-helpers/packetdrill-gtests`
# reads it in the helper's place; a tree that holds its own helpers needs no
# --helpers at all.

# A fresh namespace: nothing cached yet, but the helper flushes anyway.
ip tcp_metrics flush all > /dev/null 2>&1

# Buffer sizes: min, default, max.
sysctl -q net.ipv4.tcp_rmem="4096 540000 $((15 * 1024 * 1024))"
sysctl -q net.ipv4.tcp_wmem="4096 $((256 * 1024)) 4194304"

# Options, retries and loss recovery.
sysctl -q net.ipv4.tcp_timestamps=1 net.ipv4.tcp_sack=1 net.ipv4.tcp_dsack=1
sysctl -q net.ipv4.tcp_syn_retries=5 net.ipv4.tcp_synack_retries=5
sysctl -q net.ipv4.tcp_frto=2
sysctl -q net.ipv4.tcp_fack=0
sysctl -q net.ipv4.tcp_reordering=3
sysctl -q net.ipv4.tcp_early_retrans=4 net.ipv4.tcp_recovery=1

# Congestion control, idle restart, TSO deferral, pacing.
sysctl -q net.ipv4.tcp_congestion_control=cubic
sysctl -q net.ipv4.tcp_slow_start_after_idle=0
sysctl -q net.ipv4.tcp_tso_win_divisor=3
sysctl -q net.ipv4.tcp_pacing_ss_ratio=200 net.ipv4.tcp_pacing_ca_ratio=120

# ECN off, its option accepted; no notsent limit.
sysctl -q net.ipv4.tcp_ecn=0 net.ipv4.tcp_ecn_option=2
sysctl -q net.ipv4.tcp_notsent_lowat=4294967295 > /dev/null 2>&1

# Fast open on (client and server, cookies required), with a fixed key.
sysctl -q net.ipv4.tcp_fastopen=0x70403
sysctl -q net.ipv4.tcp_fastopen_key=a1a1a1a1-b2b2b2b2-c3c3c3c3-d4d4d4d4

sysctl -q net.ipv4.tcp_syncookies=1

# A plain FIFO on the TUN device (no pacing by an fq default).
tc qdisc add dev tun0 root pfifo
