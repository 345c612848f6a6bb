//! The harness library. The `harness` binary is a thin command line over it.
//!
//! - [`loopback`]: two reference stacks over a simulated link, in virtual time.
//! - [`netns`], [`tun`], [`tunpeer`]: private network namespaces, TUN devices,
//!   and the reference stack running on one in real time.
//! - [`interop`]: the reference stack against the Linux kernel over TUN.
//! - [`script`]: the script language; [`engine`]: running a script on a
//!   target; [`runner`]: finding and running many; [`report`]: the reports;
//!   [`suite`]: a suite's requirement catalogue and ledgers of known deviations;
//!   [`coverage`]: requirement IDs -> scripts -> verdicts; [`pictures`]: the
//!   ladder diagrams, state diagrams and heat maps of the HTML reports.
//! - [`import`]: packetdrill scripts -> the YAML language.

pub mod cli;
pub mod coverage;
pub mod engine;
pub mod filter;
pub mod fuzz;
pub mod grid;
pub mod import;
pub mod interop;
pub mod loopback;
pub mod os;
pub mod pictures;
pub mod report;
pub mod runner;
pub mod script;
pub mod suite;
pub mod target;
