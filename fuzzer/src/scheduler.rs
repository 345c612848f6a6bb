//! LibAFL's minimising scheduler with its cull done only when it can change
//! something.
//!
//! `MinimizerScheduler::next` (LibAFL 0.16.1) culls on every call: it walks
//! the whole top-rated map (one entry per covered edge) and, for each
//! favoured case, every index that case covers, then marks the favoured.
//! A mark is never taken back, and the top-rated map changes only when a case
//! is added, replaced or removed, so a cull between two such events finds
//! what the previous one found. Profiled on a one-core campaign it was 14 %
//! of all CPU time (the most expensive function of the process).
//!
//! [`LazyCull`] keeps the minimiser for its bookkeeping (`on_add`,
//! `on_replace`, `on_remove` update the top-rated map as before), culls only
//! when one of those ran since the last cull, and then picks as the minimiser
//! does: the next case in queue order, skipping one that is not favoured with
//! the minimiser's default probability.

use libafl::corpus::{Corpus, CorpusId, HasTestcase, Testcase};
use libafl::observers::CanTrack;
use libafl::schedulers::minimizer::{IsFavoredMetadata, DEFAULT_SKIP_NON_FAVORED_PROB};
use libafl::schedulers::{IndexesLenTimeMinimizerScheduler, QueueScheduler, RemovableScheduler, Scheduler};
use libafl::state::{HasCorpus, HasRand};
use libafl::{Error, HasMetadata};
use libafl_bolts::rands::Rand;
use libafl_bolts::tuples::MatchName;
use libafl_bolts::HasLen;

pub struct LazyCull<I, O> {
    minimizer: IndexesLenTimeMinimizerScheduler<QueueScheduler, I, O>,
    /// Picks in queue order. `QueueScheduler` keeps no state of its own
    /// beyond cycle counters: the position is the corpus's current id.
    queue: QueueScheduler,
    dirty: bool,
}

impl<I, O> LazyCull<I, O>
where
    O: CanTrack,
{
    pub fn new(observer: &O) -> Self {
        LazyCull {
            minimizer: IndexesLenTimeMinimizerScheduler::new(observer, QueueScheduler::new()),
            queue: QueueScheduler::new(),
            dirty: true,
        }
    }
}

impl<I, O, S> RemovableScheduler<I, S> for LazyCull<I, O>
where
    IndexesLenTimeMinimizerScheduler<QueueScheduler, I, O>: RemovableScheduler<I, S>,
{
    fn on_replace(&mut self, state: &mut S, id: CorpusId, testcase: &Testcase<I>) -> Result<(), Error> {
        self.dirty = true;
        self.minimizer.on_replace(state, id, testcase)
    }

    fn on_remove(&mut self, state: &mut S, id: CorpusId, testcase: &Option<Testcase<I>>) -> Result<(), Error> {
        self.dirty = true;
        <QueueScheduler as RemovableScheduler<I, S>>::on_remove(&mut self.queue, state, id, testcase)?;
        self.minimizer.on_remove(state, id, testcase)
    }
}

impl<I, O, S> Scheduler<I, S> for LazyCull<I, O>
where
    IndexesLenTimeMinimizerScheduler<QueueScheduler, I, O>: Scheduler<I, S> + RemovableScheduler<I, S>,
    S: HasCorpus<I> + HasMetadata + HasRand + HasTestcase<I>,
    I: HasLen,
{
    fn on_add(&mut self, state: &mut S, id: CorpusId) -> Result<(), Error> {
        self.dirty = true;
        self.minimizer.on_add(state, id)
    }

    fn on_evaluation<OT>(&mut self, state: &mut S, input: &I, observers: &OT) -> Result<(), Error>
    where
        OT: MatchName,
    {
        self.minimizer.on_evaluation(state, input, observers)
    }

    fn next(&mut self, state: &mut S) -> Result<CorpusId, Error> {
        if self.dirty {
            self.minimizer.cull(state)?;
            self.dirty = false;
        }
        let mut id = self.queue.next(state)?;
        while !state.corpus().get(id)?.borrow().has_metadata::<IsFavoredMetadata>()
            && state.rand_mut().coinflip(DEFAULT_SKIP_NON_FAVORED_PROB)
        {
            id = self.queue.next(state)?;
        }
        Ok(id)
    }

    fn set_current_scheduled(&mut self, state: &mut S, next_id: Option<CorpusId>) -> Result<(), Error> {
        <QueueScheduler as Scheduler<I, S>>::set_current_scheduled(&mut self.queue, state, next_id)
    }
}
