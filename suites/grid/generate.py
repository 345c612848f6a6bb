#!/usr/bin/env python3
"""Writes the state x segment grid scripts in this directory (one `matrix:`
row per cell, each with the RFC 9293 3.10.7.x outcome and the clause behind
it). The rules live here, once; the YAML files are its output, committed so
`harness run` needs nothing but themselves. Run it after changing a rule and
review the diff: `python3 suites/grid/generate.py`."""
import os
import sys
M = 1 << 32
def rel(x): return x % M

POS = ["below", "left", "inside", "right", "beyond"]
def seqs(r):
    # right: the last octet of a 64240-octet window (Linux's; the reference
    # stack's 65535-octet window puts it 1295 octets inside).
    return {"below": rel(r - 1000), "left": r, "inside": r + 1000, "right": r + 64239, "beyond": r + 70000}

def seg(kind, s, n, pos):
    L = 1 if pos == "right" else 100
    return {
        "SYN": f"S {s}:{s}(0) win 65535",
        "SYN-ACK": f"S. {s}:{s}(0) ack {n} win 65535",
        "ACK": f". {s}:{s}(0) ack {n} win 65535",
        "RST": f"R {s}:{s}(0) win 0",
        "RST-ACK": f"R. {s}:{s}(0) ack {n} win 0",
        "FIN": f"F {s}:{s}(0) win 65535",
        "FIN-ACK": f"F. {s}:{s}(0) ack {n} win 65535",
        "data": f"P. {s}:{rel(s+L)}({L}) ack {n} win 65535",
        "SYN-FIN": f"SF {s}:{s}(0) win 65535",
        "no-flags": f"- {s}:{s}(0) win 65535",
    }[kind]

def established_rows(r, n, state, fin_next="CLOSE_WAIT", after_fin=False, una=None, acked_fin_next=None, only_fin_ack=False, tw_syn=False):
    """RFC 9293 3.10.7.4 with RFC 5961 for a synchronized state; r = RCV.NXT,
    n = SND.NXT, una = SND.UNA (the ACK the segments carry)."""
    una = n if una is None else una
    ack = f". {n}:{n}(0) ack {r}"
    rows = []
    for kind in ["SYN", "SYN-ACK", "ACK", "RST", "RST-ACK", "FIN", "FIN-ACK", "data", "SYN-FIN", "no-flags"]:
        for pos in POS:
            s = seqs(r)[pos]
            acceptable = pos in ("left", "inside", "right")
            nxt = state
            if kind in ("RST", "RST-ACK"):
                if not acceptable:
                    reply, why = "none", "first check: an unacceptable RST is dropped silently"
                elif pos == "left":
                    reply, nxt, why = "none", "CLOSED", "second check: a RST at RCV.NXT resets (RFC 5961 3.2)"
                else:
                    reply, why = ack, "second check: a RST in the window but not at RCV.NXT gets a challenge ACK (RFC 5961 3.2)"
            elif kind == "SYN" and tw_syn and pos in ("inside", "right", "beyond"):
                reply, nxt, why = f"S. * ack {s+1} <mss 1460>", "SYN_RECEIVED", "MAY-2 (3.6.1): a SYN above RCV.NXT reopens the connection from TIME-WAIT, with a larger ISN"
            elif not acceptable:
                reply, why = ack, "first check: an unacceptable segment is answered with an ACK and dropped"
            elif kind in ("SYN", "SYN-ACK", "SYN-FIN"):
                reply, why = ack, "fourth check: a SYN in a synchronized state gets a challenge ACK (RFC 5961 4.2)"
            elif kind in ("FIN", "no-flags"):
                reply, why = "none", "fifth check: with the ACK bit off the segment is dropped"
            elif kind == "ACK":
                reply, why = "none", "an acceptable ACK of nothing new needs no reply"
            elif kind == "FIN-ACK":
                if pos == "left" and only_fin_ack:
                    reply, why = "none", f"fifth check: in {state} a segment that does not ACK our FIN is ignored"
                elif pos == "left" and after_fin:
                    reply, why = f". {n}:{n}(0) ack {r+1}", "eighth check, read literally: RCV.NXT advances over the FIN, which is ACKed; CLOSE-WAIT remains"
                elif after_fin:
                    reply, why = "none", "after the peer's FIN a FIN beyond RCV.NXT is never processed, and nothing asks for an ACK"
                elif pos == "left":
                    reply, nxt, why = f". {n}:{n}(0) ack {r+1}", fin_next, f"eighth check: the FIN is ACKed, {state} goes to {fin_next}"
                else:
                    reply, why = ack, "a FIN beyond RCV.NXT waits for the data before it; the out-of-order segment is ACKed (MAY-13)"
            elif kind == "data":
                if after_fin:
                    reply, why = "none", "seventh check: text after the peer's FIN is ignored"
                elif pos == "left":
                    reply, why = f". {n}:{n}(0) ack {r+100}", "seventh check: in-order text is taken and ACKed (within 0.5 s, MUST-40)"
                else:
                    reply, why = ack, "out-of-order text is queued (SHLD-31) and ACKed at once (MAY-13)"
            rows.append((kind, pos, seg(kind, s, una, pos), reply, nxt, why))
    # ACK positions that matter (at RCV.NXT):
    if acked_fin_next:
        rows.append(("ACK", "ack-our-fin", f". {r}:{r}(0) ack {n} win 65535", "none", acked_fin_next,
                     f"fifth check: the ACK of our FIN takes {state} to {acked_fin_next}"))
    if after_fin:
        rows.append(("FIN-ACK", "retransmitted", f"F. {r-1}:{r-1}(0) ack {una} win 65535", ack, state,
                     "first check: the peer's FIN again is below the window: it is ACKed (the FIN's ACK was lost)"))
    rows.append(("ACK", "ack-unsent", f". {r}:{r}(0) ack {n+1000} win 65535", ack, state,
                 "fifth check: an ACK of data not yet sent is answered with an ACK and dropped"))
    rows.append(("ACK", "ack-too-old", f". {r}:{r}(0) ack {rel(una-70000)} win 65535", ack, state,
                 "fifth check: an ACK older than SND.UNA - MAX.SND.WND gets an ACK (RFC 5961 5.2)"))
    return rows

