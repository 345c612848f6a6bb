//! `harness`: the command line. A thin layer over the `harness` library.
//!
//! Exit codes (README): 0 success; 1 the run found a failure; 2 bad usage.

use clap::{Parser, Subcommand};
use harness::interop::{self, CloseOrder, InteropConfig};
use harness::loopback::{self, LoopbackConfig};
use reference_stack::{Duration, EventKind, Profile};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "harness", version, about = "TCP conformance and fuzz-testing harness", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Two reference stacks over a simulated link in virtual time: connect,
    /// transfer each way, close, wait out TIME-WAIT; print what happened.
    Loopback {
        /// Octets to send each way.
        #[arg(long, default_value_t = 1 << 20)]
        bytes: usize,
        /// Percentage of datagrams the link drops (seeded, repeatable).
        #[arg(long, default_value_t = 0.0)]
        loss: f64,
        /// One-way link delay in milliseconds.
        #[arg(long, default_value_t = 5)]
        delay_ms: u64,
        /// Seed for the stacks and the link.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Reference-stack profile.
        #[arg(long, default_value = "rfc9293")]
        profile: String,
        /// Print every state transition.
        #[arg(long)]
        events: bool,
    },
    /// The reference stack against the Linux kernel over TUN, inside a
    /// private network namespace (needs root): both directions at once,
    /// checksums at each end, final states checked.
    Interop {
        /// Octets to send each way.
        #[arg(long, default_value_t = 4 << 20)]
        bytes: usize,
        /// Who closes first: `kernel` or `stack`.
        #[arg(long, default_value = "kernel")]
        close: String,
        /// Percentage of datagrams dropped at the TUN boundary (seeded).
        #[arg(long, default_value_t = 0.0)]
        loss: f64,
        /// Reference-stack profile.
        #[arg(long, default_value = "rfc9293")]
        profile: String,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Use IPv6 (2001:db8::/32) instead of IPv4.
        #[arg(long)]
        ipv6: bool,
    },
}

fn profile_arg(name: &str) -> Result<Profile, ExitCode> {
    Profile::by_name(name).ok_or_else(|| {
        eprintln!("error: unknown profile {name:?} (known: {})", Profile::NAMES.join(", "));
        ExitCode::from(2)
    })
}

fn loss_arg(loss: f64) -> Result<u32, ExitCode> {
    if !(0.0..100.0).contains(&loss) {
        eprintln!("error: --loss {loss} is not a percentage in [0, 100)");
        return Err(ExitCode::from(2));
    }
    Ok((loss * 10_000.0).round() as u32)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Loopback { bytes, loss, delay_ms, seed, profile, events } => {
            let profile = match profile_arg(&profile) {
                Ok(p) => p,
                Err(code) => return code,
            };
            let loss_ppm = match loss_arg(loss) {
                Ok(l) => l,
                Err(code) => return code,
            };
            let cfg = LoopbackConfig {
                bytes,
                loss_ppm,
                delay: Duration::from_millis(delay_ms),
                seed,
                profile,
                ..LoopbackConfig::default()
            };
            match loopback::run(&cfg) {
                Ok(r) => {
                    if events {
                        for e in r.events.iter().filter(|e| matches!(e.kind, EventKind::Transition { .. })) {
                            println!("{e}");
                        }
                    }
                    let secs = r.transfer_done.total_micros() as f64 / 1e6;
                    println!(
                        "loopback: {} octets each way over a {delay_ms} ms link, {loss}% loss, seed {seed}",
                        r.bytes_each_way
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
                    if r.ok() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
                    }
                }
                Err(e) => {
                    eprintln!("error: loopback run failed: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Interop { bytes, close, loss, profile, seed, ipv6 } => {
            let profile = match profile_arg(&profile) {
                Ok(p) => p,
                Err(code) => return code,
            };
            let loss_ppm = match loss_arg(loss) {
                Ok(l) => l,
                Err(code) => return code,
            };
            let close = match close.as_str() {
                "kernel" => CloseOrder::KernelFirst,
                "stack" => CloseOrder::StackFirst,
                other => {
                    eprintln!("error: --close {other:?}: use `kernel` or `stack`");
                    return ExitCode::from(2);
                }
            };
            let cfg = InteropConfig { bytes, close, loss_ppm, profile, seed, ipv6, ..InteropConfig::default() };
            match interop::run(&cfg) {
                Ok(r) => {
                    println!(
                        "interop: {} octets each way, IPv{}, {close:?}, {loss}% loss at the TUN boundary",
                        r.bytes,
                        if ipv6 { 6 } else { 4 }
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
                    println!(
                        "  retransmitted segments: reference stack {}, kernel {}",
                        r.stack_retransmits, r.kernel_retransmits
                    );
                    println!("  final states: kernel {}, reference stack {}", r.kernel_final, r.stack_final);
                    let ok = r.ok(close);
                    println!(
                        "  checksums: sent {:016x}, kernel got {:016x}, stack got {:016x}: {}",
                        r.checksum_sent,
                        r.checksum_at_kernel,
                        r.checksum_at_stack,
                        if ok { "ok" } else { "FAILED" }
                    );
                    if ok {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
                    }
                }
                Err(e) => {
                    eprintln!("error: interop run failed: {e}");
                    ExitCode::from(3)
                }
            }
        }
    }
}
