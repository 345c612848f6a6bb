//! The importer held to packetdrill's whole grammar: one small .pkt per
//! production of packetdrill's `parser.y` (at the commit named in
//! ../shared/peers/packetdrill/UPSTREAM_COMMIT; read there, not copied), and
//! what becomes of it: it converts (and the YAML says what it should), or
//! the file is refused at its line with the reason. A production that
//! neither converts nor is refused precisely is an importer bug.
//!
//! `IMPORT_GRAMMAR_PRINT=1 cargo test -p harness --test import_grammar --
//! --nocapture` prints the table (production, outcome) for the notes.

use harness::import::convert::{convert, ImportOptions};

/// A listening socket (fd 3).
const L: &str = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
                 +0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0\n\
                 +0 bind(3, ..., ...) = 0\n\
                 +0 listen(3, 1) = 0\n";

/// An accepted connection (fd 4) on [`L`].
const E: &str = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
                 +0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0\n\
                 +0 bind(3, ..., ...) = 0\n\
                 +0 listen(3, 1) = 0\n\
                 +0 < S 0:0(0) win 32792 <mss 1000,nop,wscale 7>\n\
                 +0 > S. 0:0(0) ack 1 <mss 1460,nop,wscale 8>\n\
                 +.1 < . 1:1(0) ack 1 win 257\n\
                 +0 accept(3, ..., ...) = 4\n";

/// What must become of a production's .pkt.
enum Want {
    /// Converts; the YAML holds each of these.
    Converts(&'static [&'static str]),
    /// Refused: the construct named, the reason holding this text.
    Refused(&'static str, &'static str),
}
use Want::*;

