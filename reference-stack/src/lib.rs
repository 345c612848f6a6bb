//! A sans-IO RFC 9293 TCP with a virtual clock: the harness's reference target.
//!
//! - [`wire`]: IPv4, IPv6 and TCP headers and options (parse and emit).
//! - [`tcb`]: one connection's state machine (RFC 9293 3.10).
//! - [`stack`]: sockets, listeners, demultiplexing and the call surface.
//! - [`profile`]: every tunable number, as data, with its source.
//! - [`event`]: the log of transitions and dropped segments.
//!
//! The stack does no I/O and reads no clock. Datagrams go in through
//! [`Stack::handle_packet`] and come out of [`Stack::poll_transmit`]; every
//! entry point takes `now`, and [`Stack::poll_timeout`] says when to call back.

pub mod assembler;
pub mod errno;
pub mod event;
pub mod oracle;
pub mod profile;
pub mod rng;
pub mod seq;
pub mod sorted_map;
pub mod stack;
pub mod state;
pub mod tcb;
pub mod time;
pub mod wire;

pub use errno::Errno;
pub use event::{Event, EventKind, FourTuple, TimerKind};
pub use profile::Profile;
pub use seq::SeqNumber;
pub use stack::{Domain, Fd, PollEvents, Shutdown, SockOpt, SockOptName, Stack, StackConfig, StackStats};
pub use state::State;
pub use tcb::{ConnView, LiveView, TcbStatus, Timers};
pub use time::{Duration, Instant};