def q(s): return '"' + s.replace('"', '\\"') + '"'

def write(path, name, desc, header, pre, rows, tags=()):
    out = ["# Generated by suites/grid/generate.py (the 3.10.7 rules live there; edit them, not this).", f"name: {name}", "rfc: [" + "".join(t + ", " for t in tags) + "MAY-12, MAY-13, SHLD-31, MUST-40, \"9293 3.10.7.4\", \"5961 3.2\", \"5961 4.2\", \"5961 5.2\"]",
           "description: >"] + ["  " + l for l in desc.split("\n")] + header + ["matrix:"]
    for kind, pos, sg, reply, nxt, why in rows:
        out.append(f"  - {{kind: {kind}, pos: {pos}, _seg: {q(sg)}, _reply: {q(reply)}, _next: {nxt}, _why: {q(why)}}}")
    out.append("steps:")
    out += pre
    out += ["  - in: \"${_seg}\"", "    why: a ${kind} segment at sequence position ${pos}", "  - at: +0~0.5", "    out: \"${_reply}\"", "    why: \"${_why}\"", "  - state: conn ${_next}"]
    open(path, "w").write("\n".join(out) + "\n")

PASSIVE = ["  - call: socket() = 3", "  - call: bind(3, 8080) = 0", "  - call: listen(3, 1) = 0",
           "  - in:  S 0:0(0) win 65535 <mss 1460>", "  - out: S. 0:0(0) ack 1 <mss 1460>",
           "  - in:  . 1:1(0) ack 1 win 65535", "  - call: accept(3) = 4"]
ACTIVE = ["  - call: socket() = 3", "  - call: fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0",
          "  - call: connect(3, 192.0.2.1:8080) = -1 EINPROGRESS", "  - out: S 0:0(0) <mss 1460,...>",
          "  - in:  S. 0:0(0) ack 1 win 65535 <mss 1460>", "  - out: . 1:1(0) ack 1"]