/// (production, the .pkt: `L|`/`E|` put [`L`]/[`E`] before the rest, what
/// must become of it).
const CASES: &[(&str, &str, Want)] = &[
    // ---- the script and its options
    ("script: opt_options opt_init_command events opt_cleanup_command", "--tolerance_usecs=5000\n`sysctl -q net.ipv4.tcp_sack=1`\nL|+0 close(3) = 0\n`sysctl -q net.ipv4.tcp_sack=0`\n", Converts(&["tolerance: 5000us", "net.ipv4.tcp_sack: \"1\"", "{sysctl: {net.ipv4.tcp_sack: \"0\"}"])),
    ("opt_options: <empty>", "L|", Converts(&["tolerance: 4000us"])),
    ("opt_options: options", "--tolerance_usecs=6000\nL|", Converts(&["tolerance: 6000us"])),
    ("options: option", "--strict_segments\nL|", Converts(&["clock: script"])),
    ("options: options option", "--tolerance_usecs=6000\n--tolerance_percent=20\nL|", Converts(&["tolerance: 6000us", "tolerance_percent: 20"])),
    ("option: option_flag '=' option_value", "--mss=1000\nL|", Converts(&["in_gso: 1000"])),
    ("option: option_flag", "--tcp_ts_ecr_scaled\nL|", Converts(&["timestamps: mapped"])),
    ("option_flag: OPTION", "--frobnicate=1\nL|", Refused("option --frobnicate", "not one of packetdrill's options")),
    ("option_value: INTEGER", "--tcp_ts_tick_usecs=1000\nL|", Converts(&["ts_tick: 1000us"])),
    ("option_value: WORD", "--non_fatal=packet\nL|", Refused("option --non_fatal", "goes on after")),
    ("option_value: STRING", "--so_filename=\"stack.so\"\nL|", Refused("option --so_filename", "a target")),
    ("option_value: IPV4_ADDR", "--local_ip=198.51.100.7\nL|", Converts(&["local: \"198.51.100.7\""])),
    ("option_value: IPV6_ADDR", "--ip_version=ipv6\n--remote_ip=2001:db8::9\nL|", Converts(&["remote: \"2001:db8::9\""])),
    ("option_value: IPV4", "--ip_version=ipv4\nL|", Converts(&["targets: [linux]"])),
    ("option_value: IPV6", "--ip_version=ipv6\nL|", Converts(&["local: \"2001:db8:1::1\""])),
    ("option_value: WORD '=' WORD", "--define=MYFD=3\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = MYFD\n+0 close(MYFD) = 0\n", Converts(&["close(3) = 0"])),
    ("option_value: WORD '=' STRING", "--define=CC=\"reno\"\nL|+0 setsockopt(3, SOL_TCP, TCP_CONGESTION, CC, 4) = 0\n", Converts(&["TCP_CONGESTION, \\\"reno\\\""])),
    ("option_value: WORD '=' BACK_QUOTED", "--define=SETUP=`sysctl -q net.ipv4.tcp_sack=0`\nL|+0 SETUP\n", Converts(&["{sysctl: {net.ipv4.tcp_sack: \"0\"}"])),
    // ---- events and times
    ("opt_init_command: <empty>", "L|", Converts(&["listen(3, 1) = 0"])),
    ("opt_init_command: init_command", "`sysctl -q net.ipv4.tcp_ecn=1`\nL|", Converts(&["net.ipv4.tcp_ecn: \"1\""])),
    ("init_command: command_spec", "`sysctl -q net.ipv4.tcp_ecn=2`\nL|", Converts(&["net.ipv4.tcp_ecn: \"2\""])),
    ("events: event", "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n", Converts(&["socket(..., SOCK_STREAM, IPPROTO_TCP) = 3"])),
    ("events: events event", "L|+0 close(3) = 0\n", Converts(&["close(3) = 0"])),
    ("event: event_time action", "L|+0.25 close(3) = 0\n", Converts(&["{at: \"+0.25\", call: \"close(3) = 0\""])),
    ("event_time: '+' time", "L|+1 close(3) = 0\n", Converts(&["{at: \"+1\", call: \"close(3) = 0\""])),
    ("event_time: time", "L|2.5 close(3) = 0\n", Converts(&["{at: \"@2.5\", call: \"close(3) = 0\""])),
    ("event_time: '*'", "E|* > . 1:1(0) ack 1\n", Converts(&["{at: \"*\", out: \". 1:1(0) ack 1\""])),
    ("event_time: time '~' time", "E|+0 write(4, ..., 10) = 10\n1~1.5 > P. 1:11(10) ack 1\n", Converts(&["{at: \"@1~1.5\", out:"])),
    ("event_time: '+' time '~' '+' time", "E|+0 write(4, ..., 10) = 10\n+0~+0.05 > P. 1:11(10) ack 1\n", Converts(&["{at: \"+0~0.05\", out:"])),
    ("time: FLOAT", "L|+.5 close(3) = 0\n", Converts(&["{at: \"+0.5\", call: \"close(3) = 0\""])),
    ("time: INTEGER", "L|+3 close(3) = 0\n", Converts(&["{at: \"+3\", call: \"close(3) = 0\""])),
    ("action: packet_spec", "L|+0 < S 0:0(0) win 1000\n", Converts(&["in: \"S 0:0(0) win 1000\""])),
    ("action: syscall_spec", "L|+0 close(3) = 0\n", Converts(&["call: \"close(3) = 0\""])),
    ("action: command_spec", "L|+0 `sysctl -q net.ipv4.tcp_sack=0`\n", Converts(&["sysctl: {net.ipv4.tcp_sack: \"0\"}"])),
    ("action: code_spec", "E|+0 %{ assert tcpi_snd_cwnd == 10 }%\n", Converts(&["tcp_info: {fd: 4, snd_cwnd: 10}"])),
    // ---- packets
    ("packet_spec: tcp_packet_spec", "L|+0 < S 0:0(0) win 1000 <mss 1000>\n", Converts(&["in: \"S 0:0(0) win 1000 <mss 1000>\""])),
    ("packet_spec: udp_packet_spec", "L|+0 < udp (100)\n", Refused("UDP packet", "TCP")),
    ("packet_spec: icmp_packet_spec", "E|+0 < icmp unreachable frag_needed mtu 1200 [1:11(10)]\n", Converts(&["in: \"icmp unreachable frag_needed mtu 1200 [1:11(10)]\""])),
    ("tcp_packet_spec: packet_prefix opt_ip_info opt_encap opt_port_info flags seq opt_ack opt_window opt_urg_ptr opt_tcp_options", "E|+0 < [ect0] P. 1:11(10) ack 1 win 257 urg 5 <nop,nop,TS val 1 ecr 0>\n", Converts(&["in: \"[ect0] P. 1:11(10) ack 1 win 257 urg 5 <nop,nop,TS val 1 ecr 0>\""])),
    ("udp_packet_spec: packet_prefix opt_ip_info UDP opt_port_info '(' INTEGER ')'", "L|+0 > udp 5000>5001 (10)\n", Refused("UDP packet", "TCP")),
    ("icmp_packet_spec: packet_prefix opt_ip_info ICMP icmp_type opt_icmp_code opt_icmp_mtu opt_icmp_echo_id opt_icmp_echoed", "E|+0 < icmp unreachable port_unreachable [1:11(10)]\n", Converts(&["icmp unreachable port_unreachable"])),
    ("packet_prefix: direction", "L|+0 < S 0:0(0) win 1000\n", Converts(&["in: \"S 0:0(0) win 1000\""])),
    ("packet_prefix: packet_prefix IPV4 opt_ip_info IPV4_ADDR '>' IPV4_ADDR ':'", "L|+0 < ipv4 192.0.2.9 > 198.51.100.1: S 0:0(0) win 1000\n", Refused("packet encapsulation", "outer IPv4 header")),
    ("packet_prefix: packet_prefix IPV6 opt_ip_info IPV6_ADDR '>' IPV6_ADDR ':'", "L|+0 < ipv6 2001:db8::9 > 2001:db8:1::1: S 0:0(0) win 1000\n", Refused("packet encapsulation", "outer IPv6 header")),
    ("packet_prefix: packet_prefix GRE ':'", "L|+0 < gre: S 0:0(0) win 1000\n", Refused("packet encapsulation", "GRE")),
    ("packet_prefix: packet_prefix GRE opt_comma gre_header_expression ':'", "L|+0 < gre, flags [key present] key 5: S 0:0(0) win 1000\n", Refused("packet encapsulation", "GRE")),
    ("packet_prefix: packet_prefix MPLS mpls_stack ':'", "L|+0 < mpls (label 1, tc 0, [S], ttl 64): S 0:0(0) win 1000\n", Refused("packet encapsulation", "MPLS")),
    ("gre_header_expression: gre_flags_list opt_comma gre_sum opt_comma gre_off opt_comma gre_key opt_comma gre_seq", "L|+0 < gre flags 0 sum 0 off 0 key 0 seq 0: S 0:0(0) win 1000\n", Refused("packet encapsulation", "GRE")),
    ("gre_flags_list: FLAGS '[' gre_flags ']'", "L|+0 < gre flags [none]: S 0:0(0) win 1000\n", Refused("packet encapsulation", "GRE")),
    ("gre_flags_list: FLAGS any_int", "L|+0 < gre flags 0x2000: S 0:0(0) win 1000\n", Refused("packet encapsulation", "GRE")),
    ("gre_flags: gre_flag", "L|+0 < gre flags [checksum present]: S 0:0(0) win 1000\n", Refused("packet encapsulation", "GRE")),
    ("gre_flags: gre_flag ',' gre_flags", "L|+0 < gre flags [checksum present, key present]: S 0:0(0) win 1000\n", Refused("packet encapsulation", "GRE")),
    ("gre_flag: NONE", "L|+0 < gre flags [none]: S 0:0(0) win 1000\n", Refused("packet encapsulation", "GRE")),
    ("gre_flag: CHECKSUM PRESENT", "L|+0 < gre flags [checksum present]: S 0:0(0) win 1000\n", Refused("packet encapsulation", "GRE")),
    ("gre_flag: KEY PRESENT", "L|+0 < gre flags [key present]: S 0:0(0) win 1000\n", Refused("packet encapsulation", "GRE")),
    ("gre_flag: SEQUENCE PRESENT", "L|+0 < gre flags [sequence# present]: S 0:0(0) win 1000\n", Refused("packet encapsulation", "GRE")),
    ("gre_sum: SUM any_int", "L|+0 < gre sum 0x1: S 0:0(0) win 1000\n", Refused("packet encapsulation", "GRE")),
    ("gre_off: OFF any_int", "L|+0 < gre off 0: S 0:0(0) win 1000\n", Refused("packet encapsulation", "GRE")),
    ("gre_key: KEY opt_equals any_int", "L|+0 < gre key=7: S 0:0(0) win 1000\n", Refused("packet encapsulation", "GRE")),
    ("gre_seq: SEQ any_int", "L|+0 < gre seq 9: S 0:0(0) win 1000\n", Refused("packet encapsulation", "GRE")),
    ("opt_comma: <empty>", "L|+0 < gre key 7: S 0:0(0) win 1000\n", Refused("packet encapsulation", "GRE")),
    ("opt_comma: ','", "L|+0 < gre, key 7: S 0:0(0) win 1000\n", Refused("packet encapsulation", "GRE")),
    ("opt_equals: <empty>", "L|+0 < gre key 7: S 0:0(0) win 1000\n", Refused("packet encapsulation", "GRE")),
    ("opt_equals: '='", "L|+0 < gre key = 7: S 0:0(0) win 1000\n", Refused("packet encapsulation", "GRE")),
    ("mpls_stack: <empty>", "L|+0 < mpls: S 0:0(0) win 1000\n", Refused("packet encapsulation", "MPLS")),
    ("mpls_stack: mpls_stack mpls_stack_entry", "L|+0 < mpls (label 1, tc 0, ttl 9) (label 2, tc 0, [S], ttl 9): S 0:0(0) win 1000\n", Refused("packet encapsulation", "MPLS")),
    ("mpls_stack_entry: '(' LABEL INTEGER ',' TC INTEGER ',' opt_mpls_stack_bottom TTL INTEGER ')'", "L|+0 < mpls (label 1, tc 0, ttl 9): S 0:0(0) win 1000\n", Refused("packet encapsulation", "MPLS")),
    ("opt_mpls_stack_bottom: <empty>", "L|+0 < mpls (label 1, tc 0, ttl 9): S 0:0(0) win 1000\n", Refused("packet encapsulation", "MPLS")),
    ("opt_mpls_stack_bottom: '[' WORD ']' ','", "L|+0 < mpls (label 1, tc 0, [S], ttl 9): S 0:0(0) win 1000\n", Refused("packet encapsulation", "MPLS")),
    ("psp_header_info: psp_spi", "L|+0 < encap psp spi 0x1 S 0:0(0) win 1000\n", Refused("packet encapsulation", "PSP")),
    ("psp_spi: SPI any_int", "L|+0 < encap psp spi 7 S 0:0(0) win 1000\n", Refused("packet encapsulation", "PSP")),
    ("icmp_type: WORD", "E|+0 < icmp unreachable [1:11(10)]\n", Converts(&["in: \"icmp unreachable [1:11(10)]\""])),
    ("opt_icmp_code: <empty>", "E|+0 < icmp time_exceeded [1:11(10)]\n", Converts(&["icmp time_exceeded"])),
    ("opt_icmp_code: WORD", "E|+0 < icmp unreachable host_unreachable [1:11(10)]\n", Converts(&["icmp unreachable host_unreachable"])),
    ("opt_icmp_echoed: <empty>", "E|+0 < icmp unreachable host_unreachable\n", Converts(&["in: \"icmp unreachable host_unreachable\""])),
    ("opt_icmp_echoed: '[' UDP '(' INTEGER ')' ']'", "E|+0 < icmp unreachable port_unreachable [udp (10)]\n", Refused("ICMP packet", "quoting a UDP datagram")),
    ("opt_icmp_echoed: '[' seq ']'", "E|+0 < icmp unreachable frag_needed mtu 1200 [1:11(10)]\n", Converts(&["[1:11(10)]"])),
    ("opt_icmp_echoed: '[' RAW '(' INTEGER ')' ']'", "E|+0 < icmp unreachable port_unreachable [raw (10)]\n", Refused("ICMP packet", "or a raw packet")),
    ("opt_icmp_mtu: <empty>", "E|+0 < icmp unreachable net_unreachable [1:11(10)]\n", Converts(&["icmp unreachable net_unreachable"])),
    ("opt_icmp_mtu: MTU INTEGER", "E|+0 < icmp unreachable frag_needed mtu 1000 [1:11(10)]\n", Converts(&["mtu 1000"])),
    ("opt_icmp_echo_id: <empty>", "E|+0 < icmp unreachable port_unreachable [1:11(10)]\n", Converts(&["port_unreachable"])),
    ("opt_icmp_echo_id: ID INTEGER", "E|+0 < icmp echo_reply id 5 [1:11(10)]\n", Refused("ICMP packet", "an ICMP echo message")),
    ("opt_port_info: <empty>", "L|+0 < S 0:0(0) win 1000\n", Converts(&["in: \"S 0:0(0) win 1000\""])),
    ("opt_port_info: INTEGER '>' INTEGER", "L|+0 < 9999>8081 S 0:0(0) win 1000\n+0 > 8081>9999 R. 0:0(0) ack 1 win 0\n", Converts(&["in: \"9999>8081 S 0:0(0) win 1000\"", "out: \"8081>9999 R. 0:0(0) ack 1 win 0\""])),
    ("direction: '<'", "L|+0 < S 0:0(0) win 1000\n", Converts(&["in: \"S 0:0(0) win 1000\""])),
    ("direction: '>'", "E|+0 write(4, ..., 10) = 10\n+0 > P. 1:11(10) ack 1\n", Converts(&["out: \"P. 1:11(10) ack 1\""])),
    ("tos_spec: ip_ecn", "E|+0 < [ce] . 1:1(0) ack 1 win 257\n", Converts(&["in: \"[ce] . 1:1(0) ack 1 win 257\""])),
    ("tos_spec: ECT01", "E|+0 write(4, ..., 10) = 10\n+0 > [ect01] P. 1:11(10) ack 1\n", Converts(&["[ect01] P."])),
    ("tos_spec: TOS HEX_INTEGER", "E|+0 < (tos 0x2) . 1:1(0) ack 1 win 257\n", Converts(&["in: \"(tos 0x2) . 1:1(0) ack 1 win 257\""])),
    ("ip_ecn: NO_ECN", "E|+0 < [noecn] . 1:1(0) ack 1 win 257\n", Converts(&["[noecn] ."])),
    ("ip_ecn: ECT0", "E|+0 < [ect0] . 1:1(0) ack 1 win 257\n", Converts(&["[ect0] ."])),
    ("ip_ecn: ECT1", "E|+0 < [ect1] . 1:1(0) ack 1 win 257\n", Converts(&["[ect1] ."])),
    ("ip_ecn: CE", "E|+0 < [ce] . 1:1(0) ack 1 win 257\n", Converts(&["[ce] ."])),
    ("opt_ack_flag: <empty>", "L|+0 < S 0:0(0) win 1000\n", Converts(&["in: \"S 0:0(0) win 1000\""])),
    ("opt_ack_flag: '.'", "E|+0 < F. 1:1(0) ack 1 win 257\n", Converts(&["in: \"F. 1:1(0) ack 1 win 257\""])),
    ("opt_word: <empty>", "E|+0 < .5 1:1(0) ack 1 win 257\n", Converts(&["in: \".5 1:1(0) ack 1 win 257\""])),
    ("opt_word: WORD", "E|+0 < P.5 1:11(10) ack 1 win 257\n", Converts(&["in: \"P.5 1:11(10) ack 1 win 257\""])),
    ("ack_and_ace: FLOAT", "E|+0 < .3 1:1(0) ack 1 win 257\n", Converts(&["in: \".3 1:1(0)"])),
    ("flags: WORD opt_ack_flag", "E|+0 < FPU. 1:11(10) ack 1 win 257 urg 1\n", Converts(&["in: \"FPU. 1:11(10) ack 1 win 257 urg 1\""])),
    ("flags: opt_word ack_and_ace", "E|+0 < S.7 1:1(0) ack 1 win 257\n", Converts(&["in: \"S.7 1:1(0)"])),
    ("flags: '.'", "E|+0 < . 1:1(0) ack 1 win 257\n", Converts(&["in: \". 1:1(0) ack 1 win 257\""])),
    ("flags: '-'", "E|+0 < - 1:1(0) win 257\n", Converts(&["in: \"- 1:1(0) win 257\""])),
    ("flow_label: FLOWLABEL HEX_INTEGER", "--ip_version=ipv6\nE|+0 < (flowlabel 0x1) . 1:1(0) ack 1 win 257\n", Converts(&["in: \"(flowlabel 0x1) ."])),
    ("ip_info: tos_spec", "E|+0 < (tos 0x4) . 1:1(0) ack 1 win 257\n", Converts(&["in: \"(tos 0x4) ."])),
    ("ip_info: flow_label", "--ip_version=ipv6\nE|+0 < (flowlabel 0x2) . 1:1(0) ack 1 win 257\n", Converts(&["in: \"(flowlabel 0x2) ."])),
    ("ip_info: TTL INTEGER", "E|+0 < (ttl 7) . 1:1(0) ack 1 win 257\n", Converts(&["in: \"(ttl 7) ."])),
    ("ip_info: tos_spec ',' flow_label", "--ip_version=ipv6\nE|+0 < (ect0, flowlabel 0x3) . 1:1(0) ack 1 win 257\n", Converts(&["in: \"(ect0, flowlabel 0x3) ."])),
    ("opt_ip_info: <empty>", "E|+0 < . 1:1(0) ack 1 win 257\n", Converts(&["in: \". 1:1(0) ack 1 win 257\""])),
    ("opt_ip_info: '(' ip_info ')'", "E|+0 < (ect1) . 1:1(0) ack 1 win 257\n", Converts(&["ect1"])),
    ("opt_ip_info: '[' ip_info ']'", "E|+0 < [ect1] . 1:1(0) ack 1 win 257\n", Converts(&["[ect1] ."])),
    ("opt_encap: <empty>", "E|+0 < . 1:1(0) ack 1 win 257\n", Converts(&["in: \". 1:1(0) ack 1 win 257\""])),
    ("opt_encap: ENCAP PSP psp_header_info", "E|+0 < encap psp spi 1 . 1:1(0) ack 1 win 257\n", Refused("packet encapsulation", "PSP")),
    ("seq: INTEGER ':' INTEGER '(' INTEGER ')'", "E|+0 < P. 1:101(100) ack 1 win 257\n", Converts(&["P. 1:101(100) ack 1 win 257"])),
    ("opt_ack: <empty>", "L|+0 < S 0:0(0) win 1000\n", Converts(&["in: \"S 0:0(0) win 1000\""])),
    ("opt_ack: ACK INTEGER", "E|+0 < . 1:1(0) ack 1 win 257\n", Converts(&["ack 1 win 257"])),
    ("opt_window: <empty>", "E|+0 write(4, ..., 10) = 10\n+0 > P. 1:11(10) ack 1\n", Converts(&["out: \"P. 1:11(10) ack 1\""])),
    ("opt_window: WIN INTEGER", "E|+0 < . 1:1(0) ack 1 win 100\n", Converts(&["win 100"])),
    ("opt_urg_ptr: <empty>", "E|+0 < . 1:1(0) ack 1 win 257\n", Converts(&["in: \". 1:1(0) ack 1 win 257\""])),
    ("opt_urg_ptr: URG INTEGER", "E|+0 < U. 1:11(10) ack 1 win 257 urg 3\n", Converts(&["urg 3"])),
    // ---- TCP options
    ("opt_tcp_options: <empty>", "L|+0 < S 0:0(0) win 1000\n", Converts(&["in: \"S 0:0(0) win 1000\""])),
    ("opt_tcp_options: '<' tcp_option_list '>'", "L|+0 < S 0:0(0) win 1000 <mss 1000,sackOK>\n", Converts(&["<mss 1000,sackOK>"])),
    ("opt_tcp_options: '<' ELLIPSIS '>'", "L|+0 < S 0:0(0) win 1000\n+0 > S. 0:0(0) ack 1 <...>\n", Converts(&["ack 1 <...>"])),
    ("tcp_option_list: tcp_option", "L|+0 < S 0:0(0) win 1000 <mss 1000>\n", Converts(&["<mss 1000>"])),
    ("tcp_option_list: tcp_option_list ',' tcp_option", "L|+0 < S 0:0(0) win 1000 <mss 1000,nop,wscale 7>\n", Converts(&["<mss 1000,nop,wscale 7>"])),
    ("opt_tcp_fast_open_cookie: <empty>", "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 sendto(3, ..., 0, MSG_FASTOPEN, ..., ...) = -1 EINPROGRESS (Operation now in progress)\n+0 > S 0:0(0) <mss 1460,nop,nop,sackOK,nop,wscale 8,FO,nop,nop>\n", Converts(&["opt34,nop,nop>"])),
    ("opt_tcp_fast_open_cookie: hex_blob", "L|+0 < S 0:0(0) win 1000 <mss 1000,FO abcd1234abcd1234,nop,nop>\n", Converts(&["opt34 abcd1234abcd1234"])),
    ("hex_blob: WORD", "L|+0 < S 0:0(0) win 1000 <FO 0a0b0c0d,nop,nop>\n", Converts(&["opt34 0a0b0c0d"])),
    ("hex_blob: INTEGER", "L|+0 < S 0:0(0) win 1000 <FO 12345678,nop,nop>\n", Converts(&["opt34 12345678"])),
    ("tcp_option: NOP", "L|+0 < S 0:0(0) win 1000 <nop,mss 1000>\n", Converts(&["<nop,mss 1000>"])),
    ("tcp_option: EOL", "L|+0 < S 0:0(0) win 1000 <mss 1000,eol>\n", Converts(&["<mss 1000,eol>"])),
    ("tcp_option: MSS INTEGER", "L|+0 < S 0:0(0) win 1000 <mss 536>\n", Converts(&["<mss 536>"])),
    ("tcp_option: WSCALE INTEGER", "L|+0 < S 0:0(0) win 1000 <wscale 14>\n", Converts(&["<wscale 14>"])),
    ("tcp_option: SACKOK", "L|+0 < S 0:0(0) win 1000 <sackOK>\n", Converts(&["<sackOK>"])),
    ("tcp_option: SACK sack_block_list", "E|+0 < . 1:1(0) ack 1 win 257 <sack 1:2>\n", Converts(&["<sack 1:2>"])),
    ("tcp_option: MD5 hex_blob", "L|+0 < S 0:0(0) win 1000 <md5 000102030405060708090a0b0c0d0e0f>\n", Converts(&["<opt19 000102030405060708090a0b0c0d0e0f>"])),
    ("tcp_option: TIMESTAMP VAL INTEGER ECR INTEGER", "L|+0 < S 0:0(0) win 1000 <TS val 100 ecr 0>\n", Converts(&["<TS val 100 ecr 0>"])),
    ("tcp_option: FAST_OPEN opt_tcp_fast_open_cookie", "L|+0 < S 0:0(0) win 1000 <FO 0102030405060708,nop,nop>\n", Converts(&["opt34 0102030405060708"])),
    ("tcp_option: FAST_OPEN_EXP opt_tcp_fast_open_cookie", "L|+0 < S 0:0(0) win 1000 <FOEXP 0102030405060708>\n", Converts(&["<opt254 f9890102030405060708>"])),
    ("tcp_option: accecn_option", "E|+0 < . 1:1(0) ack 1 win 257 <ECN e0b 1>\n", Converts(&["<opt172 000001>"])),
    ("accecn_option: ACCECN ACCECN_E0B accecn_val", "E|+0 < . 1:1(0) ack 1 win 257 <ECN e0b 1>\n", Converts(&["<opt172 000001>"])),
    ("accecn_option: ACCECN ACCECN_E0B accecn_val ACCECN_CEB accecn_val", "E|+0 < . 1:1(0) ack 1 win 257 <ECN e0b 1 ceb 2>\n", Converts(&["<opt172 000001000002>"])),
    ("accecn_option: ACCECN ACCECN_E0B accecn_val ACCECN_CEB accecn_val ACCECN_E1B accecn_val", "E|+0 < . 1:1(0) ack 1 win 257 <ECN e0b 1 ceb 2 e1b 3>\n", Converts(&["<opt172 000001000002000003>"])),
    ("accecn_option: ACCECN ACCECN_E1B accecn_val", "E|+0 < . 1:1(0) ack 1 win 257 <ECN e1b 1>\n", Converts(&["<opt174 000001>"])),
    ("accecn_option: ACCECN ACCECN_E1B accecn_val ACCECN_CEB accecn_val", "E|+0 < . 1:1(0) ack 1 win 257 <ECN e1b 1 ceb 2>\n", Converts(&["<opt174 000001000002>"])),
    ("accecn_option: ACCECN ACCECN_E1B accecn_val ACCECN_CEB accecn_val ACCECN_E0B accecn_val", "E|+0 < . 1:1(0) ack 1 win 257 <ECN e1b 1 ceb 2 e0b 3>\n", Converts(&["<opt174 000001000002000003>"])),
    ("sack_block_list: sack_block", "E|+0 < . 1:1(0) ack 1 win 257 <sack 1:2>\n", Converts(&["<sack 1:2>"])),
    ("sack_block_list: sack_block_list sack_block", "E|+0 < . 1:1(0) ack 1 win 257 <sack 1:2 3:4>\n", Converts(&["<sack 1:2 3:4>"])),
    ("sack_block: INTEGER ':' INTEGER", "E|+0 < . 1:1(0) ack 1 win 257 <nop,nop,sack 5:9>\n", Converts(&["sack 5:9"])),
    ("accecn_val: INTEGER", "E|+0 < . 1:1(0) ack 1 win 257 <ECN e0b 100>\n", Converts(&["<opt172 000064>"])),
    // ---- system calls
    ("syscall_spec: opt_end_time function_name function_arguments '=' expression opt_errno opt_note", "E|+0...0.1 read(4, ..., 10) = -1 EAGAIN (Resource temporarily unavailable)\n", Converts(&["read(4, ..., 10) = -1 EAGAIN"])),
    ("opt_end_time: <empty>", "L|+0 close(3) = 0\n", Converts(&["close(3) = 0"])),
    ("opt_end_time: ELLIPSIS time", "E|+0...0.2 read(4, ..., 10) = 10\n", Converts(&["{at: \"+0...0.2\", call: \"read(4, ..., 10) = 10\""])),
    ("function_name: WORD", "L|+0 getsockopt(3, SOL_SOCKET, SO_ERROR, [0], [4]) = 0\n", Converts(&["getsockopt(3, SOL_SOCKET, SO_ERROR, [0], [4]) = 0"])),
    ("function_arguments: '(' ')'", "L|+0 frob() = 0\n", Refused("call frob", "unknown call `frob`")),
    ("function_arguments: '(' expression_list ')'", "L|+0 close(3) = 0\n", Converts(&["close(3) = 0"])),
    ("expression_list: expression", "L|+0 close(3) = 0\n", Converts(&["close(3) = 0"])),
    ("expression_list: expression_list ',' expression", "L|+0 shutdown(3, SHUT_RD) = 0\n", Converts(&["shutdown(3, SHUT_RD) = 0"])),
    ("expression: ELLIPSIS", "E|+0 write(4, ..., 10) = 10\n", Converts(&["write(4, ..., 10) = 10"])),
    ("expression: any_int", "L|+0 close(3) = 0\n", Converts(&["close(3) = 0"])),
    ("expression: WORD", "L|+0 setsockopt(3, SOL_TCP, TCP_NODELAY, [1], 4) = 0\n", Converts(&["TCP_NODELAY"])),
    ("expression: string_sequence", "E|+0 write(4, \"hello\", 5) = 5\n", Converts(&["write(4, \\\"hello\\\", 5) = 5"])),
    ("expression: STRING ELLIPSIS", "E|+0 write(4, \"ab\"..., 1000) = 1000\n", Refused("call write", "refuses a string at run time")),
    ("expression: binary_expression", "E|+0 fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n", Converts(&["O_RDWR|O_NONBLOCK"])),
    ("expression: array", "L|+0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0\n", Converts(&["[1]"])),
    ("expression: inaddr", "L|+0 setsockopt(3, SOL_IP, IP_TOS, [inet_addr(\"192.0.2.1\")], 4) = 0\n", Refused("call setsockopt", "refuses this form at run time")),
    ("expression: in6addr", "L|+0 setsockopt(3, SOL_IPV6, IPV6_HOPLIMIT, inet6_addr(\"2001:db8::1\"), 16) = -1 EINVAL (Invalid argument)\n", Converts(&["setsockopt(3, SOL_IPV6, IPV6_HOPLIMIT, \\\"\\\\x20\\\\x01\\\\x0d\\\\xb8"])),
    ("expression: sockaddr", "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 connect(3, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr(\"192.0.2.1\")}, 16) = -1 EINPROGRESS (Operation now in progress)\n", Converts(&["connect(3, 192.0.2.1:8080, 16)"])),
    ("expression: msghdr", "E|+0 sendmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 10}], msg_flags=0}, 0) = 10\n", Converts(&["sendto(4, ..., 10, 0, ..., ...) = 10"])),
    ("expression: iovec", "E|+0 writev(4, [{..., 10}, {..., 20}], 2) = 30\n", Converts(&["write(4, ..., 30) = 30"])),
    ("expression: pollfd", "E|+0 poll([{fd=4, events=POLLIN}], 1, 0) = 0\n", Converts(&["poll(4, POLLIN, 0) = 0"])),
    ("expression: linger", "E|+0 setsockopt(4, SOL_SOCKET, SO_LINGER, {onoff=1, linger=0}, 8) = 0\n", Converts(&["SO_LINGER, {onoff=1, linger=0}, 8) = 0"])),
    ("expression: mpls_stack_expression", "L|+0 setsockopt(3, SOL_SOCKET, SO_MARK, {(label 1, tc 0, ttl 9)}, 4) = 0\n", Refused("call setsockopt", "the struct value")),
    ("expression: cmsg_expr", "E|+0 recvmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 10}], msg_flags=0, msg_control=[{cmsg_level=SOL_SOCKET, cmsg_type=SCM_TIMESTAMPING, cmsg_data={scm_sec=0,scm_nsec=0}}]}, MSG_ERRQUEUE) = 0\n", Converts(&["cmsg: [{timestamping: 0.0}]"])),
    ("expression: scm_timestamping_expr", "E|+0 recvmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 10}], msg_flags=0, msg_control=[{cmsg_level=SOL_SOCKET, cmsg_type=SCM_TIMESTAMPING, cmsg_data={scm_sec=0,scm_nsec=0}}]}, MSG_ERRQUEUE) = 0\n", Converts(&["cmsg: [{timestamping: 0.0}]"])),
    ("expression: sub_expr_list", "E|+0 setsockopt(4, SOL_TCP, TCP_NODELAY, {1}, 4) = 0\n", Converts(&["setsockopt(4, SOL_TCP, TCP_NODELAY, [1], 4) = 0"])),
    ("expression: sock_extended_err_expr", "E|+0 recvmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 10}], msg_flags=MSG_ERRQUEUE, msg_control=[{cmsg_level=SOL_IP, cmsg_type=IP_RECVERR, cmsg_data={ee_errno=ENOMSG, ee_origin=SO_EE_ORIGIN_ZEROCOPY, ee_type=0, ee_code=SO_EE_CODE_ZEROCOPY_COPIED, ee_info=0, ee_data=0}}]}, MSG_ERRQUEUE) = 0\n", Converts(&["recverr: {errno: ENOMSG, origin: SO_EE_ORIGIN_ZEROCOPY"])),
    ("expression: LB gre_header_expression RB", "L|+0 setsockopt(3, SOL_SOCKET, SO_MARK, {flags 0 sum 0 off 0 key 0 seq 0}, 4) = 0\n", Refused("call setsockopt", "the struct value")),
    ("expression: epollev", "E|+0 epoll_create(1) = 5\n+0 epoll_ctl(5, EPOLL_CTL_ADD, 4, {events=EPOLLIN, fd=4}) = 0\n", Converts(&["epoll_ctl(5, EPOLL_CTL_ADD, 4, {events=EPOLLIN, fd=4}) = 0"])),
    ("any_int: decimal_integer", "L|+0 close(3) = 0\n", Converts(&["close(3) = 0"])),
    ("any_int: hex_integer", "L|+0 setsockopt(3, SOL_IP, IP_TOS, [0x10], 4) = 0\n", Converts(&["[0x10]"])),
    ("decimal_integer: INTEGER", "L|+0 close(3) = 0\n", Converts(&["close(3) = 0"])),
    ("hex_integer: HEX_INTEGER", "L|+0 setsockopt(3, SOL_IP, IP_TOS, [0x4], 4) = 0\n", Converts(&["[0x4]"])),
    ("string_expression: STRING", "E|+0 write(4, \"x\", 1) = 1\n", Converts(&["write(4, \\\"x\\\", 1) = 1"])),
    ("string_sequence: string_expression", "E|+0 write(4, \"xy\", 2) = 2\n", Converts(&["write(4, \\\"xy\\\", 2) = 2"])),
    ("string_sequence: string_sequence string_expression", "E|+0 write(4, \"ab\" \"cd\", 4) = 4\n", Converts(&["write(4, \\\"ab\\\" \\\"cd\\\", 4) = 4"])),
    ("binary_expression: expression '|' expression", "E|+0 send(4, ..., 10, MSG_DONTWAIT|MSG_NOSIGNAL) = 10\n", Converts(&["MSG_DONTWAIT|MSG_NOSIGNAL"])),
    ("binary_expression: WORD '=' expression", "E|+0 poll([{fd=4, events=POLLIN, revents=POLLIN}], 1, 0) = 1\n", Converts(&["poll(4, POLLIN, 0) = POLLIN"])),
    ("array: '[' ']'", "E|+0 poll([], 0, 250) = 0\n", Converts(&["{wait: 250ms, from: 9}"])),
    ("array: '[' expression_list ']'", "L|+0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0\n", Converts(&["[1]"])),
    ("inaddr: INET_ADDR '(' STRING ')'", "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 connect(3, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr(\"192.0.2.1\")}, 16) = -1 EINPROGRESS (Operation now in progress)\n", Converts(&["192.0.2.1:8080"])),
    ("in6addr: INET6_ADDR '(' STRING ')'", "L|+0 setsockopt(3, SOL_IPV6, IPV6_MTU, inet6_addr(\"::1\"), 16) = -1 EINVAL (Invalid argument)\n", Converts(&["\\\\x00\\\\x01\\\", 16) = -1 EINVAL"])),
    ("sockaddr: LB SA_FAMILY '=' WORD ',' SIN_PORT '=' _HTONS_ '(' INTEGER ')' ',' SIN_ADDR '=' INET_ADDR '(' STRING ')' RB", "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 connect(3, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr(\"192.0.2.1\")}, 16) = -1 EINPROGRESS (Operation now in progress)\n", Converts(&["connect(3, 192.0.2.1:8080, 16)"])),
    ("msghdr: LB MSG_NAME '(' ELLIPSIS ')' '=' ELLIPSIS ',' MSG_IOV '(' decimal_integer ')' '=' array ',' MSG_FLAGS '=' expression opt_cmsg RB", "E|+0 sendmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 10}], msg_flags=0}, 0) = 10\n", Converts(&["sendto(4, ..., 10, 0, ..., ...) = 10"])),
    ("opt_cmsg: <empty>", "E|+0 sendmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 10}], msg_flags=0}, 0) = 10\n", Converts(&["sendto(4, ..., 10, 0, ..., ...) = 10"])),
    ("opt_cmsg: ',' MSG_CONTROL '=' array", "E|+0 sendmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 10}], msg_flags=0, msg_control=[{cmsg_level=SOL_IP, cmsg_type=IP_TOS, cmsg_data=4}]}, 0) = 10\n", Converts(&["sendmsg(4, [10], 0, [{cmsg_level=SOL_IP, cmsg_type=IP_TOS, cmsg_data=4}]) = 10"])),
    ("cmsg_expr: LB CMSG_LEVEL '=' expression ',' CMSG_TYPE '=' expression ',' CMSG_DATA '=' expression RB", "E|+0 sendmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 10}], msg_flags=0, msg_control=[{cmsg_level=SOL_IP, cmsg_type=IP_TOS, cmsg_data=4}]}, 0) = 10\n", Converts(&["sendmsg(4, [10], 0, [{cmsg_level=SOL_IP, cmsg_type=IP_TOS, cmsg_data=4}]) = 10"])),
    ("scm_timestamping_expr: LB SCM_SEC '=' INTEGER ',' SCM_NSEC '=' INTEGER RB", "E|+0 recvmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 10}], msg_flags=0, msg_control=[{cmsg_level=SOL_SOCKET, cmsg_type=SCM_TIMESTAMPING, cmsg_data={scm_sec=0,scm_nsec=0}}]}, MSG_ERRQUEUE) = 0\n", Converts(&["cmsg: [{timestamping: 0.0}]"])),
    ("sub_expr_list: LB expression_list RB", "E|+0 setsockopt(4, SOL_TCP, TCP_CORK, {1, 2, 3, 4, 5}, 20) = 0\n", Refused("call setsockopt", "refuses this one at run time")),
    ("sock_extended_err_expr: LB EE_ERRNO '=' expression ',' EE_ORIGIN '=' expression ',' EE_TYPE '=' expression ',' EE_CODE '=' expression ',' EE_INFO '=' expression ',' EE_DATA '=' expression RB", "E|+0 recvmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 10}], msg_flags=MSG_ERRQUEUE, msg_control=[{cmsg_level=SOL_IP, cmsg_type=IP_RECVERR, cmsg_data={ee_errno=ENOMSG, ee_origin=SO_EE_ORIGIN_ZEROCOPY, ee_type=0, ee_code=SO_EE_CODE_ZEROCOPY_COPIED, ee_info=0, ee_data=0}}]}, MSG_ERRQUEUE) = 0\n", Converts(&["recverr: {errno: ENOMSG, origin: SO_EE_ORIGIN_ZEROCOPY"])),
    ("iovec: LB ELLIPSIS ',' decimal_integer RB", "E|+0 writev(4, [{..., 5}], 1) = 5\n", Converts(&["write(4, ..., 5) = 5"])),
    ("pollfd: LB FD '=' expression ',' EVENTS '=' expression opt_revents RB", "E|+0 poll([{fd=4, events=POLLOUT}], 1, 0) = 1\n", Converts(&["poll(4, POLLOUT, 0) = 0"])),
    ("epollev: LB EVENTS '=' expression ',' FD '=' expression RB", "E|+0 epoll_create(1) = 5\n+0 epoll_ctl(5, EPOLL_CTL_ADD, 4, {events=EPOLLOUT, fd=4}) = 0\n", Converts(&["{events=EPOLLOUT, fd=4}"])),
    ("epollev: LB EVENTS '=' expression ',' PTR '=' expression RB", "E|+0 epoll_create(1) = 5\n+0 epoll_ctl(5, EPOLL_CTL_ADD, 4, {events=EPOLLOUT, ptr=0}) = 0\n", Converts(&["{events=EPOLLOUT, ptr=0}"])),
    ("epollev: LB EVENTS '=' expression ',' U32 '=' expression RB", "E|+0 epoll_create(1) = 5\n+0 epoll_ctl(5, EPOLL_CTL_ADD, 4, {events=EPOLLOUT, u32=9}) = 0\n+0 epoll_wait(5, {events=EPOLLOUT, u32=9}, 1, 0) = 1\n", Converts(&["{events=EPOLLOUT, u32=9}) = 0", "epoll_wait(5, {events=EPOLLOUT, u32=9}, 1, 0) = 1"])),
    ("epollev: LB EVENTS '=' expression ',' U64 '=' expression RB", "E|+0 epoll_create(1) = 5\n+0 epoll_ctl(5, EPOLL_CTL_ADD, 4, {events=EPOLLOUT, u64=9}) = 0\n", Converts(&["{events=EPOLLOUT, u64=9}"])),
    ("opt_revents: <empty>", "E|+0 poll([{fd=4, events=POLLOUT}], 1, 0) = 1\n", Converts(&["poll(4, POLLOUT, 0) = 0"])),
    ("opt_revents: ',' REVENTS '=' expression", "E|+0 poll([{fd=4, events=POLLOUT, revents=POLLOUT}], 1, 0) = 1\n", Converts(&["poll(4, POLLOUT, 0) = POLLOUT"])),
    ("linger: LB ONOFF '=' INTEGER ',' LINGER '=' INTEGER RB", "E|+0 setsockopt(4, SOL_SOCKET, SO_LINGER, {onoff=1, linger=5}, 8) = 0\n", Converts(&["SO_LINGER, {onoff=1, linger=5}, 8) = 0"])),
    ("mpls_stack_expression: LB mpls_stack RB", "L|+0 setsockopt(3, SOL_SOCKET, SO_MARK, {(label 1, tc 0, ttl 9)}, 4) = 0\n", Refused("call setsockopt", "the struct value")),
    ("opt_errno: <empty>", "L|+0 close(3) = 0\n", Converts(&["close(3) = 0"])),
    ("opt_errno: WORD note", "L|+0 close(9) = -1 EBADF (Bad file descriptor)\n", Converts(&["close(9) = -1 EBADF"])),
    ("opt_note: <empty>", "L|+0 close(3) = 0\n", Converts(&["close(3) = 0"])),
    ("opt_note: note", "E|+0 write(4, ..., 10) = 10 (a note)\n", Converts(&["write(4, ..., 10) = 10"])),
    ("note: '(' word_list ')'", "L|+0 close(9) = -1 EBADF (Bad file descriptor)\n", Converts(&["EBADF"])),
    ("word_list: WORD", "L|+0 close(9) = -1 EBADF (Bad)\n", Converts(&["EBADF"])),
    ("word_list: FLAGS", "L|+0 close(9) = -1 EBADF (flags)\n", Converts(&["EBADF"])),
    ("word_list: word_list WORD", "L|+0 close(9) = -1 EBADF (Bad file descriptor)\n", Converts(&["EBADF"])),
    ("command_spec: BACK_QUOTED", "L|+0 `sysctl -q net.ipv4.tcp_dsack=0`\n", Converts(&["net.ipv4.tcp_dsack: \"0\""])),
    ("code_spec: CODE", "--code_sockopt=SO_MEMINFO\nE|+0 %{ assert tcpi_rto == 200000; assert SK_MEMINFO_DROPS == 0; assert bbr_cwnd_gain >= 0; assert tcp_minrtt >= 0 }%\n", Converts(&["rto: 200000", "meminfo_drops: 0", "bbr_cwnd_gain: \"0~", "tcpv_minrtt: \"0~"])),
    ("opt_cleanup_command: <empty>", "L|", Converts(&["listen(3, 1) = 0"])),
    ("opt_cleanup_command: cleanup_command", "L|`sysctl -q net.ipv4.tcp_sack=1`\n", Converts(&["{sysctl: {net.ipv4.tcp_sack: \"1\"}"])),
    ("cleanup_command: command_spec", "L|`sysctl -q net.ipv4.tcp_sack=0`\n", Converts(&["{sysctl: {net.ipv4.tcp_sack: \"0\"}"])),
];

