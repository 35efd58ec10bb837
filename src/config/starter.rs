//! The commented starter config that `nn-doctor init` writes. It documents
//! every key in place (the file is the reference users actually read) and
//! trains out of the box on synthetic data, so `init` then `check` works with
//! no downloads.

/// The starter config for a file at `path`, named after the file (so two
/// configs made by `init` report into two directories), or "starter" when
/// the file's stem is not a safe report name.
pub fn starter_for(path: &std::path::Path) -> String {
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| crate::safe_name::check(s).is_ok() && !s.contains(['"', '\\']))
        .unwrap_or("starter");
    let padded = format!("name = \"{name}\"");
    STARTER.replacen(
        "name = \"starter\"               #",
        &format!("{padded:<30} #"),
        1,
    )
}

/// A complete, valid config: three-class spirals, two tanh hidden layers,
/// softmax + cross-entropy, Adam. Optional keys are shown commented out with
/// their defaults; so are every other layer kind (a block per kind) and the
/// keys that belong to one optimizer only, so that switching `optimizer`
/// or uncommenting a block never makes the file invalid (config::tests).
pub const STARTER: &str = r#"# nn-doctor config. Every key is documented here; commented-out lines show
# defaults or alternatives. Layers are numbered from 1 everywhere.

name = "starter"               # optional; default: this file's name without extension
seed = 42                      # optional; default 0. Same seed, same run.

# ---------------------------------------------------------------- data
[data]                         # required
source = "synthetic"           # required: "idx" | "csv" | "synthetic"

# source = "synthetic": 2-D toy problems, generated in memory.
generator = "spirals"          # required: "spirals" | "blobs" | "xor" | "circles";
                               # regression (task = "regression"): "sine" | "linear"
samples = 1000                 # default 1000, >= 2
classes = 3                    # default 3 (2 for xor), >= 2; xor needs exactly 2
noise = 0.1                    # default 0.1, >= 0
test_fraction = 0.2            # default 0.2, in [0, 1); held out for evaluation

# source = "idx": MNIST-style files, .gz or raw. Paths are relative to this
# file's directory.
# train_images = "data/mnist/train-images-idx3-ubyte.gz"   # required
# train_labels = "data/mnist/train-labels-idx1-ubyte.gz"   # required
# test_images = "data/mnist/t10k-images-idx3-ubyte.gz"     # optional: both test keys or neither
# test_labels = "data/mnist/t10k-labels-idx1-ubyte.gz"

# source = "csv": one sample per row with a header line; paths relative to
# this file's directory.
# train = "train.csv"          # required
# test = "test.csv"            # optional
# label_column = "label"       # optional; default: the last column
# target_columns = ["y"]       # task = "regression" | "multilabel": the target
                               # columns (default: the last column)

# Keys of one source are an error with another source.

# For any source:
scale = "standardize"          # "none" | "unit" (divide by 255) | "standardize" (z-score);
                               # default "none": raw values, as your own code would see them
# train_limit = 2000           # optional, >= 1: use only the first N training samples
# task = "classification"      # default; "regression" (continuous targets: R^2, RMSE)
                               # | "multilabel" (0/1 per label, sigmoid outputs: exact match)
# scale_targets = "none"       # regression: "none" (default) | "standardize" (z-score
                               # from the training split; metrics in original units)

# ---------------------------------------------------------------- model
[model]                        # required
dtype = "f32"                  # "f32" | "f64"; default "f32"

# One [[model.layers]] table per layer, input to output; at least one.
# Layer 1 is the first. The input size comes from the data.
[[model.layers]]
# kind = "dense"               # default; every kind is shown below
units = 32                     # dense: required, >= 1
activation = "tanh"            # dense, conv2d, activation: required. sigmoid | tanh |
                               # relu | leaky_relu | elu | softplus | linear | softmax
                               # (softmax belongs on the output layer; a hidden
                               # softmax trains but is diagnosed: hidden-softmax)
# init = "xavier_uniform"      # dense, conv2d: xavier_uniform | xavier_normal |
                               # he_uniform | he_normal | normal | uniform | zeros;
                               # default he_normal for relu/leaky_relu/elu,
                               # xavier_uniform otherwise
# init_std = 0.01              # only with init = "normal"; default 0.01, > 0
# init_low = -0.05             # only with init = "uniform"; default -0.05, < init_high
# init_high = 0.05             # only with init = "uniform"; default 0.05
# bias_init = 0.0              # dense, conv2d; default 0.0