DESC = """The state x segment grid for {st}: ten segment kinds at five sequence
positions relative to RCV.NXT (below the window, its left edge, inside, the
last octet of a 64240-octet window, beyond it), plus the ACK positions that
matter. Each row states the RFC 9293 3.10.7.4 outcome (with RFC 5961): the
reply, if any, within 0.5 s, and the next state. Linux's differences are in
expectations/linux.yaml."""
FW2 = PASSIVE + ["  - call: shutdown(4, SHUT_WR) = 0", "  - out: F. 1:1(0) ack 1", "  - in:  . 1:1(0) ack 2 win 65535",
                 "  - state: conn FIN_WAIT2"]
CW = PASSIVE + ["  - in:  F. 1:1(0) ack 1 win 65535", "  - {at: +0~0.5, out: \". 1:1(0) ack 2\"}", "  - state: conn CLOSE_WAIT"]
d = os.path.dirname(os.path.abspath(__file__)) + "/"
write(d + "fin-wait-2.yaml", "FIN-WAIT-2 x segment kind x sequence position",
      DESC.format(st="FIN-WAIT-2 (our FIN sent and ACKed)"), [], FW2, established_rows(1, 2, "FIN_WAIT2", fin_next="TIME_WAIT"), tags=["MAY-1"])
write(d + "close-wait.yaml", "CLOSE-WAIT x segment kind x sequence position",
      DESC.format(st="CLOSE-WAIT (the peer's FIN received)"), [], CW, established_rows(2, 1, "CLOSE_WAIT", after_fin=True))
write(d + "established-passive.yaml", "ESTABLISHED (reached from LISTEN) x segment kind x sequence position",
      DESC.format(st="ESTABLISHED reached by a passive open"), [], PASSIVE, established_rows(1, 1, "ESTABLISHED"))
write(d + "established-active.yaml", "ESTABLISHED (reached from SYN-SENT) x segment kind x sequence position",
      DESC.format(st="ESTABLISHED reached by an active open"), ["remote_port: 8080"], ACTIVE, established_rows(1, 1, "ESTABLISHED"))

# Our FIN outstanding: a 0.9 s handshake RTT makes the RTO 2.7 s on both targets
# (RFC 6298: SRTT + 4 RTTVAR), so no retransmission lands in a 0.5 s window.
SLOW = ["  - call: socket() = 3", "  - call: bind(3, 8080) = 0", "  - call: listen(3, 1) = 0",
        "  - in:  S 0:0(0) win 65535 <mss 1460>", "  - out: S. 0:0(0) ack 1 <mss 1460>",
        "  - {at: +0.9, in: \". 1:1(0) ack 1 win 65535\"}", "  - call: accept(3) = 4"]
FW1 = SLOW + ["  - call: shutdown(4, SHUT_WR) = 0", "  - out: F. 1:1(0) ack 1", "  - state: conn FIN_WAIT1"]
CLOSING = FW1 + ["  - in:  F. 1:1(0) ack 1 win 65535", "  - out: . 2:2(0) ack 2", "  - state: conn CLOSING"]
LA = SLOW + ["  - in:  F. 1:1(0) ack 1 win 65535", "  - {at: +0~0.5, out: \". 1:1(0) ack 2\"}",
             "  - call: close(4) = 0", "  - out: F. 1:1(0) ack 2", "  - state: conn LAST_ACK"]
TW = FW2 + ["  - in:  F. 1:1(0) ack 2 win 65535", "  - out: . 2:2(0) ack 2", "  - state: conn TIME_WAIT"]
write(d + "fin-wait-1.yaml", "FIN-WAIT-1 x segment kind x sequence position",
      DESC.format(st="FIN-WAIT-1 (our FIN sent, not yet ACKed; the segments carry ACK = SND.UNA)"), [], FW1,
      established_rows(1, 2, "FIN_WAIT1", fin_next="CLOSING", una=1, acked_fin_next="FIN_WAIT2"), tags=["MAY-1"])