/// Every system call packetdrill runs (run_system_call.c's table at the
/// same commit), in the form its scripts write it.
const SYSCALLS: &[(&str, &str, Want)] = &[
    ("socket", "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n", Converts(&["socket(..., SOCK_STREAM, IPPROTO_TCP) = 3"])),
    ("bind", "L|", Converts(&["bind(3, ..., ...) = 0"])),
    ("listen", "L|", Converts(&["listen(3, 1) = 0"])),
    ("accept", "E|", Converts(&["accept(3, ..., ...) = 4"])),
    ("connect", "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)\n", Converts(&["connect(3, ..., ...) = -1 EINPROGRESS"])),
    ("read", "E|+0 read(4, ..., 10) = -1 EAGAIN (Resource temporarily unavailable)\n", Converts(&["read(4, ..., 10)"])),
    ("readv", "E|+0 < P. 1:11(10) ack 1 win 257\n+0 readv(4, [{..., 4}, {..., 6}], 2) = 10\n", Converts(&["read(4, ..., 10) = 10"])),
    ("recv", "E|+0 recv(4, ..., 10, MSG_DONTWAIT) = -1 EAGAIN (Resource temporarily unavailable)\n", Converts(&["recv(4, ..., 10, MSG_DONTWAIT)"])),
    ("recvfrom", "E|+0 recvfrom(4, ..., 10, 0, ..., ...) = -1 EAGAIN (Resource temporarily unavailable)\n", Converts(&["recvfrom(4, ..., 10, 0, ..., ...)"])),
    ("recvmsg", "E|+0 < P. 1:11(10) ack 1 win 257\n+0 recvmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 10}], msg_flags=0}, 0) = 10\n", Converts(&["recvmsg(4, 10, 0) = 10"])),
    ("write", "E|+0 write(4, ..., 10) = 10\n", Converts(&["write(4, ..., 10) = 10"])),
    ("writev", "E|+0 writev(4, [{..., 4}, {..., 6}], 2) = 10\n", Converts(&["write(4, ..., 10) = 10"])),
    ("send", "E|+0 send(4, ..., 10, 0) = 10\n", Converts(&["send(4, ..., 10, 0) = 10"])),
    ("sendto", "E|+0 sendto(4, ..., 10, 0, ..., ...) = 10\n", Converts(&["sendto(4, ..., 10, 0, ..., ...) = 10"])),
    ("sendmsg", "E|+0 sendmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 10}], msg_flags=0}, 0) = 10\n", Converts(&["sendto(4, ..., 10, 0, ..., ...) = 10"])),
    ("fcntl", "E|+0 fcntl(4, F_GETFL) = 0x2 (flags O_RDWR)\n", Converts(&["fcntl(4, F_GETFL) = 0x2"])),
    ("ioctl", "E|+0 ioctl(4, SIOCINQ, [0]) = 0\n", Converts(&["ioctl(4, SIOCINQ, [0]) = 0"])),
    ("close", "L|+0 close(3) = 0\n", Converts(&["close(3) = 0"])),
    ("shutdown", "E|+0 shutdown(4, SHUT_WR) = 0\n", Converts(&["shutdown(4, SHUT_WR) = 0"])),
    ("getsockopt", "E|+0 getsockopt(4, SOL_SOCKET, SO_ERROR, [0], [4]) = 0\n", Converts(&["getsockopt(4, SOL_SOCKET, SO_ERROR, [0], [4]) = 0"])),
    ("setsockopt", "E|+0 setsockopt(4, SOL_TCP, TCP_NODELAY, [1], 4) = 0\n", Converts(&["setsockopt(4, SOL_TCP, TCP_NODELAY, [1], 4) = 0"])),
    ("poll", "E|+0 poll([{fd=4, events=POLLOUT, revents=POLLOUT}], 1, 0) = 1\n", Converts(&["poll(4, POLLOUT, 0) = POLLOUT"])),
    ("cap_set", "L|+0 cap_set(CAP_NET_ADMIN, 0) = 0\n", Refused("call cap_set", "capabilities")),
    ("open", "L|+0 open(\"/tmp/x\", O_RDONLY) = 5\n", Refused("call open", "a file of the host")),
    ("sendfile", "E|+0 sendfile(4, 5, [0], 10) = 10\n", Refused("call sendfile", "a file of the host")),
    ("epoll_create", "E|+0 epoll_create(1) = 5\n", Converts(&["epoll_create(1) = 5"])),
    ("epoll_ctl", "E|+0 epoll_create(1) = 5\n+0 epoll_ctl(5, EPOLL_CTL_ADD, 4, {events=EPOLLIN, fd=4}) = 0\n", Converts(&["epoll_ctl(5, EPOLL_CTL_ADD, 4"])),
    ("epoll_wait", "E|+0 epoll_create(1) = 5\n+0 epoll_ctl(5, EPOLL_CTL_ADD, 4, {events=EPOLLOUT, fd=4}) = 0\n+0 epoll_wait(5, {events=EPOLLOUT, fd=4}, 1, 0) = 1\n", Converts(&["epoll_wait(5,"])),
    ("pipe", "0 pipe([5, 6]) = 0\n", Converts(&["pipe([5, 6]) = 0"])),
    ("splice", "E|+0 pipe([5, 6]) = 0\n+0 splice(4, NULL, 6, NULL, 10, 0) = -1 EAGAIN (Resource temporarily unavailable)\n", Converts(&["splice(4, NULL, 6, NULL, 10, 0)"])),
    ("psp_rx_assoc", "E|+0 psp_rx_assoc(4, 1, [0]) = 0\n", Refused("call psp_rx_assoc", "PSP")),
    ("psp_tx_assoc", "E|+0 psp_tx_assoc(4, 1, [0]) = 0\n", Refused("call psp_tx_assoc", "PSP")),
];

