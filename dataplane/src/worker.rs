//! The poll loop of one worker core: its ports, its frame arena and its
//! pipeline. [`Worker::poll`] is one turn: each port's RX batch through the
//! pipeline, neighbour timers, TX flush, port housekeeping. Pinning the
//! thread to a core and the AF_XDP wakeup policy come with the AF_XDP port.

use std::time::Instant;

use crate::io::{Desc, Port, Umem};
use crate::pipeline::{Pipeline, BATCH};
use crate::route::PortId;

/// One worker: port `i` is `PortId(i)` of the pipeline's snapshot.
#[derive(Debug)]
pub struct Worker<P: Port> {
    pub umem: Umem,
    pub ports: Vec<P>,
    pub pipeline: Pipeline,
    rx: [Desc; BATCH],
}

impl<P: Port> Worker<P> {
    pub fn new(umem: Umem, ports: Vec<P>, pipeline: Pipeline) -> Worker<P> {
        Worker {
            umem,
            ports,
            pipeline,
            rx: [Desc::default(); BATCH],
        }
    }

    /// One turn of the poll loop; returns how many frames were received.
    /// `now` is read once by the caller and used for the whole turn.
    pub fn poll(&mut self, now: Instant) -> usize {
        let mut received = 0;
        for i in 0..self.ports.len() {
            let n = self.ports[i].rx(&mut self.umem, &mut self.rx);
            if n > 0 {
                received += n;
                self.pipeline
                    .rx(&mut self.umem, PortId(i as u16), &self.rx[..n], now);
                self.pipeline.flush_tx(&mut self.umem, &mut self.ports);
            }
        }
        self.pipeline.poll(&mut self.umem, now);
        self.pipeline.flush_tx(&mut self.umem, &mut self.ports);
        for p in &mut self.ports {
            p.poll(&mut self.umem);
        }
        received
    }
}
