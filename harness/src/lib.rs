//! The harness library. The `harness` binary is a thin command line over it.
//!
//! - [`loopback`]: two reference stacks over a simulated link, in virtual time.
//! - [`netns`], [`tun`], [`tunpeer`]: private network namespaces, TUN devices,
//!   and the reference stack running on one in real time.
//! - [`interop`]: the reference stack against the Linux kernel over TUN.

pub mod interop;
pub mod loopback;
pub mod netns;
pub mod script;
pub mod tun;
pub mod tunpeer;
