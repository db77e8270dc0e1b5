//! A request channel from the control thread to one worker: the control
//! side puts a request in a bounded queue and polls for the answer; the
//! worker takes it at a poll-turn boundary (never in a batch), works on
//! it and pushes the answer back. Neither side ever blocks; a full queue
//! refuses the request rather than waiting. Whatever the answer
//! allocates is allocated then, on the control side's behalf, never per
//! packet.
//!
//! Used for conntrack requests (`conntrack::view`) and the neighbour
//! table listing (`worker::NeighChannel`): later layers.

use std::sync::Arc;

use crossbeam_queue::ArrayQueue;

/// Requests in flight per channel.
const DEPTH: usize = 4;

/// The two queues between the control thread and one worker: requests of
/// type `Q`, answers of type `A`. Clones share the queues.
#[derive(Debug)]
pub struct Channel<Q, A> {
    requests: Arc<ArrayQueue<Q>>,
    replies: Arc<ArrayQueue<A>>,
}

impl<Q, A> Clone for Channel<Q, A> {
    fn clone(&self) -> Self {
        Channel {
            requests: Arc::clone(&self.requests),
            replies: Arc::clone(&self.replies),
        }
    }
}

impl<Q, A> Default for Channel<Q, A> {
    fn default() -> Self {
        Channel {
            requests: Arc::new(ArrayQueue::new(DEPTH)),
            replies: Arc::new(ArrayQueue::new(DEPTH)),
        }
    }
}

impl<Q, A> Channel<Q, A> {
    /// Asks (the control side); `Err` (the request back) when the worker
    /// has too many unanswered ones.
    pub fn ask(&self, r: Q) -> Result<(), Q> {
        self.requests.push(r)
    }

    /// The next answer, if the worker has given one (the control side).
    pub fn answer(&self) -> Option<A> {
        self.replies.pop()
    }

    /// The next request (the worker's side).
    pub fn request(&self) -> Option<Q> {
        self.requests.pop()
    }

    /// Sends an answer (the worker's side); dropped if the control side
    /// left [`DEPTH`] answers unread.
    pub fn reply(&self, a: A) {
        let _ = self.replies.push(a);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_answers_in_order_bounded() {
        let c: Channel<u32, String> = Channel::default();
        let worker = c.clone();
        for i in 0..DEPTH as u32 {
            assert_eq!(c.ask(i), Ok(()));
        }
        assert_eq!(c.ask(99), Err(99));
        assert_eq!(c.answer(), None);
        while let Some(q) = worker.request() {
            worker.reply(format!("re {q}"));
        }
        assert_eq!(c.answer().as_deref(), Some("re 0"));
        assert_eq!(c.answer().as_deref(), Some("re 1"));
    }
}