[[model.layers]]
units = 32
activation = "tanh"

# The other layer kinds. Each block is a whole layer: uncomment one to
# insert that layer here. A key of another kind is an error.
#
# [[model.layers]]
# kind = "dropout"             # inverted dropout in training, identity in evaluation
# rate = 0.5                   # required, in [0, 1)
#
# [[model.layers]]
# kind = "batch_norm"          # per feature (flat input) or per channel (image)
# momentum = 0.1               # default 0.1, in [0, 1]
# eps = 1e-5                   # default 1e-5, > 0
#
# [[model.layers]]
# kind = "activation"          # an activation on its own, no weights
# activation = "relu"          # required; any activation above
#
# Image layers need image input: source = "idx", or csv with
# input_shape = [channels, height, width]; flatten before the dense layers.
#
# [[model.layers]]
# kind = "conv2d"              # 2-D convolution; init keys as for dense
# filters = 8                  # required, >= 1: output channels
# kernel = 3                   # required: one size, or [height, width]
# stride = 1                   # default 1
# padding = "valid"            # "valid" (default) | "same" | zeros per side, e.g. 1
# activation = "relu"          # required
#
# [[model.layers]]
# kind = "max_pool2d"          # or "avg_pool2d"; size x size windows, no padding
# size = 2                     # required, >= 1
# stride = 2                   # default: size
#
# [[model.layers]]
# kind = "flatten"             # channels x height x width -> one flat vector

[[model.layers]]
units = 3                      # one output per class
activation = "softmax"

# ---------------------------------------------------------------- train
[train]                        # required
loss = "cross_entropy"         # required: "mse" | "cross_entropy" (needs a softmax or
                               # sigmoid last layer) | "binary_cross_entropy" (needs a
                               # sigmoid last layer; two classes may use one unit on 0/1)
                               # | "mae" | "huber". Summed over output units, averaged
                               # over the batch; mse is halved, mae and huber are not
# huber_delta = 1.0            # only with loss = "huber"; default 1.0, > 0
optimizer = "adam"             # "sgd" | "momentum" | "adam" | "rmsprop" | "adagrad" |
                               # "adamax"; default "sgd". Updates as torch.optim defines them.
# The keys below belong to some optimizers only (an error with any other),
# so they stay commented out; each shows its default.
# momentum = 0.9               # momentum: in [0, 1)
# beta1 = 0.9                  # adam, adamax: in [0, 1)
# beta2 = 0.999                # adam, adamax: in [0, 1)
# eps = 1e-8                   # adam, adamax, rmsprop: default 1e-8; adagrad: 1e-10; > 0
# alpha = 0.99                 # rmsprop: in [0, 1)
# lr_decay = 0.0               # adagrad: >= 0
# weight_decay = 0.0           # any optimizer; default 0, >= 0: adds weight_decay * w to
                               # every gradient (L2, as torch.optim's weight_decay)
learning_rate = 0.01           # required, > 0
batch_size = 32                # required, >= 1
steps = 2000                   # >= 1; or epochs = N (>= 1). One is required;
# epochs = 50                  # steps wins when both are set
# clip_grad_norm = 5.0         # optional, > 0: rescale gradients above this global norm
eval_every = 100               # default 100, >= 1: steps between test-set evaluations

# ---------------------------------------------------------------- monitor
[monitor]                      # optional
every = 1                      # default 1, >= 1: record layer statistics every N steps

# ---------------------------------------------------------------- report
[report]                       # optional
# dir = "reports/starter"      # default: reports/<name>, relative to the working
                               # directory (not to this file)

# ---------------------------------------------------------------- gradcheck
# [gradcheck]                  # optional; these are the defaults
# at = ["init", "end"]         # "init", "end" and/or step numbers; [] = no checks
# batch = 16                   # fixed training samples the loss is evaluated on
# samples_per_tensor = 8       # random elements per tensor (plus the largest |gradient|)
# directions = 2               # random unit directions per tensor
# epsilon = 1e-6               # central-difference step
# rtol = 1e-4                  # relative tolerance
# atol = 1e-7                  # absolute tolerance

# ---------------------------------------------------------------- thresholds
# [thresholds]                 # optional: override any diagnosis threshold by name
# saturation_warning = 0.5     # every name and default: src/config/thresholds.rs
# chance_sigmas = 3.0
"#;
