//! Structure-aware mutators: they work on whole 16-byte records (actions) of
//! a case, so a mutation inserts, drops, copies or reorders actions, or moves
//! one field of a segment to a place that matters, instead of tearing bytes.

use harness::fuzz::case::{HEADER, RECORD};
use libafl::inputs::{BytesInput, HasMutatorBytes, ResizableMutator};
use libafl::mutators::{MutationResult, Mutator};
use libafl::state::HasRand;
use libafl::Error;
use libafl_bolts::rands::Rand;
use libafl_bolts::Named;
use std::borrow::Cow;
use std::num::NonZeroUsize;

fn below<S: HasRand>(state: &mut S, n: usize) -> usize {
    NonZeroUsize::new(n).map_or(0, |n| state.rand_mut().below(n))
}

fn records(input: &BytesInput) -> usize {
    input.mutator_bytes().len().saturating_sub(HEADER) / RECORD
}

/// A segment record: kinds 0 to 3, 6 and 7 (see `Action::from_record`).
fn is_segment(r: &[u8]) -> bool {
    !matches!(r[0] % 8, 4 | 5)
}

macro_rules! record_mutator {
    ($name:ident, $label:expr, |$state:ident, $input:ident| $body:block) => {
        #[derive(Default)]
        pub struct $name;
        impl Named for $name {
            fn name(&self) -> &Cow<'static, str> {
                static NAME: Cow<'static, str> = Cow::Borrowed($label);
                &NAME
            }
        }
        impl<S: HasRand> Mutator<BytesInput, S> for $name {
            fn mutate(&mut self, $state: &mut S, $input: &mut BytesInput) -> Result<MutationResult, Error> {
                $body
            }
            fn post_exec(&mut self, _: &mut S, _: Option<libafl::corpus::CorpusId>) -> Result<(), Error> {
                Ok(())
            }
        }
    };
}

record_mutator!(InsertAction, "insert-action", |state, input| {
    let n = records(input);
    if n >= harness::fuzz::case::MAX_RECORDS {
        return Ok(MutationResult::Skipped);
    }
    if input.mutator_bytes().len() < HEADER {
        input.resize(HEADER, 0);
    }
    let at = HEADER + below(state, n + 1) * RECORD;
    let rec: Vec<u8> = (0..RECORD).map(|_| state.rand_mut().next() as u8).collect();
    input.splice(at..at, rec);
    Ok(MutationResult::Mutated)
});

record_mutator!(DeleteAction, "delete-action", |state, input| {
    let n = records(input);
    if n == 0 {
        return Ok(MutationResult::Skipped);
    }
    let at = HEADER + below(state, n) * RECORD;
    input.drain(at..at + RECORD);
    Ok(MutationResult::Mutated)
});

record_mutator!(DuplicateAction, "duplicate-action", |state, input| {
    let n = records(input);
    if n == 0 || n >= harness::fuzz::case::MAX_RECORDS {
        return Ok(MutationResult::Skipped);
    }
    let at = HEADER + below(state, n) * RECORD;
    let rec = input.mutator_bytes()[at..at + RECORD].to_vec();
    input.splice(at..at, rec);
    Ok(MutationResult::Mutated)
});

record_mutator!(SwapActions, "swap-actions", |state, input| {
    let n = records(input);
    if n < 2 {
        return Ok(MutationResult::Skipped);
    }
    let (a, b) = (below(state, n), below(state, n));
    if a == b {
        return Ok(MutationResult::Skipped);
    }
    let bytes = input.mutator_bytes_mut();
    for i in 0..RECORD {
        bytes.swap(HEADER + a * RECORD + i, HEADER + b * RECORD + i);
    }
    Ok(MutationResult::Mutated)
});

/// Picks a segment record, if there is one.
fn pick_segment<S: HasRand>(state: &mut S, input: &BytesInput) -> Option<usize> {
    let n = records(input);
    let start = below(state, n.max(1));
    (0..n).map(|i| (start + i) % n).find(|i| is_segment(&input.mutator_bytes()[HEADER + i * RECORD..]))
}

record_mutator!(FlipFlag, "flip-flag", |state, input| {
    let Some(i) = pick_segment(state, input) else { return Ok(MutationResult::Skipped) };
    let bit = 1u8 << below(state, 8);
    input.mutator_bytes_mut()[HEADER + i * RECORD + 1] ^= bit;
    Ok(MutationResult::Mutated)
});

record_mutator!(SeqToEdge, "seq-to-window-edge", |state, input| {
    let Some(i) = pick_segment(state, input) else { return Ok(MutationResult::Skipped) };
    let r = HEADER + i * RECORD;
    // RCV.NXT exactly, one below, the right edge, one inside it.
    let mode = [0u8, 1, 2, 3][below(state, 4)];
    let b = input.mutator_bytes_mut();
    b[r + 2] = (b[r + 2] & !7) | mode;
    b[r + 3..r + 7].fill(0);
    Ok(MutationResult::Mutated)
});

record_mutator!(ResizePayload, "resize-payload", |state, input| {
    let Some(i) = pick_segment(state, input) else { return Ok(MutationResult::Skipped) };
    let r = HEADER + i * RECORD;
    let grow = state.rand_mut().coinflip(0.5);
    let b = input.mutator_bytes_mut();
    if grow {
        b[r + 2] = (b[r + 2] & 7) | ((b[r + 2] >> 3).saturating_add(1).min(31) << 3);
    } else {
        b[r + 2] &= 7;
        b[r + 7] &= 3;
    }
    Ok(MutationResult::Mutated)
});