write(d + "closing.yaml", "CLOSING x segment kind x sequence position",
      DESC.format(st="CLOSING (FINs crossed; ours not yet ACKed)"), [], CLOSING,
      established_rows(2, 2, "CLOSING", after_fin=True, una=1, acked_fin_next="TIME_WAIT", only_fin_ack=True))
write(d + "last-ack.yaml", "LAST-ACK x segment kind x sequence position",
      DESC.format(st="LAST-ACK (the peer's FIN received, ours sent, not yet ACKed)"), [], LA,
      established_rows(2, 2, "LAST_ACK", after_fin=True, una=1, acked_fin_next="CLOSED", only_fin_ack=True))
write(d + "time-wait.yaml", "TIME-WAIT x segment kind x sequence position",
      DESC.format(st="TIME-WAIT"), [], TW, established_rows(2, 2, "TIME_WAIT", after_fin=True, tw_syn=True), tags=["MAY-2"])

# ---- Non-synchronized states (3.10.7.1 to 3.10.7.3) ----
def write2(path, name, desc, header, pre, rows, check_default):
    out = ["# Generated by suites/grid/generate.py (the 3.10.7 rules live there; edit them, not this).", f"name: {name}", "rfc: [MUST-10, MUST-11, \"9293 3.10.7.1\", \"9293 3.10.7.2\", \"9293 3.10.7.3\", \"9293 3.10.7.4\", \"5961 3.2\", \"5961 4.2\"]",
           "description: >"] + ["  " + l for l in desc.split("\n")] + header + ["matrix:"]
    for kind, pos, sg, reply, check, why in rows:
        out.append(f"  - {{kind: {kind}, pos: {pos}, _seg: {q(sg)}, _reply: {q(reply)}, _check: {q(check)}, _why: {q(why)}}}")
    out.append("steps:")
    out += pre
    out += ["  - in: \"${_seg}\"", "    why: a ${kind} segment, ${pos}", "  - at: +0~0.5",
            "    out: \"${_reply}\"", "    why: \"${_why}\"", "  - state: ${_check}"]
    open(path, "w").write("\n".join(out) + "\n")

DESC2 = """The state x segment grid for {st}: the ten segment kinds (and, where the
ACK field decides, an acceptable and an unacceptable ACK). Each row states
the RFC 9293 outcome ({clause}): the reply, if any, within 0.5 s, and the
state after it. Linux's differences are in expectations/linux.yaml."""

KINDS = ["SYN", "SYN-ACK", "ACK", "RST", "RST-ACK", "FIN", "FIN-ACK", "data", "SYN-FIN", "no-flags"]
HAS_ACK = {"SYN-ACK", "ACK", "RST-ACK", "FIN-ACK", "data"}
def seg2(kind, s, a):
    return seg(kind, s, a, "left")

# CLOSED: no socket on the port (3.10.7.1).
rows = []
S0 = 1000
for kind in KINDS:
    a = 5000
    sg = seg2(kind, S0, a)
    if kind in ("RST", "RST-ACK"):
        rows.append((kind, "closed-port", sg, "none", "conn CLOSED", "an incoming RST to a closed port is discarded"))
    elif kind in HAS_ACK:
        rows.append((kind, "closed-port", sg, f"R {a}:{a}(0)", "conn CLOSED", "ACK bit on: <SEQ=SEG.ACK><CTL=RST>"))
    else:
        ln = {"SYN": 1, "FIN": 1, "SYN-FIN": 2, "no-flags": 0}[kind]
        rows.append((kind, "closed-port", sg, f"R. 0:0(0) ack {S0+ln}", "conn CLOSED", "ACK bit off: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>"))
write2(d + "closed.yaml", "CLOSED (no socket) x segment kind", DESC2.format(st="CLOSED (no socket on the port)", clause="3.10.7.1"),
       [], ["  - call: socket() = 3"], rows, None)

