//! Seeded mini-batch order: every epoch is a fresh Fisher–Yates shuffle of
//! the sample indices, cut into full batches; the incomplete tail batch is
//! dropped so every step sees exactly `batch_size` samples (a short last
//! batch would give one noisier step per epoch and spurious spikes in the
//! monitored statistics).

use super::DataError;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Tag mixed into the seed so batch order is independent of other streams.
pub const BATCH_STREAM: u64 = 0xBA7C_4000_0000_0002;

/// Hands out batches of sample indices, reshuffling at each epoch start.
#[derive(Debug, Clone)]
pub struct Batcher {
    order: Vec<usize>,
    /// Start of the next batch in `order`.
    pos: usize,
    batch_size: usize,
    rng: ChaCha8Rng,
    /// Epoch of the batch last returned.
    epoch: usize,
    /// Whether any batch has been returned yet.
    started: bool,
}

impl Batcher {
    /// Errors (not panics) when `batch_size` is 0 or larger than `n`.
    pub fn new(n: usize, batch_size: usize, seed: u64) -> Result<Self, DataError> {
        let reason = if batch_size == 0 {
            Some("it must be at least 1")
        } else if batch_size > n {
            Some("it must not exceed the number of samples")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(DataError::BatchSize {
                batch_size,
                samples: n,
                reason,
            });
        }
        Ok(Self {
            order: (0..n).collect(),
            pos: 0,
            batch_size,
            rng: ChaCha8Rng::seed_from_u64(seed ^ BATCH_STREAM),
            epoch: 0,
            started: false,
        })
    }

    /// The sample indices of the next batch, always exactly `batch_size`.
    pub fn next_batch(&mut self) -> &[usize] {
        if !self.started || self.pos + self.batch_size > self.order.len() {
            if self.started {
                self.epoch += 1;
            }
            self.started = true;
            self.order.shuffle(&mut self.rng);
            self.pos = 0;
        }
        let start = self.pos;
        self.pos += self.batch_size;
        // In range: `new` guarantees 1 <= batch_size <= order.len(), and the
        // check above resets `pos` whenever a full batch would not fit.
        &self.order[start..start + self.batch_size]
    }

    /// 0-based epoch of the batch last returned (0 before the first).
    pub fn epoch(&self) -> usize {
        self.epoch
    }

    /// Full batches per epoch: `n / batch_size`, remainder dropped.
    pub fn steps_per_epoch(&self) -> usize {
        self.order.len() / self.batch_size
    }

    pub fn batch_size(&self) -> usize {
        self.batch_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch_batches(b: &mut Batcher) -> Vec<Vec<usize>> {
        (0..b.steps_per_epoch())
            .map(|_| b.next_batch().to_vec())
            .collect()
    }

    #[test]
    fn every_index_once_per_epoch_when_divisible() {
        // Source of truth: a permutation of 0..n contains each index once.
        let mut b = Batcher::new(12, 4, 1).unwrap();
        assert_eq!(b.steps_per_epoch(), 3);
        for epoch in 0..4 {
            let mut seen: Vec<usize> = epoch_batches(&mut b).concat();
            assert_eq!(b.epoch(), epoch);
            seen.sort_unstable();
            assert_eq!(seen, (0..12).collect::<Vec<_>>());
        }
    }

    #[test]
    fn tail_dropped_no_duplicates_within_epoch() {
        let mut b = Batcher::new(10, 3, 5).unwrap();
        assert_eq!(b.steps_per_epoch(), 3);
        for epoch in 0..5 {
            let mut seen: Vec<usize> = epoch_batches(&mut b).concat();
            assert_eq!(b.epoch(), epoch);
            assert_eq!(seen.len(), 9);
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len(), 9);
            assert!(seen.iter().all(|&i| i < 10));
        }
    }

    #[test]
    fn batches_always_full() {
        let mut b = Batcher::new(7, 7, 0).unwrap();
        for _ in 0..5 {
            assert_eq!(b.next_batch().len(), 7);
        }
        assert_eq!(b.epoch(), 4);
    }

    #[test]
    fn order_changes_across_epochs() {
        let mut b = Batcher::new(50, 10, 3).unwrap();
        let e0 = epoch_batches(&mut b).concat();
        let e1 = epoch_batches(&mut b).concat();
        assert_ne!(e0, e1);
        assert_ne!(e0, (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn deterministic_per_seed() {
        let run = |seed| {
            let mut b = Batcher::new(30, 4, seed).unwrap();
            (0..20).map(|_| b.next_batch().to_vec()).collect::<Vec<_>>()
        };
        assert_eq!(run(9), run(9));
        assert_ne!(run(9), run(10));
    }

    #[test]
    fn invalid_batch_sizes_are_errors() {
        let e = Batcher::new(5, 0, 0).unwrap_err();
        assert!(e.to_string().contains("batch size 0"), "{e}");
        let e = Batcher::new(5, 6, 0).unwrap_err();
        assert!(
            e.to_string().contains("batch size 6 is invalid for 5"),
            "{e}"
        );
        assert!(Batcher::new(0, 1, 0).is_err());
        assert!(Batcher::new(5, 5, 0).is_ok());
    }
}
