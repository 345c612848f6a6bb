//! The harness library. The `harness` binary is a thin command line over it.
//!
//! Today it holds [`loopback`]: two reference stacks joined by a simulated
//! link in virtual time. The script engine, the Linux target and the fuzzer
//! arrive as their own modules (see the project README).

pub mod loopback;
