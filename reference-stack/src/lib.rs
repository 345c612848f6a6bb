//! A sans-IO RFC 9293 TCP with a virtual clock.
pub mod seq;
pub mod time;
pub mod wire;
