//! `harness`: the command line. A thin layer over the `harness` library.
//!
//! Exit codes (README): 0 success; 1 the run found a failure; 2 bad usage.

use clap::{Parser, Subcommand};
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Loopback { bytes, loss, delay_ms, seed, profile, events } => {
            let Some(profile) = Profile::by_name(&profile) else {
                eprintln!("error: unknown profile {profile:?} (known: rfc9293)");
                return ExitCode::from(2);
            };
            if !(0.0..100.0).contains(&loss) {
                eprintln!("error: --loss {loss} is not a percentage in [0, 100)");
                return ExitCode::from(2);
            }
            let cfg = LoopbackConfig {
                bytes,
                loss_ppm: (loss * 10_000.0).round() as u32,
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
    }
}
