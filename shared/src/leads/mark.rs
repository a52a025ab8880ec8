//! Counting a job's tries right however often its message came back.

use super::model::JobState;

/// What each of a job's writes records about its message, so tries are counted right however
/// often the message came back: the receive the write was made on, and how many receives
/// ended without writing (a worker stopped mid-call, which may or may not have called). A
/// message that came back to wait on a breaker writes too, so its receives are explained.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mark {
    pub receives: u32,
    pub lost: u32,
}

impl Mark {
    /// The mark for a write made on receive `receive_count` of the job's message.
    pub fn of(state: &JobState, receive_count: u32) -> Self {
        let unexplained = receive_count
            .saturating_sub(1)
            .saturating_sub(state.receives);
        Self {
            receives: receive_count,
            lost: state.lost.saturating_add(unexplained),
        }
    }

    /// A message that starts over (a replay wakes a kept message): what came before is not
    /// this job's.
    pub fn fresh(receive_count: u32) -> Self {
        Self {
            receives: receive_count,
            lost: 0,
        }
    }

    /// The tries the job has used: its written attempts and every lost receive but the
    /// first (a worker killed before its call spends no try), so its calls never exceed its
    /// tries by more than one.
    pub fn used(&self, state: &JobState) -> u32 {
        state.attempts.saturating_add(self.lost.saturating_sub(1))
    }
}