/// Each of packetdrill's system calls converts or is refused by name.
#[test]
fn every_system_call_converts_or_is_refused_with_its_reason() {
    let mut wrong = Vec::new();
    for (name, case, want) in SYSCALLS {
        let c = convert("call.pkt", &pkt_of(case), &ImportOptions::default());
        if !judge(&c, want) {
            wrong.push(format!("{name}: {:?}\n{}", c.problems, c.yaml.unwrap_or_default()));
        }
    }
    assert_eq!(SYSCALLS.len(), 32);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

fn judge(c: &harness::import::convert::Converted, want: &Want) -> bool {
    match want {
        Converts(needles) => {
            c.problems.is_empty()
                && c.yaml.as_deref().is_some_and(|y| {
                    needles.iter().all(|n| y.contains(n))
                        && harness::script::parse(std::path::Path::new("x.yaml"), y).is_ok()
                })
        }
        Refused(construct, why) => c.problems.first().is_some_and(|p| {
            p.construct.contains(construct) && p.reason.contains(why) && p.line > 0 && !p.reason.is_empty()
        }),
    }
}

fn pkt_of(case: &str) -> String {
    let mut out = String::new();
    let mut rest = case;
    loop {
        if let Some(r) = rest.strip_prefix("L|") {
            out.push_str(L);
            rest = r;
        } else if let Some(r) = rest.strip_prefix("E|") {
            out.push_str(E);
            rest = r;
        } else if let Some(i) = rest.find("L|").or_else(|| rest.find("E|")) {
            out.push_str(&rest[..i]);
            rest = &rest[i..];
        } else {
            out.push_str(rest);
            return out;
        }
    }
}

#[test]
fn every_production_converts_or_is_refused_with_its_reason() {
    let print = std::env::var_os("IMPORT_GRAMMAR_PRINT").is_some();
    let mut wrong = Vec::new();
    for (i, (prod, case, want)) in CASES.iter().enumerate() {
        let pkt = pkt_of(case);
        let c = convert("grammar.pkt", &pkt, &ImportOptions::default());
        let got = match (&c.yaml, c.problems.first()) {
            (Some(y), None) => {
                // The round trip: what the importer writes, the language reads.
                if let Err(e) = harness::script::parse(std::path::Path::new("grammar.yaml"), y) {
                    wrong.push(format!("{prod}: the YAML does not parse: {}\n{y}", e.message));
                    continue;
                }
                format!("converts: {}", y.lines().rfind(|l| l.contains("from:")).unwrap_or(""))
            }
            (_, Some(p)) => format!("refused at line {}: {}: {}", p.line, p.construct, p.reason),
            (None, None) => "neither converted nor refused".into(),
        };
        if print {
            println!("{:3} {prod}\n      {got}", i + 1);
        }
        let ok = judge(&c, want);
        if !ok {
            wrong.push(format!("{prod}:\n    {got}\n    yaml: {:?}", c.yaml));
        }
    }
    assert!(wrong.is_empty() || print, "{} of {} productions:\n{}", wrong.len(), CASES.len(), wrong.join("\n"));
}

/// Every production of parser.y has its case, once.
#[test]
fn the_table_covers_222_productions() {
    let mut names: Vec<&str> = CASES.iter().map(|c| c.0).collect();
    names.sort_unstable();
    let n = names.len();
    names.dedup();
    assert_eq!(names.len(), n, "a production is listed twice");
    assert_eq!(n, 222);
}

/// packetdrill's symbol table for Linux (`symbols_linux.c` at the same
/// commit): its 373 entries in its order, names only (six are listed twice
/// there: F_GETOWN, F_SETOWN, F_GETLK, F_SETLK, F_SETLKW, MSG_CTRUNC).
const SYMBOLS: &[&str] = &[
    "SOL_IP",
    "SOL_IPV6",
    "SOL_TCP",
    "SOL_UDP",
    "SO_ACCEPTCONN",
    "SO_ATTACH_FILTER",
    "SO_BINDTODEVICE",
    "SO_BROADCAST",
    "SO_BSDCOMPAT",
    "SO_DEBUG",
    "SO_DETACH_FILTER",
    "SO_DONTROUTE",
    "SO_ERROR",
    "SO_KEEPALIVE",
    "SO_LINGER",
    "SO_MARK",
    "SO_NO_CHECK",
    "SO_OOBINLINE",
    "SO_PASSCRED",
    "SO_PEERCRED",
    "SO_PEERNAME",
    "SO_PEERSEC",
    "SO_PRIORITY",
    "SO_RCVBUF",
    "SO_RCVLOWAT",
    "SO_RCVTIMEO",
    "SO_REUSEADDR",
    "SO_REUSEPORT",
    "SO_SECURITY_AUTHENTICATION",
    "SO_SECURITY_ENCRYPTION_NETWORK",
    "SO_SECURITY_ENCRYPTION_TRANSPORT",
    "SO_SNDBUF",
    "SO_SNDLOWAT",
    "SO_SNDTIMEO",
    "SO_TIMESTAMP",
    "SO_TYPE",
    "SOF_TIMESTAMPING_SYS_HARDWARE",
    "SOF_TIMESTAMPING_RAW_HARDWARE",
    "SCM_TIMESTAMPING_OPT_STATS",
    "TCP_NLA_BUSY",
    "TCP_NLA_RWND_LIMITED",
    "TCP_NLA_SNDBUF_LIMITED",
    "TCP_NLA_DATA_SEGS_OUT",
    "TCP_NLA_TOTAL_RETRANS",
    "TCP_NLA_PACING_RATE",
    "TCP_NLA_DELIVERY_RATE",
    "TCP_NLA_SND_CWND",
    "TCP_NLA_REORDERING",
    "TCP_NLA_MIN_RTT",
    "TCP_NLA_RECUR_RETRANS",
    "TCP_NLA_DELIVERY_RATE_APP_LMT",
    "TCP_NLA_SNDQ_SIZE",
    "TCP_NLA_DELIVERED_CE",
    "TCP_NLA_BYTES_SENT",
    "TCP_NLA_BYTES_RETRANS",
    "TCP_NLA_DSACK_DUPS",
    "TCP_NLA_REORD_SEEN",
    "TCP_NLA_SRTT",
    "TCP_INFINITE_SSTHRESH",
    "IP_TOS",
    "IP_MTU_DISCOVER",
    "IPV6_MTU_DISCOVER",
    "IP_PMTUDISC_WANT",
    "IP_PMTUDISC_DONT",
    "IP_PMTUDISC_DO",
    "IP_PMTUDISC_PROBE",
    "IP_FREEBIND",
    "IP_TTL",
    "IP_MTU",
    "IPV6_MTU",
    "IPV6_TCLASS",
    "IPV6_HOPLIMIT",
    "TCP_NODELAY",
    "TCP_MAXSEG",
    "TCP_CORK",
    "TCP_KEEPIDLE",
    "TCP_KEEPINTVL",
    "TCP_KEEPCNT",
    "TCP_SYNCNT",
    "TCP_LINGER2",
    "TCP_DEFER_ACCEPT",
    "TCP_INFO",
    "TCP_QUICKACK",
    "TCP_CONGESTION",
    "TCP_MD5SIG",
    "TCP_COOKIE_TRANSACTIONS",
    "TCP_THIN_LINEAR_TIMEOUTS",
    "TCP_THIN_DUPACK",
    "TCP_USER_TIMEOUT",
    "TCP_FASTOPEN",
    "TCP_FASTOPEN_CONNECT",
    "TCP_FASTOPEN_KEY",
    "TCP_FASTOPEN_NO_COOKIE",
    "TCP_TIMESTAMP",
    "TCP_NOTSENT_LOWAT",
    "O_RDONLY",
    "O_WRONLY",
    "O_RDWR",
    "O_ACCMODE",
    "O_CREAT",
    "O_EXCL",
    "O_NOCTTY",
    "O_TRUNC",
    "O_APPEND",
    "O_NONBLOCK",
    "F_DUPFD",
    "F_GETFD",
    "F_SETFD",
    "F_GETFL",
    "F_SETFL",
    "F_GETLK",
    "F_SETLK",
    "F_SETLKW",
    "F_GETOWN",
    "F_SETOWN",
    "F_SETSIG",
    "F_GETSIG",
    "F_GETOWN",
    "F_SETOWN",
    "F_SETLK",
    "F_SETLKW",
    "F_GETLK",
    "F_SETLK64",
    "F_SETLKW64",
    "F_GETLK64",
    "F_SETLEASE",
    "F_GETLEASE",
    "F_NOTIFY",
    "F_DUPFD_CLOEXEC",
    "FD_CLOEXEC",
    "LOCK_SH",
    "LOCK_EX",
    "LOCK_NB",
    "LOCK_UN",
    "F_RDLCK",
    "F_WRLCK",
    "F_UNLCK",
    "F_EXLCK",
    "F_SHLCK",
    "SEEK_SET",
    "SEEK_CUR",
    "SEEK_END",
    "MSG_OOB",
    "MSG_DONTROUTE",
    "MSG_PEEK",
    "MSG_CTRUNC",
    "MSG_PROXY",
    "MSG_EOR",
    "MSG_WAITALL",
    "MSG_TRUNC",
    "MSG_CTRUNC",
    "MSG_ERRQUEUE",
    "MSG_DONTWAIT",
    "MSG_CONFIRM",
    "MSG_FIN",
    "MSG_SYN",
    "MSG_RST",
    "MSG_NOSIGNAL",
    "MSG_MORE",
    "MSG_CMSG_CLOEXEC",
    "MSG_FASTOPEN",
    "MSG_ZEROCOPY",
    "SIOCINQ",
    "FIONREAD",
    "POLLIN",
    "POLLPRI",
    "POLLOUT",
    "POLLRDNORM",
    "POLLRDBAND",
    "POLLWRNORM",
    "POLLWRBAND",
    "POLLMSG",
    "POLLREMOVE",
    "POLLRDHUP",
    "POLLERR",
    "POLLHUP",
    "POLLNVAL",
    "EPERM",
    "ENOENT",
    "ESRCH",
    "EINTR",
    "EIO",
    "ENXIO",
    "E2BIG",
    "ENOEXEC",
    "EBADF",
    "ECHILD",
    "EAGAIN",
    "ENOMEM",
    "EACCES",
    "EFAULT",
    "ENOTBLK",
    "EBUSY",
    "EEXIST",
    "EXDEV",
    "ENODEV",
    "ENOTDIR",
    "EISDIR",
    "EINVAL",
    "ENFILE",
    "EMFILE",
    "ENOTTY",
    "ETXTBSY",
    "EFBIG",
    "ENOSPC",
    "ESPIPE",
    "EROFS",
    "EMLINK",
    "EPIPE",
    "EDOM",
    "ERANGE",
    "EDEADLK",
    "ENAMETOOLONG",
    "ENOLCK",
    "ENOSYS",
    "ENOTEMPTY",
    "ELOOP",
    "EWOULDBLOCK",
    "ENOMSG",
    "EIDRM",
    "ECHRNG",
    "EL2NSYNC",
    "EL3HLT",
    "EL3RST",
    "ELNRNG",
    "EUNATCH",
    "ENOCSI",
    "EL2HLT",
    "EBADE",
    "EBADR",
    "EXFULL",
    "ENOANO",
    "EBADRQC",
    "EBADSLT",
    "EDEADLOCK",
    "EBFONT",
    "ENOSTR",
    "ENODATA",
    "ETIME",
    "ENOSR",
    "ENONET",
    "ENOPKG",
    "EREMOTE",
    "ENOLINK",
    "EADV",
    "ESRMNT",
    "ECOMM",
    "EPROTO",
    "EMULTIHOP",
    "EDOTDOT",
    "EBADMSG",
    "EOVERFLOW",
    "ENOTUNIQ",
    "EBADFD",
    "EREMCHG",
    "ELIBACC",
    "ELIBBAD",
    "ELIBSCN",
    "ELIBMAX",
    "ELIBEXEC",
    "EILSEQ",
    "ERESTART",
    "ESTRPIPE",
    "EUSERS",
    "ENOTSOCK",
    "EDESTADDRREQ",
    "EMSGSIZE",
    "EPROTOTYPE",
    "ENOPROTOOPT",
    "EPROTONOSUPPORT",
    "ESOCKTNOSUPPORT",
    "EOPNOTSUPP",
    "EPFNOSUPPORT",
    "EAFNOSUPPORT",
    "EADDRINUSE",
    "EADDRNOTAVAIL",
    "ENETDOWN",
    "ENETUNREACH",
    "ENETRESET",
    "ECONNABORTED",
    "ECONNRESET",
    "ENOBUFS",
    "EISCONN",
    "ENOTCONN",
    "ESHUTDOWN",
    "ETOOMANYREFS",
    "ETIMEDOUT",
    "ECONNREFUSED",
    "EHOSTDOWN",
    "EHOSTUNREACH",
    "EALREADY",
    "EINPROGRESS",
    "ESTALE",
    "EUCLEAN",
    "ENOTNAM",
    "ENAVAIL",
    "EISNAM",
    "EREMOTEIO",
    "EDQUOT",
    "ENOMEDIUM",
    "EMEDIUMTYPE",
    "ECANCELED",
    "ENOKEY",
    "EKEYEXPIRED",
    "EKEYREVOKED",
    "EKEYREJECTED",
    "EOWNERDEAD",
    "ENOTRECOVERABLE",
    "ERFKILL",
    "CAP_EFFECTIVE",
    "CAP_PERMITTED",
    "CAP_INHERITABLE",
    "CAP_SET",
    "CAP_CLEAR",
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "EPOLLIN",
    "EPOLLPRI",
    "EPOLLOUT",
    "EPOLLRDNORM",
    "EPOLLRDBAND",
    "EPOLLWRNORM",
    "EPOLLWRBAND",
    "EPOLLMSG",
    "EPOLLERR",
    "EPOLLHUP",
    "EPOLLRDHUP",
    "EPOLLONESHOT",
    "EPOLLET",
    "EPOLLEXCLUSIVE",
    "EPOLL_CTL_ADD",
    "EPOLL_CTL_MOD",
    "EPOLL_CTL_DEL",
    "SPLICE_F_MOVE",
    "SPLICE_F_NONBLOCK",
    "SPLICE_F_MORE",
    "SPLICE_F_GIFT",
    "AF_UNSPEC",
];

/// A small .pkt that uses a symbol where packetdrill's scripts would.
fn symbol_case(s: &str) -> String {
    let get = [
        "SO_ACCEPTCONN",
        "SO_ERROR",
        "SO_TYPE",
        "SO_PEERCRED",
        "SO_PEERNAME",
        "SO_PEERSEC",
        "IP_MTU",
        "IPV6_MTU",
        "TCP_INFO",
    ];
    let level = |o: &str| match o.split('_').next() {
        Some("SO") => "SOL_SOCKET",
        Some("IP") => "SOL_IP",
        Some("IPV6") => "SOL_IPV6",
        _ => "SOL_TCP",
    };
    let recv = ["MSG_PEEK", "MSG_TRUNC", "MSG_WAITALL", "MSG_CTRUNC", "MSG_ERRQUEUE", "MSG_CMSG_CLOEXEC"];
    let body = match s {
        "SOL_IP" => "+0 setsockopt(4, SOL_IP, IP_TOS, [0x10], 4) = 0".to_string(),
        "SOL_IPV6" => "+0 setsockopt(4, SOL_IPV6, IPV6_TCLASS, [0x10], 4) = 0".to_string(),
        "SOL_TCP" => "+0 setsockopt(4, SOL_TCP, TCP_NODELAY, [1], 4) = 0".to_string(),
        "SOL_UDP" => "+0 setsockopt(4, SOL_UDP, TCP_NODELAY, [1], 4) = 0".to_string(),
        "TCP_CONGESTION" => "+0 setsockopt(4, SOL_TCP, TCP_CONGESTION, \"reno\", 4) = 0".to_string(),
        "TCP_FASTOPEN_KEY" => "+0 setsockopt(4, SOL_TCP, TCP_FASTOPEN_KEY, \"0123456789abcdef\", 16) = 0".to_string(),
        "SO_BINDTODEVICE" => "+0 setsockopt(4, SOL_SOCKET, SO_BINDTODEVICE, \"lo\", 2) = 0".to_string(),
        "SO_LINGER" => "+0 setsockopt(4, SOL_SOCKET, SO_LINGER, {onoff=1, linger=0}, 8) = 0".to_string(),
        "TCP_INFINITE_SSTHRESH" => "+0 %{ assert tcpi_snd_ssthresh == TCP_INFINITE_SSTHRESH }%".to_string(),
        "SCM_TIMESTAMPING_OPT_STATS" => "+0 recvmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 0}], msg_flags=MSG_ERRQUEUE, msg_control=[{cmsg_level=SOL_SOCKET, cmsg_type=SCM_TIMESTAMPING_OPT_STATS, cmsg_data=[TCP_NLA_BUSY=0, TCP_NLA_SRTT=...]}]}, MSG_ERRQUEUE) = 0".to_string(),
        "SIOCINQ" | "FIONREAD" => format!("+0 ioctl(4, {s}, [0]) = 0"),
        "FD_CLOEXEC" => "+0 fcntl(4, F_SETFD, FD_CLOEXEC) = 0".to_string(),
        "AF_UNSPEC" => "+0 connect(4, AF_UNSPEC, ...) = 0".to_string(),
        "EPOLL_CTL_ADD" | "EPOLL_CTL_MOD" | "EPOLL_CTL_DEL" => {
            format!("+0 epoll_create(1) = 5\n+0 epoll_ctl(5, {s}, 4, {{events=EPOLLIN, fd=4}}) = 0")
        }
        _ if get.contains(&s) => format!("+0 getsockopt(4, {}, {s}, [0], [4]) = 0", level(s)),
        _ if s.starts_with("TCP_NLA_") => format!("+0 recvmsg(4, {{msg_name(...)=..., msg_iov(1)=[{{..., 0}}], msg_flags=MSG_ERRQUEUE, msg_control=[{{cmsg_level=SOL_SOCKET, cmsg_type=SCM_TIMESTAMPING_OPT_STATS, cmsg_data=[{s}=7]}}]}}, MSG_ERRQUEUE) = 0"),
        _ if s.starts_with("SOF_") => format!("+0 setsockopt(4, SOL_SOCKET, SO_TIMESTAMPING, [{s}], 4) = 0"),
        _ if s.starts_with("IP_PMTUDISC_") => format!("+0 setsockopt(4, SOL_IP, IP_MTU_DISCOVER, [{s}], 4) = 0"),
        _ if ["SO_", "TCP_", "IP_", "IPV6_"].iter().any(|p| s.starts_with(p)) => {
            format!("+0 setsockopt(4, {}, {s}, [1], 4) = 0", level(s))
        }
        _ if s.starts_with("O_") || s.starts_with("LOCK_") || s.starts_with("SEEK_") => format!("+0 fcntl(4, F_SETFL, {s}) = 0"),
        _ if ["F_RDLCK", "F_WRLCK", "F_UNLCK", "F_EXLCK", "F_SHLCK"].contains(&s) => {
            format!("+0 fcntl(4, F_SETLEASE, {s}) = -1 EINVAL (Invalid argument)")
        }
        _ if s.starts_with("F_") => format!("+0 fcntl(4, {s}, 0) = 0"),
        _ if recv.contains(&s) => format!("+0 recv(4, ..., 10, {s}) = -1 EAGAIN (Resource temporarily unavailable)"),
        _ if s.starts_with("MSG_") => format!("+0 send(4, ..., 10, {s}) = 10"),
        _ if s.starts_with("POLL") => format!("+0 poll([{{fd=4, events={s}, revents=0}}], 1, 0) = 0"),
        _ if s.starts_with("EPOLL") => {
            format!("+0 epoll_create(1) = 5\n+0 epoll_ctl(5, EPOLL_CTL_ADD, 4, {{events={s}, fd=4}}) = 0")
        }
        _ if s.starts_with("SPLICE_") => {
            format!("+0 pipe([5, 6]) = 0\n+0 splice(4, NULL, 6, NULL, 10, {s}) = -1 EAGAIN (Resource temporarily unavailable)")
        }
        _ if s.starts_with("CAP_") => format!("+0 cap_set({s}, 0) = 0"),
        _ if s.starts_with('E') => format!("+0 read(4, ..., 10) = -1 {s} (x)"),
        _ => panic!("no case for {s}"),
    };
    format!("{}{body}\n", pkt_of("E|"))
}

/// What becomes of a symbol: refused (the construct, the reason's words),
/// or it converts.
fn symbol_fate(s: &str) -> Want {
    match s {
        _ if s.starts_with("CAP_") => Refused("call cap_set", "capabilities"),
        _ if s.starts_with("LOCK_") => Refused("call fcntl", "flock(2)"),
        _ if s.starts_with("SEEK_") => Refused("call fcntl", "lseek(2)"),
        "SOL_UDP" => Refused("call setsockopt", "UDP"),
        _ => Converts(&[]),
    }
}

/// Every name of packetdrill's symbol table converts where a script would
/// use it, or is refused with the reason; a name that converts reaches the
/// YAML (by name, or as its value where the language folds it).
#[test]
fn every_symbol_converts_or_is_refused_with_its_reason() {
    let print = std::env::var_os("IMPORT_GRAMMAR_PRINT").is_some();
    assert_eq!(SYMBOLS.len(), 373);
    let mut seen = std::collections::BTreeSet::new();
    let mut wrong = Vec::new();
    let mut converted = 0;
    for s in SYMBOLS.iter().filter(|s| seen.insert(**s)) {
        let c = convert("symbol.pkt", &symbol_case(s), &ImportOptions::default());
        let want = symbol_fate(s);
        let named = c.yaml.as_deref().is_some_and(|y| {
            y.contains(s)
                || (*s == "TCP_INFINITE_SSTHRESH" && y.contains("snd_ssthresh: 2147483647"))
                || (*s == "SCM_TIMESTAMPING_OPT_STATS" && y.contains("{opt_stats: {busy: 0, srtt: \"*\"}}"))
                || s.strip_prefix("TCP_NLA_")
                    .is_some_and(|n| y.contains(&format!("{{opt_stats: {{{}: 7}}}}", n.to_lowercase())))
        });
        let ok = judge(&c, &want) && (matches!(want, Refused(..)) || named);
        converted += usize::from(c.problems.is_empty());
        if print {
            let p = c
                .problems
                .first()
                .map_or("converts".to_string(), |p| format!("refused: {}: {}", p.construct, p.reason));
            println!("{s}: {p}");
        }
        if !ok {
            wrong.push(format!("{s}: {:?}\n{}", c.problems, c.yaml.unwrap_or_default()));
        }
    }
    assert_eq!(seen.len(), 367);
    assert!(wrong.is_empty(), "{} of {} names:\n{}", wrong.len(), seen.len(), wrong.join("\n"));
    // 42 CAP_ (cap_set), 4 LOCK_, 3 SEEK_, SOL_UDP.
    assert_eq!(converted, 367 - 42 - 7 - 1, "the names that convert");
}

/// Times as packetdrill's lexer reads them: its tokens may stand apart
/// (`+ 0.1`, `+.1 ~ +.2`, `+0 ... 0.100`), and each form keeps its meaning.
#[test]
fn time_forms_with_spaces() {
    let pkt = format!(
        "{L}+.1 ~ +.2 < S 0:0(0) win 32792 <mss 1000,nop,wscale 7>\n\
         +0 > S. 0:0(0) ack 1 <mss 1460,nop,wscale 8>\n\
         0.300 < . 1:1(0) ack 1 win 257\n\
         +0 ... 0.100 accept(3, ..., ...) = 4\n\
         + 0.1 close(4) = 0\n\
         1 ~ 1.5 close(3) = 0\n"
    );
    let c = convert("times.pkt", &pkt, &ImportOptions::default());
    assert!(c.problems.is_empty(), "{:?}", c.problems);
    let y = c.yaml.unwrap();
    for want in [
        "{at: \"+0.1~0.2\", in: \"S 0:0(0)",
        "{at: \"@0.3\", in: \". 1:1(0) ack 1 win 257\"",
        "{at: \"+0...0.1\", call: \"accept(3, ..., ...) = 4\"",
        "{at: \"+0.1\", call: \"close(4) = 0\"",
        "{at: \"@1~1.5\", call: \"close(3) = 0\"",
    ] {
        assert!(y.contains(want), "{want}\n{y}");
    }
}

/// Found reading the change again: packetdrill puts PSP's `encap` after the
/// IP information (`[ect0] encap psp ...`); refused by name there too.
#[test]
fn encapsulation_after_ip_information() {
    let c =
        convert("e.pkt", &pkt_of("E|+0 < [ect0] encap psp spi 1 . 1:1(0) ack 1 win 257\n"), &ImportOptions::default());
    assert!(judge(&c, &Refused("packet encapsulation", "PSP")), "{:?}", c.problems);
}
