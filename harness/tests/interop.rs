//! The reference stack against the running kernel over TUN, in private
//! network namespaces. Needs root (CI runs as root). Without root these tests
//! fail with a clear message; set HARNESS_SKIP_PRIVILEGED=1 to skip them
//! knowingly (they then print that they were skipped).

use harness::interop::{self, CloseOrder, InteropConfig};
use reference_stack::{Domain, Duration as VDuration, Instant, Profile, Stack, StackConfig};
use std::time::Duration;

mod common;
use common::privileged;

fn check(cfg: InteropConfig) -> interop::InteropReport {
    let r = interop::run(&cfg).unwrap_or_else(|e| panic!("{cfg:?}: {e}"));
    eprintln!(
        "{:?} loss {} ppm ipv6 {}: {:.3} s, {:.1} Mbit/s, dropped {}/{}, retransmitted: stack {} kernel {}, final: kernel {} stack {}",
        cfg.close,
        cfg.loss_ppm,
        cfg.ipv6,
        r.transfer.as_secs_f64(),
        r.throughput_mbit(),
        r.tun.dropped_to_stack,
        r.tun.dropped_to_kernel,
        r.stack_retransmits,
        r.kernel_retransmits,
        r.kernel_final,
        r.stack_final
    );
    assert_eq!(r.checksum_at_kernel, r.checksum_sent, "kernel received different data");
    assert_eq!(r.checksum_at_stack, r.checksum_sent, "reference stack received different data");
    assert!(r.ok(cfg.close), "final states: kernel {}, stack {}", r.kernel_final, r.stack_final);
    r
}

#[test]
fn kernel_closes_first_4mib_each_way() {
    if privileged() {
        check(InteropConfig { close: CloseOrder::KernelFirst, ..InteropConfig::default() });
    }
}

#[test]
fn stack_closes_first_4mib_each_way() {
    if privileged() {
        check(InteropConfig { close: CloseOrder::StackFirst, ..InteropConfig::default() });
    }
}

#[test]
fn one_percent_loss_both_close_orders() {
    if privileged() {
        for close in [CloseOrder::KernelFirst, CloseOrder::StackFirst] {
            let r = check(InteropConfig { close, loss_ppm: 10_000, seed: 3, ..InteropConfig::default() });
            assert!(r.tun.dropped_to_stack + r.tun.dropped_to_kernel > 0);
            assert!(r.stack_retransmits > 0 && r.kernel_retransmits > 0, "retransmission was exercised");
        }
    }
}

#[test]
fn ipv6_and_linux_profile() {
    if privileged() {
        check(InteropConfig { ipv6: true, bytes: 1 << 20, ..InteropConfig::default() });
        check(InteropConfig {
            profile: Profile::linux(),
            loss_ppm: 10_000,
            bytes: 1 << 20,
            ..InteropConfig::default()
        });
    }
}

/// The linux profile's SYN schedule, differentially: the kernel, measured
/// over TUN, against the reference stack in virtual time.
#[test]
fn linux_profile_syn_schedule_matches_the_kernel() {
    if !privileged() {
        return;
    }
    let kernel = interop::kernel_syn_schedule(Duration::from_secs(70)).unwrap();
    let mut stack =
        Stack::new(StackConfig { addrs: vec!["192.0.2.1".parse().unwrap()], profile: Profile::linux(), seed: 1 });
    let fd = stack.socket(Instant::ZERO, Domain::Inet).unwrap();
    let _ = stack.connect(Instant::ZERO, fd, "198.51.100.1:9".parse().unwrap());
    let mut model = Vec::new();
    let mut now = Instant::ZERO;
    loop {
        while stack.poll_transmit(now).is_some() {
            model.push(now - Instant::ZERO);
        }
        match stack.poll_timeout() {
            Some(t) if t <= Instant::ZERO + VDuration::from_secs(70) => now = t,
            _ => break,
        }
    }
    let k: Vec<f64> = kernel.iter().map(|d| d.as_secs_f64()).collect();
    let m: Vec<f64> = model.iter().map(|d| d.total_micros() as f64 / 1e6).collect();
    eprintln!("kernel SYNs at {k:?}");
    eprintln!("model  SYNs at {m:?}");
    assert_eq!(k.len(), m.len(), "kernel {k:?} vs model {m:?}");
    // Compare the gaps between SYNs. The kernel's timer wheel rounds a timer up
    // to its level's granularity (at most 1/8 of the timeout, plus a jiffy), so
    // a kernel gap may run late by that much but never early.
    for i in 1..k.len() {
        let (kg, mg) = (k[i] - k[i - 1], m[i] - m[i - 1]);
        assert!(
            kg >= mg - 0.010 && kg <= mg * 1.125 + 0.040,
            "gap {i}: kernel {kg:.3} s, model {mg:.3} s\nkernel {k:?}\nmodel {m:?}"
        );
    }
}
