//! TEMPORARY stub until the data helper delivers.
pub mod spec;
use ndarray::Array2;
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DataError(pub String);
pub fn one_hot(labels: &[usize], classes: usize) -> Array2<f64> {
    let mut t = Array2::zeros((labels.len(), classes));
    for (i, &l) in labels.iter().enumerate() { t[[i, l]] = 1.0; }
    t
}
pub mod batch {
    use rand::seq::SliceRandom; use rand::SeedableRng; use rand_chacha::ChaCha8Rng;
    pub struct Batcher { order: Vec<usize>, pos: usize, b: usize, rng: ChaCha8Rng }
    impl Batcher {
        pub fn new(n: usize, b: usize, seed: u64) -> Result<Self, super::DataError> {
            let mut rng = ChaCha8Rng::seed_from_u64(seed); let mut order: Vec<usize> = (0..n).collect(); order.shuffle(&mut rng);
            Ok(Batcher { order, pos: 0, b, rng })
        }
        pub fn next_batch(&mut self) -> &[usize] {
            if self.pos + self.b > self.order.len() { self.order.shuffle(&mut self.rng); self.pos = 0; }
            let s = self.pos; self.pos += self.b; &self.order[s..s + self.b]
        }
    }
}
