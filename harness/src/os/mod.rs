//! The operating system's plumbing, under one roof: private network
//! namespaces, netlink, TUN devices, the transports that carry segments to a
//! kernel, and the raw system calls the rest of the harness needs.

pub mod files;
pub mod netlink;
pub mod netns;
pub mod sys;
pub mod tcp_states;
pub mod transport;
pub mod tun;
pub mod watchdog;
