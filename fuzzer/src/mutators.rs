//! Structure-aware mutators: they work on whole 16-byte records (actions) of
//! a case, so a mutation inserts, drops, copies or reorders actions, or moves
//! one field of a segment to a place that matters, instead of tearing bytes.

use harness::fuzz::case::{CONNECTIONS, HEADER, RECORD};
use libafl::inputs::{BytesInput, HasMutatorBytes, ResizableMutator};
use libafl::mutators::{MutationResult, Mutator};
use libafl::state::HasRand;
use libafl::Error;
use libafl_bolts::rands::Rand;
use libafl_bolts::Named;
use std::borrow::Cow;
use std::num::NonZeroUsize;

/// The most actions a mutator grows a case to (the campaign's maximum
/// input size is the header plus this many records).
pub const MAX_ACTIONS: usize = 64;

fn below<S: HasRand>(state: &mut S, n: usize) -> usize {
    NonZeroUsize::new(n).map_or(0, |n| state.rand_mut().below(n))
}

fn records(input: &BytesInput) -> usize {
    input.mutator_bytes().len().saturating_sub(HEADER) / RECORD
}

/// A segment record: kinds 0 to 3, 6 and 7 (see `Action::from_record`;
/// 4 is a call, 5 a wait, 7 with no connection bits a SYN burst).
fn is_segment(r: &[u8]) -> bool {
    !matches!(r[0] % 8, 4 | 5) && r[0] != 7
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

/// Inserts a random record at a random place, its kind byte set by
/// `kind` if given.
fn insert_random<S: HasRand>(state: &mut S, input: &mut BytesInput, kind: Option<u8>) -> MutationResult {
    let n = records(input);
    if n >= MAX_ACTIONS {
        return MutationResult::Skipped;
    }
    if input.mutator_bytes().len() < HEADER {
        input.resize(HEADER, 0);
    }
    let at = HEADER + below(state, n + 1) * RECORD;
    let mut rec: Vec<u8> = (0..RECORD).map(|_| state.rand_mut().next() as u8).collect();
    if let Some(k) = kind {
        rec[0] = k;
    }
    input.splice(at..at, rec);
    MutationResult::Mutated
}

record_mutator!(InsertAction, "insert-action", |state, input| { Ok(insert_random(state, input, None)) });

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
    if n == 0 || n >= MAX_ACTIONS {
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

// Repeats a run of one to three actions two to eight more times, right
// after it: a stream (a segment and a short wait, over and over) is what a
// timer that is re-armed when it should run on needs to show, and havoc
// rarely builds one.
record_mutator!(RepeatRun, "repeat-run", |state, input| {
    let n = records(input);
    if n == 0 || n >= MAX_ACTIONS {
        return Ok(MutationResult::Skipped);
    }
    let len = 1 + below(state, 3.min(n));
    let start = below(state, n - len + 1);
    let times = (2 + below(state, 7)).min((MAX_ACTIONS - n) / len);
    if times == 0 {
        return Ok(MutationResult::Skipped);
    }
    let (a, b) = (HEADER + start * RECORD, HEADER + (start + len) * RECORD);
    let run = input.mutator_bytes()[a..b].to_vec();
    let copies: Vec<u8> = run.iter().copied().cycle().take(run.len() * times).collect();
    input.splice(b..b, copies);
    Ok(MutationResult::Mutated)
});

// Turns a wait into a short one (1 to 250 ms): shorter than most timers,
// so the steps around it land while they run.
record_mutator!(ShortWait, "short-wait", |state, input| {
    let n = records(input);
    let start = below(state, n.max(1));
    let Some(i) = (0..n).map(|i| (start + i) % n).find(|i| input.mutator_bytes()[HEADER + i * RECORD] % 8 == 5) else {
        return Ok(MutationResult::Skipped);
    };
    let ms = 1 + below(state, 250) as u16;
    let r = HEADER + i * RECORD;
    let b = input.mutator_bytes_mut();
    b[r + 1] = 0;
    b[r + 2..r + 4].copy_from_slice(&ms.to_le_bytes());
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

// Moves a segment or a call to another of the case's connections (the
// kind byte's high bits), so one case drives two or three at once.
record_mutator!(OtherConnection, "other-connection", |state, input| {
    let n = records(input);
    let start = below(state, n.max(1));
    let Some(i) = (0..n).map(|i| (start + i) % n).find(|i| {
        let k = input.mutator_bytes()[HEADER + i * RECORD];
        k % 8 != 5 && k != 7
    }) else {
        return Ok(MutationResult::Skipped);
    };
    let r = HEADER + i * RECORD;
    let b = input.mutator_bytes_mut();
    let conn = (b[r] >> 3) % CONNECTIONS;
    let to = (conn + 1 + below(state, usize::from(CONNECTIONS) - 1) as u8) % CONNECTIONS;
    b[r] = (b[r] & 7) | to << 3;
    Ok(MutationResult::Mutated)
});

// Inserts a burst of SYNs from other sources (1 to MAX_BURST, options as
// a segment's), which fills a listener's SYN queue.
record_mutator!(InsertBurst, "insert-burst", |state, input| { Ok(insert_random(state, input, Some(7))) });

// The header's listen-queue fields (see `Header`): a small backlog, or the
// linux profile's sysctls (tcp_syncookies, tcp_abort_on_overflow,
// tcp_tw_reuse), one at a time.
record_mutator!(QueueHeader, "queue-header", |state, input| {
    if input.mutator_bytes().len() < HEADER {
        return Ok(MutationResult::Skipped);
    }
    let which = below(state, 4);
    let v = below(state, 4) as u8;
    let b = input.mutator_bytes_mut();
    match which {
        // Another backlog.
        0 => b[0] = (b[0] & !6) | ((((b[0] >> 1) + 1 + v % 3) % 4) << 1),
        // Another tcp_syncookies code (bits 3-4), under the linux profile.
        1 => b[1] = (b[1] & !0x18) | ((((b[1] >> 3) + 1 + v % 3) % 4) << 3) | 1,
        2 => b[1] ^= 4 | (b[1] & 1 ^ 1),
        _ => b[1] ^= 2 | (b[1] & 1 ^ 1),
    }
    Ok(MutationResult::Mutated)
});

/// A mutator whose results are confined to one connection when `one` is
/// set (`tcp-fuzz --one-connection`; see `confine_to_one_connection`).
pub struct Confined<M> {
    pub inner: M,
    pub one: bool,
}

impl<M: Named> Named for Confined<M> {
    fn name(&self) -> &Cow<'static, str> {
        self.inner.name()
    }
}

impl<S, M: Mutator<BytesInput, S>> Mutator<BytesInput, S> for Confined<M> {
    fn mutate(&mut self, state: &mut S, input: &mut BytesInput) -> Result<MutationResult, Error> {
        let r = self.inner.mutate(state, input)?;
        if self.one {
            harness::fuzz::case::confine_to_one_connection(input.mutator_bytes_mut());
        }
        Ok(r)
    }
    fn post_exec(&mut self, state: &mut S, id: Option<libafl::corpus::CorpusId>) -> Result<(), Error> {
        self.inner.post_exec(state, id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness::fuzz::case::{Action, Case, SeqAt};
    use libafl::state::NopState;

    fn case_bytes() -> BytesInput {
        // Listen role; a SYN, a wait, a data segment, a call.
        let mut b = vec![0u8, 0u8];
        let mut syn = [0u8; RECORD];
        syn[1] = 0x02;
        syn[2] = 4; // Raw sequence number
        let mut wait = [0u8; RECORD];
        wait[0] = 5;
        wait[1] = 1;
        let mut data = [0u8; RECORD];
        data[1] = 0x18;
        data[2] = 1 << 3; // 64 octets, RCV.NXT + 0
        data[3] = 9;
        let mut call = [0u8; RECORD];
        call[0] = 4;
        call[1] = 3; // close
        for r in [syn, wait, data, call] {
            b.extend_from_slice(&r);
        }
        BytesInput::new(b)
    }

    fn records_of(i: &BytesInput) -> Vec<Vec<u8>> {
        i.mutator_bytes()[HEADER..].chunks(RECORD).map(<[u8]>::to_vec).collect()
    }

    #[test]
    fn record_mutators_keep_cases_whole_and_do_what_they_say() {
        let mut state: NopState<BytesInput> = NopState::new();
        for _ in 0..200 {
            let before = case_bytes();
            let n = records(&before);

            let mut i = before.clone();
            assert_eq!(InsertAction.mutate(&mut state, &mut i).unwrap(), MutationResult::Mutated);
            assert_eq!(records(&i), n + 1);
            assert_eq!((i.mutator_bytes().len() - HEADER) % RECORD, 0);

            let mut i = before.clone();
            DeleteAction.mutate(&mut state, &mut i).unwrap();
            assert_eq!(records(&i), n - 1);
            assert!(records_of(&i).iter().all(|r| records_of(&before).contains(r)));

            let mut i = before.clone();
            DuplicateAction.mutate(&mut state, &mut i).unwrap();
            assert_eq!(records(&i), n + 1);
            assert!(records_of(&i).iter().all(|r| records_of(&before).contains(r)));

            let mut i = before.clone();
            if SwapActions.mutate(&mut state, &mut i).unwrap() == MutationResult::Mutated {
                let (mut a, mut b) = (records_of(&i), records_of(&before));
                assert_ne!(a, b);
                a.sort();
                b.sort();
                assert_eq!(a, b, "a swap keeps the same actions");
            }

            // A run repeated: the case grows by whole copies of actions it had.
            let mut i = before.clone();
            if RepeatRun.mutate(&mut state, &mut i).unwrap() == MutationResult::Mutated {
                assert!(records(&i) >= n + 2, "{} from {n}", records(&i));
                assert_eq!((i.mutator_bytes().len() - HEADER) % RECORD, 0);
                assert!(records_of(&i).iter().all(|r| records_of(&before).contains(r)));
                assert_eq!(&i.mutator_bytes()[..HEADER + RECORD], &before.mutator_bytes()[..HEADER + RECORD]);
            }

            // A wait made short: 1 to 250 ms, the other actions unchanged.
            let mut i = before.clone();
            if ShortWait.mutate(&mut state, &mut i).unwrap() == MutationResult::Mutated {
                let (a, b) = (Case::decode(i.mutator_bytes()), Case::decode(before.mutator_bytes()));
                assert_eq!(a.actions.len(), b.actions.len());
                let changed: Vec<_> = a.actions.iter().zip(&b.actions).filter(|(x, y)| x != y).collect();
                assert!(changed.len() <= 1);
                for (x, _) in changed {
                    assert!(matches!(x, Action::Wait(Some(us)) if (1_000..=250_000).contains(us)), "{x:?}");
                }
            }

            // Flip one flag bit of a segment; nothing else changes.
            let mut i = before.clone();
            FlipFlag.mutate(&mut state, &mut i).unwrap();
            let diff: Vec<usize> =
                (0..i.mutator_bytes().len()).filter(|k| i.mutator_bytes()[*k] != before.mutator_bytes()[*k]).collect();
            assert_eq!(diff.len(), 1);
            assert_eq!((diff[0] - HEADER) % RECORD, 1, "the flags byte");
            assert_eq!((i.mutator_bytes()[diff[0]] ^ before.mutator_bytes()[diff[0]]).count_ones(), 1);

            // A segment's sequence number lands on a window edge.
            let mut i = before.clone();
            SeqToEdge.mutate(&mut state, &mut i).unwrap();
            let c = Case::decode(i.mutator_bytes());
            assert!(c.actions.iter().any(|a| matches!(a, Action::Segment(s)
                if matches!(s.seq, SeqAt::Next(0) | SeqAt::Old(0) | SeqAt::Beyond(0) | SeqAt::InsideRight(0)))));

            // One segment or call moves to another connection; nothing else changes.
            let mut i = before.clone();
            OtherConnection.mutate(&mut state, &mut i).unwrap();
            let (a, b) = (Case::decode(i.mutator_bytes()), Case::decode(before.mutator_bytes()));
            let conn = |x: &Action| match x {
                Action::Segment(s) => Some(s.conn),
                Action::Call { conn, .. } => Some(*conn),
                _ => None,
            };
            let moved: Vec<_> = a.actions.iter().zip(&b.actions).filter(|(x, y)| x != y).collect();
            assert_eq!(moved.len(), 1);
            let (x, y) = moved[0];
            assert_ne!(conn(x), conn(y));
            let mut x = x.clone();
            match &mut x {
                Action::Segment(s) => s.conn = conn(y).unwrap(),
                Action::Call { conn: c, .. } => *c = conn(y).unwrap(),
                _ => unreachable!(),
            }
            assert_eq!(&x, y, "only the connection changed");

            // A burst goes in; the actions around it stay.
            let mut i = before.clone();
            InsertBurst.mutate(&mut state, &mut i).unwrap();
            let (a, b) = (Case::decode(i.mutator_bytes()), Case::decode(before.mutator_bytes()));
            assert_eq!(a.actions.len(), b.actions.len() + 1);
            let k = a.actions.iter().position(|x| matches!(x, Action::SynBurst(_))).expect("a burst");
            let mut without = a.actions.clone();
            without.remove(k);
            assert_eq!(without, b.actions);

            // The header's queue fields change; the actions do not.
            let mut i = before.clone();
            QueueHeader.mutate(&mut state, &mut i).unwrap();
            assert_eq!(&i.mutator_bytes()[HEADER..], &before.mutator_bytes()[HEADER..]);
            assert_ne!(&i.mutator_bytes()[..HEADER], &before.mutator_bytes()[..HEADER]);

            // Payload lengths change, and only payload lengths.
            let mut i = before.clone();
            ResizePayload.mutate(&mut state, &mut i).unwrap();
            let (a, b) = (Case::decode(i.mutator_bytes()), Case::decode(before.mutator_bytes()));
            let len = |c: &Case| -> Vec<u16> {
                c.actions
                    .iter()
                    .filter_map(|a| if let Action::Segment(s) = a { Some(s.payload_len) } else { None })
                    .collect()
            };
            assert_eq!(a.actions.len(), b.actions.len());
            assert!(len(&a) != len(&b) || len(&b).contains(&2047) || len(&b).contains(&0));
        }
    }

    #[test]
    fn growing_mutators_stop_at_the_limit() {
        let mut state: NopState<BytesInput> = NopState::new();
        let mut i = BytesInput::new(vec![0u8; HEADER + MAX_ACTIONS * RECORD]);
        assert_eq!(InsertAction.mutate(&mut state, &mut i).unwrap(), MutationResult::Skipped);
        assert_eq!(DuplicateAction.mutate(&mut state, &mut i).unwrap(), MutationResult::Skipped);
        assert_eq!(RepeatRun.mutate(&mut state, &mut i).unwrap(), MutationResult::Skipped);
        let mut near = BytesInput::new(vec![0u8; HEADER + (MAX_ACTIONS - 1) * RECORD]);
        if RepeatRun.mutate(&mut state, &mut near).unwrap() == MutationResult::Mutated {
            assert!(records(&near) <= MAX_ACTIONS);
        }
        let mut empty = BytesInput::new(vec![0u8; HEADER]);
        assert_eq!(DeleteAction.mutate(&mut state, &mut empty).unwrap(), MutationResult::Skipped);
        assert_eq!(FlipFlag.mutate(&mut state, &mut empty).unwrap(), MutationResult::Skipped);
    }
}
