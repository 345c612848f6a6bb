//! What each target can do, known before a script runs: a script that needs
//! more (a Linux-only call, a socket option the stack has not, a TCP_INFO
//! field it does not report, a shell command) is skipped with the reason,
//! not run into an error.

use crate::script::call::{Call, OptName};
use crate::script::{Script, StepKind, TargetKind};

/// A target's abilities.
pub struct Capabilities {
    /// Linux-only calls ([`Call::linux_only`]), `shell:` and `sysctl:` steps.
    pub linux: bool,
    /// `in: icmp ...` steps: ICMP errors delivered to TCP.
    pub icmp_input: bool,
    /// The TCP_INFO fields it reports (`None`: every field the language has).
    pub tcp_info: Option<&'static [&'static str]>,
    /// Why it cannot make a call every stack has, if it cannot.
    pub lacks: fn(&Call) -> Option<&'static str>,
}

/// The TCP_INFO fields the reference target reports.
pub const REFERENCE_TCP_INFO: &[&str] = &[
    "state",
    "retransmits",
    "backoff",
    "snd_wscale",
    "rcv_wscale",
    "rto",
    "snd_mss",
    "rcv_mss",
    "unacked",
    "rtt",
    "rttvar",
    "snd_ssthresh",
    "snd_cwnd",
    "advmss",
    "total_retrans",
    "snd_wnd",
];

/// Send and receive forms only Linux has.
fn linux_forms(c: &Call) -> Option<&'static str> {
    match c {
        Call::Write { flags, to, .. } if *flags != 0 || *to => {
            Some("send flags (MSG_EOR, MSG_FASTOPEN, ...) and sendto are Linux's")
        }
        Call::RecvMsg { flags, .. } if *flags != 0 => Some("recvmsg flags (MSG_ERRQUEUE, ...) are Linux's"),
        Call::Read { flags, .. } if *flags != 0 => {
            Some("recv flags (MSG_DONTWAIT, MSG_WAITALL, MSG_TRUNC) are Linux's")
        }
        _ => None,
    }
}

fn reference_lacks(c: &Call) -> Option<&'static str> {
    linux_forms(c)
}

fn smoltcp_lacks(c: &Call) -> Option<&'static str> {
    match c {
        Call::Write { oob: true, .. } => Some("urgent data (MSG_OOB): smoltcp has none"),
        Call::SetCongestion { .. } => Some("TCP_CONGESTION: smoltcp chooses its congestion control at build time"),
        Call::SetSockOpt { opt, .. } | Call::GetSockOpt { opt, .. } => match opt {
            OptName::KeepIntvl => Some("TCP_KEEPINTVL: smoltcp has one keep-alive interval"),
            OptName::KeepCnt => Some("TCP_KEEPCNT: smoltcp gives up by its timeout, not a probe count"),
            OptName::MaxSeg => Some("TCP_MAXSEG: smoltcp takes its MSS from the device's MTU"),
            _ => None,
        },
        other => linux_forms(other),
    }
}

fn lwip_lacks(c: &Call) -> Option<&'static str> {
    match c {
        Call::Write { oob: true, .. } => Some("urgent data (MSG_OOB): lwIP sends none"),
        Call::SetCongestion { .. } => Some("TCP_CONGESTION: lwIP has one congestion control"),
        Call::SetSockOpt { opt, .. } | Call::GetSockOpt { opt, .. } => match opt {
            OptName::MaxSeg => Some("TCP_MAXSEG: lwIP's sockets have no such option"),
            OptName::UserTimeout => Some("TCP_USER_TIMEOUT: lwIP's sockets have no such option"),
            OptName::SndBuf => Some("SO_SNDBUF: lwIP's send buffer is TCP_SND_BUF, fixed at build time"),
            OptName::RcvBuf => {
                Some("SO_RCVBUF: lwIP's receive window is TCP_WND, fixed at build time (its SO_RCVBUF bounds a socket's queue, not the window)")
            }
            _ => None,
        },
        other => linux_forms(other),
    }
}

fn nothing(_: &Call) -> Option<&'static str> {
    None
}

impl TargetKind {
    pub fn capabilities(self) -> Capabilities {
        match self {
            TargetKind::Linux => Capabilities { linux: true, icmp_input: true, tcp_info: None, lacks: nothing },
            TargetKind::Reference => Capabilities {
                linux: false,
                icmp_input: false,
                tcp_info: Some(REFERENCE_TCP_INFO),
                lacks: reference_lacks,
            },
            TargetKind::Smoltcp => {
                Capabilities { linux: false, icmp_input: false, tcp_info: Some(&["state"]), lacks: smoltcp_lacks }
            }
            TargetKind::Dut => {
                Capabilities { linux: false, icmp_input: false, tcp_info: Some(&["state"]), lacks: linux_forms }
            }
            TargetKind::Lwip => {
                Capabilities { linux: false, icmp_input: false, tcp_info: Some(&["state"]), lacks: lwip_lacks }
            }
        }
    }
}

/// Why `kind` cannot run `script` (its first step the target cannot do, with
/// its line), if it cannot. Steps for another target (`only:`) do not count.
pub fn refusal(kind: TargetKind, script: &Script) -> Option<String> {
    let c = kind.capabilities();
    if let (Some(mtu), false) = (script.mtu, c.linux) {
        return Some(format!("`mtu: {mtu}` sets the Linux target's device MTU; {kind} has no such device"));
    }
    if let (Some(r), false) = (&script.route, c.linux) {
        return Some(format!("`route: {r}` sets the Linux target's route metrics; {kind} has no routes"));
    }
    for st in script.steps.iter().filter(|s| s.only.is_none_or(|o| o == kind)) {
        let why: Option<String> = match &st.kind {
            StepKind::Call(spec) => spec
                .call
                .linux_only()
                .filter(|_| !c.linux)
                .or_else(|| (c.lacks)(&spec.call))
                .map(|w| format!("`{}`: {w}", call_name(&st.text))),
            StepKind::Shell(_) if !c.linux => Some("a `shell:` step runs on a host; this target is not one".into()),
            StepKind::Sysctl(_) if !c.linux => Some("a `sysctl:` step sets the kernel's; this target has none".into()),
            StepKind::Counters(_) if !c.linux && kind != TargetKind::Reference => {
                Some("a `counters:` step reads a stack's SNMP counters; this target counts none".into())
            }
            StepKind::Qdisc(_) | StepKind::Route(_) | StepKind::TcpMetricsFlush if !c.linux => Some(
                "a `qdisc:`, `route:` or `tcp_metrics:` step acts on a kernel's network; this target has none".into(),
            ),
            StepKind::Icmp(_) if !c.icmp_input => Some(format!("ICMP errors: {kind} takes none for TCP")),
            StepKind::TcpInfo { fields, .. } => c.tcp_info.and_then(|known| {
                fields
                    .iter()
                    .find(|(f, _)| !known.contains(&f.as_str()))
                    .map(|(f, _)| format!("TCP_INFO field `tcpi_{f}`: {kind} does not report it"))
            }),
            _ => None,
        };
        if let Some(w) = why {
            return Some(format!("line {}: {w}", st.pos.line));
        }
    }
    None
}

/// The call's name, from the step's text (`call: listen(3, 1) = 0`).
fn call_name(step_text: &str) -> String {
    let t =
        step_text.split("call:").nth(1).unwrap_or(step_text).trim().trim_matches(|c| c == '"' || c == '\'' || c == '{');
    t.split('(').next().unwrap_or(t).trim().to_string()
}