# LISTEN (3.10.7.2).
rows = []
for kind in KINDS:
    a = 5000
    sg = seg2(kind, 0, a)
    lst = "{fd: 3, is: LISTEN}"
    if kind in ("RST", "RST-ACK"):
        rows.append((kind, "listen", sg, "none", lst, "first check: an incoming RST is ignored"))
    elif kind in HAS_ACK:
        rows.append((kind, "listen", sg, f"R {a}:{a}(0)", lst, "second check: any ACK is bad in LISTEN: <SEQ=SEG.ACK><CTL=RST>"))
    elif kind in ("SYN", "SYN-FIN"):
        rows.append((kind, "listen", sg, "S. 0:0(0) ack 1 <mss 1460>", "conn SYN_RECEIVED",
                     "third check: a SYN starts a connection in SYN-RECEIVED, answered <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>; other control is queued"))
    else:
        rows.append((kind, "listen", sg, "none", lst, "fourth: other text or control without SYN, ACK or RST is dropped"))
LISTEN = ["  - call: socket() = 3", "  - call: bind(3, 8080) = 0", "  - call: listen(3, 1) = 0"]
write2(d + "listen.yaml", "LISTEN x segment kind", DESC2.format(st="LISTEN", clause="3.10.7.2"), [], LISTEN, rows, None)

# SYN-SENT (3.10.7.3): ISS = 0, SND.NXT = 1.
rows = []
for kind in KINDS:
    acks = [("ack-ok", 1), ("ack-iss", 0), ("ack-unsent", 1000)] if kind in HAS_ACK else [("no-ack", None)]
    for pos, a in acks:
        sg = seg2(kind, 0, a)
        good = a == 1
        if kind in HAS_ACK and not good:
            if kind == "RST-ACK":
                rows.append((kind, pos, sg, "none", "conn SYN_SENT", "first check: an unacceptable ACK on a RST: drop"))
            else:
                rows.append((kind, pos, sg, f"R {a}:{a}(0)", "conn SYN_SENT", "first check: SEG.ACK =< ISS or > SND.NXT: <SEQ=SEG.ACK><CTL=RST>"))
        elif kind == "RST":
            rows.append((kind, pos, sg, "none", "conn SYN_SENT", "second check: a RST without an acceptable ACK is dropped"))
        elif kind == "RST-ACK":
            rows.append((kind, pos, sg, "none", "conn CLOSED", "second check: a RST with an acceptable ACK: connection reset"))
        elif kind == "SYN-ACK":
            rows.append((kind, pos, sg, ". 1:1(0) ack 1", "conn ESTABLISHED", "fourth check: our SYN ACKed: ESTABLISHED, <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>"))
        elif kind in ("SYN", "SYN-FIN"):
            rows.append((kind, pos, sg, "S. 0:0(0) ack 1 <mss 1460,...>", "conn SYN_RECEIVED",
                         "fourth check: a SYN without ACK: simultaneous open, SYN-RECEIVED, <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK> (MUST-10)"))
        else:
            rows.append((kind, pos, sg, "none", "conn SYN_SENT", "fifth: neither SYN nor RST: drop"))
SYNSENT = ["  - call: socket() = 3", "  - call: fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0",
           "  - call: connect(3, 192.0.2.1:8080) = -1 EINPROGRESS", "  - out: S 0:0(0) <mss 1460,...>"]
write2(d + "syn-sent.yaml", "SYN-SENT x segment kind x ACK position", DESC2.format(st="SYN-SENT", clause="3.10.7.3"),
       ["remote_port: 8080"], SYNSENT, rows, None)

