//! `harness loopback` (two reference stacks over a simulated link) and
//! `harness interop` (the reference stack against the kernel over TUN).

use super::common::{loss, Error, ProfileArg, Verdict};
use crate::interop::{self, CloseOrder, InteropConfig};
use crate::loopback::{self, LoopbackConfig};
use reference_stack::{Duration, EventKind};

#[derive(clap::Args)]
pub(super) struct LoopbackArgs {
    /// Octets to send each way.
    #[arg(long, default_value_t = 1 << 20)]
    bytes: usize,
    /// Percentage of datagrams the link drops (seeded, repeatable).
    #[arg(long, default_value = "0", value_parser = loss)]
    loss: u32,
    /// One-way link delay in milliseconds.
    #[arg(long, default_value_t = 5)]
    delay_ms: u64,
    /// Seed for the stacks and the link.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Reference-stack profile.
    #[arg(long, value_enum, default_value = "rfc9293")]
    profile: ProfileArg,
    /// Print every state transition.
    #[arg(long)]
    events: bool,
}

#[derive(clap::Args)]
pub(super) struct InteropArgs {
    /// Octets to send each way.
    #[arg(long, default_value_t = 4 << 20)]
    bytes: usize,
    /// Who closes first.
    #[arg(long, value_enum, default_value = "kernel")]
    close: CloseOrder,
    /// Percentage of datagrams dropped at the TUN boundary (seeded).
    #[arg(long, default_value = "0", value_parser = loss)]
    loss: u32,
    /// Reference-stack profile.
    #[arg(long, value_enum, default_value = "rfc9293")]
    profile: ProfileArg,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Use IPv6 (2001:db8::/32) instead of IPv4.
    #[arg(long)]
    ipv6: bool,
}

/// A loss in parts per million, as a percentage for people.
fn percent(ppm: u32) -> f64 {
    f64::from(ppm) / 10_000.0
}

pub(super) fn loopback(a: LoopbackArgs) -> Result<Verdict, Error> {
    let cfg = LoopbackConfig {
        bytes: a.bytes,
        loss_ppm: a.loss,
        delay: Duration::from_millis(a.delay_ms),
        seed: a.seed,
        profile: a.profile.profile(),
        ..LoopbackConfig::default()
    };
    let r = loopback::run(&cfg).map_err(|e| Error::Failed(format!("loopback run failed: {e}")))?;
    if a.events {
        for e in r.events.iter().filter(|e| matches!(e.kind, EventKind::Transition { .. })) {
            println!("{e}");
        }
    }
    let secs = r.transfer_done.total_micros() as f64 / 1e6;
    println!(
        "loopback: {} octets each way over a {} ms link, {}% loss, seed {}",
        r.bytes_each_way,
        a.delay_ms,
        percent(a.loss),
        a.seed
    );
    println!(
        "  transfer done at {} virtual ({:.1} Mbit/s each way), both CLOSED at {} after TIME-WAIT",
        r.transfer_done,
        if secs > 0.0 { r.bytes_each_way as f64 * 8.0 / secs / 1e6 } else { 0.0 },
        r.all_closed
    );
    println!(
        "  {} datagrams, {} dropped by the link, {} segments retransmitted",
        r.datagrams, r.dropped, r.retransmits
    );
    println!(
        "  checksums: sent {:016x}, client got {:016x}, server got {:016x}: {}",
        r.checksum_sent,
        r.checksum_at_client,
        r.checksum_at_server,
        if r.ok() { "match" } else { "MISMATCH" }
    );
    println!("  wall time {:.3} s", r.wall.as_secs_f64());
    Ok(if r.ok() { Verdict::Passed } else { Verdict::Failed })
}

pub(super) fn interop(a: InteropArgs) -> Result<Verdict, Error> {
    let cfg = InteropConfig {
        bytes: a.bytes,
        close: a.close,
        loss_ppm: a.loss,
        profile: a.profile.profile(),
        seed: a.seed,
        ipv6: a.ipv6,
        ..InteropConfig::default()
    };
    let r = interop::run(&cfg).map_err(|e| Error::Environment(format!("interop run failed: {e}")))?;
    println!(
        "interop: {} octets each way, IPv{}, {:?}, {}% loss at the TUN boundary",
        r.bytes,
        if a.ipv6 { 6 } else { 4 },
        a.close,
        percent(a.loss)
    );
    println!(
        "  transfer {:.3} s wall, {:.1} Mbit/s both directions together",
        r.transfer.as_secs_f64(),
        r.throughput_mbit()
    );
    println!(
        "  datagrams: {} to the stack, {} to the kernel; dropped {} / {}",
        r.tun.to_stack, r.tun.to_kernel, r.tun.dropped_to_stack, r.tun.dropped_to_kernel
    );
    println!("  retransmitted segments: reference stack {}, kernel {}", r.stack_retransmits, r.kernel_retransmits);
    println!("  final states: kernel {}, reference stack {}", r.kernel_final, r.stack_final);
    let ok = r.ok(a.close);
    println!(
        "  checksums: sent {:016x}, kernel got {:016x}, stack got {:016x}: {}",
        r.checksum_sent,
        r.checksum_at_kernel,
        r.checksum_at_stack,
        if ok { "ok" } else { "FAILED" }
    );
    Ok(if ok { Verdict::Passed } else { Verdict::Failed })
}
