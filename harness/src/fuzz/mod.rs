//! The fuzzer's model, independent of LibAFL: the case format, running a
//! case on a fresh reference stack under the oracles, minimising a finding,
//! and writing it as a script `harness run` replays. The LibAFL campaign
//! (`fuzzer/`) drives [`exec::run_case`]; `harness fuzz` triages what it finds.
//!
//! A case is bytes: a 2-byte header (role, profile) then 16-byte records, one
//! action each: a segment whose sequence and acknowledgment numbers are
//! chosen relative to the connection's current state (so mutations stay
//! meaningful), a socket call, or a time step. Havoc works on the bytes; the
//! structure-aware mutators work on whole records.

pub mod case;
pub mod exec;
pub mod seeds;
pub mod triage;
