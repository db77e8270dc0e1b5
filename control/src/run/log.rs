//! The daemon's lines on stderr: `sluice: [  0.012s] step`, the time since
//! start, so a slow step shows.

use std::time::Instant;

pub struct Log {
    start: Instant,
}

impl Default for Log {
    fn default() -> Self {
        Log::new()
    }
}

impl Log {
    pub fn new() -> Log {
        Log {
            start: Instant::now(),
        }
    }

    pub fn step(&self, what: &str) {
        eprintln!(
            "sluice: [{:>8.3}s] {what}",
            self.start.elapsed().as_secs_f64()
        );
    }

    pub fn error(&self, what: &str) {
        eprintln!("sluice: error: {what}");
    }
}