# SYN-RECEIVED (3.10.7.4, "Otherwise"): RCV.NXT = 1, ISS = 0, SND.NXT = 1, SND.UNA = 0.
def synrcvd_rows(passive):
    r, n = 1, 1
    ack = f". {n}:{n}(0) ack {r}"
    gone = "conn CLOSED"  # the embryonic connection is gone (the listener stays)
    rows = []
    for kind in KINDS:
        for pos in POS:
            s = seqs(r)[pos]
            acceptable = pos in ("left", "inside", "right")
            sg = seg(kind, s, 1, pos)
            chk = "conn SYN_RECEIVED"
            if kind in ("RST", "RST-ACK"):
                if not acceptable:
                    rows.append((kind, pos, sg, "none", chk, "first check: an unacceptable RST is dropped silently"))
                elif pos == "left":
                    rows.append((kind, pos, sg, "none", gone,
                                 "second check: a RST at RCV.NXT: " + ("back to LISTEN (passive OPEN)" if passive else "connection refused (active OPEN)")))
                else:
                    rows.append((kind, pos, sg, ack, chk, "second check: a RST in the window not at RCV.NXT gets a challenge ACK (RFC 5961 3.2)"))
            elif not acceptable:
                rows.append((kind, pos, sg, ack, chk, "first check: an unacceptable segment is answered with an ACK and dropped"))
            elif kind in ("SYN", "SYN-ACK", "SYN-FIN"):
                if passive:
                    rows.append((kind, pos, sg, "none", gone, "fourth check: a SYN in SYN-RECEIVED from a passive OPEN returns the connection to LISTEN"))
                else:
                    rows.append((kind, pos, sg, ack, chk, "fourth check: a SYN in SYN-RECEIVED from an active OPEN gets a challenge ACK (RFC 5961 4.2)"))
            elif kind in ("FIN", "no-flags"):
                rows.append((kind, pos, sg, "none", chk, "fifth check: with the ACK bit off the segment is dropped"))
            elif kind == "ACK":
                rows.append((kind, pos, sg, "none", "conn ESTABLISHED", "fifth check: SND.UNA < SEG.ACK =< SND.NXT: ESTABLISHED"))
            elif kind == "FIN-ACK":
                if pos == "left":
                    rows.append((kind, pos, sg, ". 1:1(0) ack 2", "conn CLOSE_WAIT", "fifth check: ESTABLISHED; eighth: the FIN is ACKed, CLOSE-WAIT"))
                else:
                    rows.append((kind, pos, sg, ack, "conn ESTABLISHED", "fifth check: ESTABLISHED; the FIN beyond RCV.NXT is held and ACKed (MAY-13)"))
            elif kind == "data":
                if pos == "left":
                    rows.append((kind, pos, sg, ". 1:1(0) ack 101", "conn ESTABLISHED", "fifth check: ESTABLISHED; seventh: the text is taken and ACKed"))
                else:
                    rows.append((kind, pos, sg, ack, "conn ESTABLISHED", "fifth check: ESTABLISHED; out-of-order text is queued and ACKed at once (MAY-13)"))
    rows.append(("ACK", "ack-una", ". 1:1(0) ack 0 win 65535", "R 0:0(0)", "conn SYN_RECEIVED",
                 "fifth check: SEG.ACK =< SND.UNA is not acceptable: <SEQ=SEG.ACK><CTL=RST>"))
    rows.append(("ACK", "ack-unsent", ". 1:1(0) ack 1000 win 65535", "R 1000:1000(0)", "conn SYN_RECEIVED",
                 "fifth check: SEG.ACK > SND.NXT is not acceptable: <SEQ=SEG.ACK><CTL=RST>"))
    return rows

SR_P = LISTEN + ["  - in:  S 0:0(0) win 65535 <mss 1460>", "  - out: S. 0:0(0) ack 1 <mss 1460>"]
SR_A = SYNSENT + ["  - in:  S 0:0(0) win 65535 <mss 1460>", "  - out: S. 0:0(0) ack 1 <mss 1460,...>"]
write2(d + "syn-received-passive.yaml", "SYN-RECEIVED (from LISTEN) x segment kind x sequence position",
       DESC2.format(st="SYN-RECEIVED reached from LISTEN (RCV.NXT 1, our SYN not yet ACKed)", clause="3.10.7.4"),
       [], SR_P, synrcvd_rows(True), None)
write2(d + "syn-received-active.yaml", "SYN-RECEIVED (from SYN-SENT) x segment kind x sequence position",
       DESC2.format(st="SYN-RECEIVED reached from SYN-SENT, by simultaneous open", clause="3.10.7.4"),
       ["remote_port: 8080"], SR_A, synrcvd_rows(False), None)
