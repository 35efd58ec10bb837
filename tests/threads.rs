//! End-to-end: `check --threads N` gives byte-identical CSVs for every N,
//! because the matrix products split by output columns and every dot
//! product keeps its order (engine::kernels::gemm).

mod common;
use common::*;

#[test]
fn csvs_are_byte_identical_across_thread_counts() {
    // Source of truth: the single-threaded run. The seed network's products
    // (20 x 784 x 1000) are large enough to be split.
    same_csvs_for_every_thread_count("configs/seed.toml", "30");
}

#[test]
fn deep_dense_csvs_are_byte_identical_across_thread_counts() {
    // Source of truth: the single-threaded run. The five dense layers of
    // this scenario (784-128x4-10, batch 32) go through the row-split
    // forward (engine::batch_split) and the pipelined backward
    // (engine::pipeline) with 2 and 3 threads, and through neither with 1.
    same_csvs_for_every_thread_count("scenarios/deep_relu_mnist_exploding.toml", "30");
}

#[test]
fn cnn_csvs_are_byte_identical_across_thread_counts() {
    // Source of truth: the single-threaded run. The small CNN's batch is cut
    // into groups of samples for im2col, col2im and max pooling, and its
    // convolution products are split by columns.
    same_csvs_for_every_thread_count("cnn/small_cnn.toml", "20");
}

fn same_csvs_for_every_thread_count(config: &str, steps: &str) {
    let one = tempfile::tempdir().unwrap();
    let args = ["--steps", steps, "--fail-on", "never", "--no-gradcheck"];
    let o = check(
        &fixture(config),
        one.path(),
        &[&args[..], &["--threads", "1"]].concat(),
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    for t in ["2", "3"] {
        let other = tempfile::tempdir().unwrap();
        let o = check(
            &fixture(config),
            other.path(),
            &[&args[..], &["--threads", t]].concat(),
        );
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        for f in ["metrics.csv", "loss.csv"] {
            let x = std::fs::read(one.path().join(f)).unwrap();
            let y = std::fs::read(other.path().join(f)).unwrap();
            assert!(!x.is_empty());
            assert!(x == y, "{config}: {f} differs between 1 and {t} threads");
        }
    }
}

#[test]
fn a_thread_count_of_zero_is_refused() {
    let out = tempfile::tempdir().unwrap();
    let o = check(
        &fixture("configs/seed.toml"),
        out.path(),
        &["--threads", "0"],
    );
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("--threads"), "{}", stderr(&o));
}
