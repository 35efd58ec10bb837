//! `nn-doctor explain CODE`: what a diagnosis means, why it happens, how to
//! fix it and where to see it. One entry per code in [`CODES`]; a test keeps
//! them in step.

use super::types::CODES;

/// The explanation of one code.
#[derive(Debug, Clone, Copy)]
pub struct Explanation {
    pub code: &'static str,
    pub title: &'static str,
    pub meaning: &'static str,
    pub why: &'static str,
    pub fix: &'static str,
    pub look: &'static str,
}

pub const EXPLANATIONS: [Explanation; 25] = [
    Explanation {
        code: "non-finite",
        title: "a NaN or Inf appeared during training",
        meaning: "An operation produced NaN or Inf from finite inputs. nn-doctor names that operation (phase, layer, element), the kind (overflow, inf-inf, 0*inf, ...) and the largest input magnitudes, then stops training.",
        why: "Values grew past the float range: too high a learning rate, exploding gradients, unscaled inputs, or a numerically naive formula (softmax without subtracting the max, log of a probability that underflowed to 0).",
        fix: "Lower the learning rate, clip gradients (train.clip_grad_norm), scale the inputs, use fan-in-scaled init. Use f64 only to confirm the diagnosis, not as the fix.",
        look: "gradient_norms.png and update_ratio.png climb before the red 'first non-finite' line; activations.png shows ranges widening.",
    },
    Explanation {
        code: "gradient-mismatch",
        title: "analytic gradients disagree with finite differences",
        meaning: "The backward pass computes gradients that central finite differences of the loss contradict. The first wrong tensor (nearest the output) and its worst element are named, with the known backprop mistake it matches when one does.",
        why: "A bug in backward: a missing derivative (e.g. softmax under MSE), a transposed or wrongly-scaled gradient, the wrong layer's activations. No tuning fixes wrong gradients.",
        fix: "Fix the named mistake; `nn-doctor verify-trace` on a dumped step of your own implementation names the first wrong tensor.",
        look: "gradcheck.csv lists every comparison; the JUnit file marks the failing tensors.",
    },
    Explanation {
        code: "non-finite-data",
        title: "the training data contains NaN or Inf",
        meaning: "Some input features are NaN or Inf; every forward pass through them is NaN, so training is not started.",
        why: "Missing values in a CSV, a division by zero in preprocessing, a corrupted file.",
        fix: "Drop or impute the affected samples; check custom normalisation for a zero standard deviation.",
        look: "summary.json: evidence first_sample / first_feature.",
    },
    Explanation {
        code: "unscaled-inputs",
        title: "inputs are far from unit scale",
        meaning: "The input features have an RMS well above 1 (raw pixels: ~80), or feature magnitudes differ by orders of magnitude.",
        why: "Large inputs make first-layer pre-activations large: sigmoid/tanh saturate immediately, and the first layer's gradient dominates the others.",
        fix: "[data] scale = \"unit\" for 8-bit pixels, or \"standardize\" for mixed features.",
        look: "pre_activations.png: layer 1's mean and max |z| (also in metrics.csv, pre_min/pre_max/pre_mean_abs).",
    },
    Explanation {
        code: "output-loss-mismatch",
        title: "the output activation does not fit the loss",
        meaning: "Softmax or sigmoid outputs trained with MSE: the loss's gradient is multiplied by the output activation's slope, which vanishes when the output saturates. Or a cross-entropy over outputs that are not probabilities (relu, linear, tanh; softmax under binary cross-entropy): nn-doctor clips them to [1e-7, 1] before the log, as Keras does. Or categorical cross-entropy over several sigmoid units with one label per sample: computed as one binary cross-entropy per unit, so each unit learns yes/no alone and the outputs are not class probabilities.",
        why: "With MSE, a confidently wrong output (saturated) gets almost no gradient: it learns slowest exactly when it is most wrong. Cross-entropy's gradient is a - t, independent of saturation. A clipped output passes no gradient at all: a relu output at 0 or a linear output above 1 never moves.",
        fix: "MSE on softmax/sigmoid: train.loss = \"cross_entropy\". Cross-entropy on another output: last layer activation = \"softmax\" (\"sigmoid\" for binary_cross_entropy or independent 0/1 outputs). Several sigmoid units, one label per sample: activation = \"softmax\".",
        look: "saturation.png: the output layer's saturated share; loss.png: a slow or stalled loss.",
    },
    Explanation {
        code: "poor-initialization",
        title: "initial weights are the wrong scale or sign",
        meaning: "A layer's initial weights are all of one sign, all zero (hidden layer), or far too large or small for its fan-in (mean(W^2) x fan_in far from 1-2).",
        why: "Same-sign weights make fan_in terms add up instead of cancelling (the MNIST case: U[0,1) weights give pre-activations near +54); zero weights keep units identical forever; the wrong scale grows or shrinks signals layer by layer.",
        fix: "init = \"xavier_uniform\" for sigmoid/tanh/softmax, \"he_normal\" for relu-family layers; biases 0.",
        look: "pre_activations.png from step 1 (|z| far from 0, above the dashed saturation bound); summary.json evidence: weight mean/std and gain.",
    },
    Explanation {
        code: "saturated-activations",
        title: "sigmoid/tanh/softmax units sit where their slope is ~0",
        meaning: "Over a window of recorded steps, most unit x sample entries have a local slope below 1% of the maximum (|z| > 6 for sigmoid, > 3 for tanh).",
        why: "Large pre-activations from bad initialisation, unscaled inputs or a too-high learning rate. Gradients through a saturated unit are multiplied by that tiny slope, so the layers below stop learning.",
        fix: "Zero-mean fan-in-scaled init, scaled inputs; relu with he_normal in hidden layers; cross-entropy for softmax/sigmoid outputs.",
        look: "saturation.png (solid lines near 1); pre_activations.png (mean |z| above the dashed saturation bound).",
    },
    Explanation {
        code: "dead-relus",
        title: "ReLU units output 0 for every sample",
        meaning: "Over a window of recorded steps, most units of a relu layer are inactive (z <= 0) for the whole batch.",
        why: "A large update pushed weights/biases so that the units never fire again; dead units get zero gradient and cannot recover.",
        fix: "Lower the learning rate; leaky_relu or elu; he_normal init with small or zero biases.",
        look: "saturation.png (dashed lines near 1), gradient_norms.png (the layer's norm on the bottom \"0\" row).",
    },
    Explanation {
        code: "vanishing-gradients",
        title: "lower layers get almost no gradient",
        meaning: "A layer's RMS weight gradient stays below 1e-3 of the output layer's over a window of recorded steps.",
        why: "Each layer multiplies the gradient by its weights and activation slopes; saturated units or small weights shrink it geometrically with depth.",
        fix: "Keep units out of saturation (init, input scale), relu + he_normal, fewer layers, Adam.",
        look: "gradient_ratio.png: the layer's line below the dashed vanishing threshold (RMS gradient relative to the output layer).",
    },
    Explanation {
        code: "exploding-gradients",
        title: "gradients grow across layers or over time",
        meaning: "A lower layer's RMS gradient is over 100x the output layer's, the global gradient norm grew over 1000x during training, or an overflow was born in backward or the update.",
        why: "Weights with gain above 1 multiply gradients layer by layer; a too-high learning rate makes each step bigger than the last.",
        fix: "Clip gradients (train.clip_grad_norm), lower the learning rate, fan-in-scaled init.",
        look: "gradient_ratio.png above the dashed exploding threshold, or gradient_norms.png climbing; update_ratio.png far above the 1e-3 line.",
    },
    Explanation {
        code: "lr-too-high",
        title: "updates are far too large and the loss does not improve",
        meaning: "A layer's median update/weight ratio is above 1e-1 (100x the ~1e-3 rule of thumb) while the loss makes no progress, or the run overflowed.",
        why: "Steps overshoot the minimum: the loss bounces or climbs instead of descending.",
        fix: "Lower the learning rate (the suggestion gives a factor), clip gradients, or Adam with 1e-3.",
        look: "update_ratio.png far above the dashed 1e-3 line; loss.png noisy or rising.",
    },
    Explanation {
        code: "lr-too-low",
        title: "updates are far too small and the loss barely moves",
        meaning: "Every layer's median update/weight ratio is below 1e-5 (100x under the rule of thumb) and the loss dropped less than 10%, with no saturation or vanishing gradient to blame.",
        why: "The steps are too small to make progress within the training budget.",
        fix: "Raise the learning rate (the suggestion gives a factor) or use Adam.",
        look: "update_ratio.png far below the dashed 1e-3 line; loss.png almost flat but sloping down.",
    },
    Explanation {
        code: "loss-diverging",
        title: "the loss grows",
        meaning: "The last window's median loss is above 1.5x the first window's and ln(loss) rises significantly (least-squares slope, Student-t p < 0.01).",
        why: "Too high a learning rate, exploding gradients, or a gradient with the wrong sign.",
        fix: "Lower the learning rate, clip gradients, run gradcheck.",
        look: "loss.png rising (log axis).",
    },
    Explanation {
        code: "loss-oscillating",
        title: "the loss jumps back and forth",
        meaning: "In the second half of training consecutive losses differ by a median factor above 1.5, with no trend, while the loss stays at or above half its first value.",
        why: "The optimizer overshoots across a valley: the learning rate is too high for the curvature, or batches are too small and noisy.",
        fix: "Lower the learning rate, larger batches, Adam with 1e-3.",
        look: "loss.png: a thick saw-tooth band with no downward trend.",
    },
    Explanation {
        code: "loss-plateau",
        title: "the loss does not improve",
        meaning: "The loss changed by less than 1% between the first and last windows and its least-squares slope is not significantly negative (p > 0.05).",
        why: "Nothing is learned: saturated units, vanishing or wrong gradients, a learning rate far too small, or dead units.",
        fix: "Fix the other diagnoses first; run gradcheck; then try a larger learning rate or Adam.",
        look: "loss.png flat; check gradient_norms.png and saturation.png for the cause.",
    },
    Explanation {
        code: "accuracy-at-chance",
        title: "accuracy is not above always guessing the majority class",
        meaning: "The final test accuracy (or the recent batch accuracy without a test set) is within 3 standard errors of the majority-class rate.",
        why: "The network learned nothing usable: see the other diagnoses; or the labels do not belong to the inputs.",
        fix: "Fix the errors above; check the data loading and label alignment.",
        look: "loss.png: the accuracy lines stay at the chance level.",
    },
    Explanation {
        code: "unscaled-targets",
        title: "regression targets far from unit scale",
        meaning: "A regression target column has an RMS above 10 (e.g. prices in dollars) or a std below 0.01, measured on the training targets the network is trained on. Evidence: the column's mean, std and RMS.",
        why: "The loss and every gradient scale with the targets (MSE with their square): a learning rate that suits unit-scale targets overshoots or diverges, a bounded hidden layer must grow its output weights to reach large values, and tiny targets give tiny updates.",
        fix: "Set [data] scale_targets = \"standardize\" (per-target z-score from the training split; R^2 and RMSE are still reported in the original units). check --try-fixes verifies it.",
        look: "loss.png: the loss starts at the targets' squared scale; summary.json preflight.task has the target statistics.",
    },
    Explanation {
        code: "no-better-than-mean",
        title: "the regression predicts no better than the training mean",
        meaning: "On the test set (else the training set) the per-sample gain (y - set mean)^2 - (y - prediction)^2, whose mean is R^2 times the set's variance, is not significantly above 0: its mean is below 3 standard errors. So R^2 is not significantly above 0. R^2 and RMSE are shown; the regression counterpart of accuracy-at-chance.",
        why: "The network learned nothing usable about the target: see the other diagnoses (unscaled targets, saturation, a learning rate too small or too large), or the features carry no information about the target.",
        fix: "Fix the errors above; check that target_columns names the intended column and that features and targets are aligned.",
        look: "loss.png: the R^2 line stays near 0.",
    },
    Explanation {
        code: "hidden-softmax",
        title: "a softmax on a hidden layer",
        meaning: "A layer below the output has activation = \"softmax\". Its outputs are forced onto a simplex (they sum to 1, about 1/units each); the network trains (the backward pass is the softmax's Jacobian-vector product, s * (g - sum(g * s)) per row) and is diagnosed instead of refused.",
        why: "The next layer sees tiny, coupled inputs, and the gradient through the softmax is small everywhere and vanishes when one unit dominates: layers below it barely learn. Usually a copy-paste of the output layer's activation.",
        fix: "Use relu (init = \"he_normal\") or tanh on hidden layers; keep softmax for the output. check --try-fixes verifies it (hidden-relu).",
        look: "saturation.png (the softmax layer's saturated share) and gradient_ratio.png (layers below it receive little gradient).",
    },
    Explanation {
        code: "one-unit-softmax",
        title: "a softmax over a single output unit",
        meaning: "The output layer has units = 1 and activation = \"softmax\": e^z / e^z = 1 for every input, so the network always outputs 1 (always class 1). The loss is constant, and every gradient is exactly 0 (with cross-entropy the engine uses dL/dz = a * sum(t) - t, exact for any target).",
        why: "A softmax normalises over its units; with one unit there is nothing to normalise against. Keras' Dense(1, activation='softmax') for a binary label is the classic form.",
        fix: "One unit: activation = \"sigmoid\" with loss = \"binary_cross_entropy\" (0/1 targets). Or units = 2 with softmax and cross_entropy. check --try-fixes verifies the sigmoid form.",
        look: "loss.png: a flat loss; gradient_norms.png: every gradient on the 0 row.",
    },
    Explanation {
        code: "output-units-mismatch",
        title: "one output unit for more than two classes",
        meaning: "A classifier of C > 2 classes has units = 1 on its output layer. It trains as Keras trains a Dense(1) on integer labels: the unit is fitted to the class index 0..C-1 as a number (with binary_cross_entropy these are targets above 1), and a class is read from it as Keras' binary accuracy does: class 1 above 0.5, else class 0.",
        why: "Class indices are not quantities: 'class 7' is not 'more' than class 3, and a single threshold can only ever name classes 0 and 1. Usually the last layer was copied from a binary model.",
        fix: "units = C with softmax and loss = \"cross_entropy\" (check --try-fixes verifies it: units-per-class). Units that are neither 1 nor C are refused (exit 2), as Keras refuses the shape.",
        look: "confusion.png: only the columns of classes 0 and 1 are filled.",
    },
    Explanation {
        code: "batch-norm-small-batch",
        title: "batch norm trained on batches of 1 or 2",
        meaning: "The network has a batch_norm layer and train.batch_size is 1 or 2. In training, batch norm normalises each channel with the mean and variance of the current batch (over samples, and positions for images); evaluation uses the running averages of those statistics. Evidence: the batch size and how many values each channel's statistics come from.",
        why: "With one sample of flat features every value equals its batch mean: x - mean = 0, the layer outputs beta whatever the input and no gradient reaches the layers below (PyTorch refuses this case). With two samples, or one image, the statistics are so noisy that training normalises by numbers evaluation never sees: test accuracy falls behind training accuracy or the network does not learn.",
        fix: "Use train.batch_size >= 16 (32 or more is usual), or remove the batch_norm layers for tiny batches.",
        look: "batch_norm.csv: the running-statistics drift stays large; loss.png: the test loss far from the training loss.",
    },
    Explanation {
        code: "dropout-too-high",
        title: "dropout so high the network cannot fit",
        meaning: "A dropout layer has rate >= 0.5 and the run did not train well: the training loss did not fall by half, or accuracy stayed near chance. Evidence: the rate, the loss drop and the recent training batches' accuracy against chance. Never raised on a run that trained well, and not for rates below 0.5.",
        why: "Inverted dropout zeroes a share `rate` of the layer's inputs at every training step (and scales the rest by 1/(1 - rate)); at 0.9 only one unit in ten passes, so the layers after it see a different, mostly empty input at each step and the network underfits.",
        fix: "Lower the rate to 0.1-0.5 (0.2 after dense layers is a common start), or remove the dropout until the network fits, then add regularisation back. check --try-fixes verifies rate 0.2 by retraining (dropout-lower).",
        look: "loss.png: the training loss stays high; the test accuracy (measured without dropout) may still be above chance.",
    },
    Explanation {
        code: "overfitting",
        title: "the test loss rises while the training loss falls",
        meaning: "After its minimum, the test loss climbed by more than 10% with a significant upward trend while the training loss kept falling beyond its noise; the generalisation gap (training vs test accuracy) is in the evidence.",
        why: "The network has more capacity than the data constrains: it memorises the training samples (their noise included) instead of the pattern.",
        fix: "Stop at the step where the test loss was lowest, use more data, or a smaller network. Evaluate often enough (train.eval_every) to see the turn.",
        look: "loss.png: the test loss turns upward while the training loss keeps falling; confusion.png for which classes suffer.",
    },
    Explanation {
        code: "class-imbalance",
        title: "one class dominates the training set",
        meaning: "The majority class's share is far above 1/C (by default at least halfway from 1/C to 1), and accuracy is near that share: always predicting the majority class scores about as well as the network does. With accuracy well above it, the finding is info.",
        why: "The cheapest way to lower the loss on imbalanced data is to predict the majority class; minority classes get few gradient contributions.",
        fix: "Balance the training set (oversample minority classes, undersample the majority) and judge by per-class accuracy, not overall accuracy.",
        look: "confusion.png: one column (the majority class) collects the predictions; summary.json per_class_accuracy.",
    },
];

/// Codes that gradcheck and verify-trace print beside the diagnoses: the
/// backprop mistakes they name and why a check can be inconclusive.
pub const CHECK_CODES: [Explanation; 25] = [
    Explanation {
        code: "missing-output-derivative",
        title: "the output delta lacks the output activation's Jacobian",
        meaning: "The output layer's delta is dL/dy, not dL/dz: the derivative of the output activation (softmax, sigmoid) was left out, typically softmax + MSE with the softmax derivative 'set to 1'.",
        why: "Softmax + cross-entropy cancel to (a - t), so people drop the Jacobian; under MSE it does not cancel.",
        fix: "Multiply dL/dy by the Jacobian (softmax: a * (g - sum(g * a)) per row), or use cross-entropy.",
        look: "gradcheck.csv (every comparison, with status and state) and the text table's first-wrong lines; verify-trace's report names the tensor.",
    },
    Explanation {
        code: "missing-activation-derivative",
        title: "a hidden delta is not multiplied by f'(z)",
        meaning: "A hidden layer's delta is delta_next W_next^T without the factor f'(z) of its activation.",
        why: "The chain rule's activation factor was forgotten, or the derivative function returns 1.",
        fix: "delta_l = (delta_{l+1} W_{l+1}^T) * f'(z_l).",
        look: "gradcheck.csv (every comparison, with status and state) and the text table's first-wrong lines; verify-trace's report names the tensor.",
    },
    Explanation {
        code: "derivative-at-wrong-point",
        title: "f' is evaluated at the activation instead of the pre-activation",
        meaning: "The activation derivative is computed as f'(a) with a = f(z) already applied (sigmoid'(sigmoid(z))).",
        why: "Derivative helpers written in terms of a (sigmoid: a(1 - a)) get called with z, or ones written in z get called with a.",
        fix: "Evaluate f' at z, or use the a-form (sigmoid a(1 - a), tanh 1 - a^2) with a, never both.",
        look: "gradcheck.csv (every comparison, with status and state) and the text table's first-wrong lines; verify-trace's report names the tensor.",
    },
    Explanation {
        code: "wrong-weights-in-backprop",
        title: "the delta goes back through wrongly laid-out weights",
        meaning: "The delta is propagated through the next layer's weight matrix read in the wrong layout (reshaped instead of transposed).",
        why: "A reshape to the needed shape silently succeeds where a transpose was meant.",
        fix: "Propagate through W_next transposed (W.T), not a reshape.",
        look: "gradcheck.csv (every comparison, with status and state) and the text table's first-wrong lines; verify-trace's report names the tensor.",
    },
    Explanation {
        code: "transposed-weight-gradient",
        title: "the weight gradient is stored transposed",
        meaning: "The weight gradient was computed as delta^T x ([units, fan_in]) and stored into the [fan_in, units] buffer without transposing.",
        why: "Layout conventions differ between libraries (x @ W vs W x); a flat copy hides the mismatch.",
        fix: "Build the gradient in the weights' own layout: input^T delta for x @ W.",
        look: "gradcheck.csv (every comparison, with status and state) and the text table's first-wrong lines; verify-trace's report names the tensor.",
    },
    Explanation {
        code: "wrong-layer-input",
        title: "the weight gradient uses the wrong layer's input",
        meaning: "A layer's weight gradient is built from another tensor than its own input: its own output, the network input, activations two layers down, or the pre-activations z instead of the activations a.",
        why: "Off-by-one indices into the list of cached activations, or caching z where a was meant.",
        fix: "grad_W_l = a_{l-1}^T delta_l, with a_0 = x.",
        look: "gradcheck.csv (every comparison, with status and state) and the text table's first-wrong lines; verify-trace's report names the tensor.",
    },
    Explanation {
        code: "bias-gradient-wrong-axis",
        title: "the bias gradient sums over the wrong axis",
        meaning: "The bias gradient is not delta summed over the samples of the batch: it was summed over the units, or over everything (sum(delta) without an axis, broadcast to each unit).",
        why: "A reduction without an explicit axis.",
        fix: "grad_b = delta.sum(axis=0): one value per unit.",
        look: "gradcheck.csv (every comparison, with status and state) and the text table's first-wrong lines; verify-trace's report names the tensor.",
    },
    Explanation {
        code: "sign-flipped",
        title: "the gradient has the wrong sign",
        meaning: "The analytic gradient is minus the true one, so the update climbs the loss.",
        why: "An error written as target - output, or a sign lost in the loss derivative.",
        fix: "The output delta is (y - t) (times the Jacobian); the update subtracts the gradient.",
        look: "gradcheck.csv (every comparison, with status and state) and the text table's first-wrong lines; verify-trace's report names the tensor.",
    },
    Explanation {
        code: "batch-sum-not-mean",
        title: "the gradient is summed over the batch although the loss is a mean",
        meaning: "The gradient is too large by the batch size: the 1/batch of the mean loss is missing from the backward pass.",
        why: "The loss divides by the batch size, the backward pass does not (or the other way round).",
        fix: "Divide the output delta by the batch size, or declare the loss a sum.",
        look: "gradcheck.csv (every comparison, with status and state) and the text table's first-wrong lines; verify-trace's report names the tensor.",
    },
    Explanation {
        code: "constant-factor",
        title: "the gradient is off by a constant factor",
        meaning: "Every element of the tensor is the true gradient times one constant (given as the factor).",
        why: "A missing or extra constant: the 1/2 of MSE, the 1/batch of the mean, a learning rate folded into the gradient.",
        fix: "Find the constant from the factor (2, 0.5, the batch size, the learning rate) and remove it.",
        look: "gradcheck.csv (every comparison, with status and state) and the text table's first-wrong lines; verify-trace's report names the tensor.",
    },
    Explanation {
        code: "non-finite-forward",
        title: "a forward tensor of the trace is NaN or Inf",
        meaning: "verify-trace found a NaN or Inf in an activation or pre-activation of the dumped step.",
        why: "exp overflow in a naive softmax, unscaled inputs, exploding weights.",
        fix: "Compute softmax as exp(z - max z) / sum; scale inputs; use fan-in-scaled init.",
        look: "verify-trace's report: the first tensor with a non-finite value and its index.",
    },
    Explanation {
        code: "non-finite-backward",
        title: "a backward tensor of the trace is NaN or Inf",
        meaning: "verify-trace found a NaN or Inf in a delta or gradient while the forward pass was finite.",
        why: "Division by zero or log(0) in a loss derivative, an exp that overflows in backward.",
        fix: "Compute loss derivatives from the pre-activations; avoid dividing by probabilities that can be 0.",
        look: "verify-trace's report: the first non-finite backward tensor.",
    },
    Explanation {
        code: "wrong-layout",
        title: "a trace tensor is stored in the other weight layout",
        meaning: "A weight-shaped tensor matches the reference once transposed: it was saved as [out, in] where [in, out] was declared, or the reverse.",
        why: "PyTorch stores Linear weights [out, in]; x @ W code uses [in, out].",
        fix: "Declare weight_layout in trace.toml, or transpose before saving.",
        look: "verify-trace's report: the tensor and both layouts.",
    },
    Explanation {
        code: "shape-mismatch",
        title: "a trace tensor has the wrong shape",
        meaning: "A tensor in the trace does not have the shape the trace format gives it, and no transpose fixes it.",
        why: "Saving the wrong array, a missing batch axis, a flattened tensor.",
        fix: "Save activations and deltas as [batch, units], gradients with their parameter's shape, bias gradients as [units].",
        look: "verify-trace's report: expected and found shapes.",
    },
    Explanation {
        code: "below-resolution",
        title: "gradcheck inconclusive: the gradients are below what finite differences resolve",
        meaning: "Every comparison of a tensor had |analytic| and |numeric| below 10x the central difference's noise floor (atol + 100 eps_machine |L| / epsilon), so none could pass or fail. The tensor is not a pass; gradcheck re-checks the same backward code at the probe state (weights redrawn with unit gain, inputs standardised, fixed seed) and reports which state decided it.",
        why: "Saturated units (slopes of 1e-22), a tiny initialisation, or a huge loss make the gradients smaller than the round-off of a difference of losses.",
        fix: "Nothing to fix in the check: read the probe state's verdict. The network itself is probably saturated: see saturated-activations and vanishing-gradients.",
        look: "gradcheck.csv: rows with status below-resolution (state point) and the probe rows (state probe); the table's 'at probe (point: below-resolution)'.",
    },
    Explanation {
        code: "all-kinks",
        title: "gradcheck inconclusive: every comparison crossed a ReLU kink",
        meaning: "Every perturbation of the tensor flipped the sign of some ReLU-family pre-activation, where the loss has no derivative, so no comparison counts. The same backward code is re-checked at the probe state.",
        why: "ReLU inputs sitting exactly on 0 (zero weights and biases, dead units with zero input).",
        fix: "Nothing to fix in the check: read the probe state's verdict; zero-initialised ReLU layers are themselves a problem (poor-initialization).",
        look: "gradcheck.csv: rows with status kink; the JUnit file marks the tensor skipped with the reason.",
    },
    Explanation {
        code: "conv-kernel-not-rotated",
        title: "the convolution's input gradient uses the kernel unrotated",
        meaning: "dL/dx of a convolution is the full correlation of the (stride-dilated) output gradient with the kernel rotated by 180 degrees; this one correlates with the kernel as stored.",
        why: "Writing the backward as 'another convolution with the same weights' without flipping them.",
        fix: "Flip the kernel in both spatial axes (w[:, :, ::-1, ::-1]) and swap its in/out axes, or scatter each output gradient back to the input positions it read (dx[.., s*i+u, s*j+v] += dz[.., i, j] * w[.., u, v]).",
        look: "gradcheck.csv (every comparison, with status and state) and the text table's first-wrong lines; verify-trace names the layer whose grad_input diverges first.",
    },
    Explanation {
        code: "conv-backward-padding",
        title: "the convolution's input gradient ignores the padding",
        meaning: "The forward padded the input; the backward maps output positions back without the padding offset, so the input gradient is shifted and its border is lost.",
        why: "Cropping the padded gradient at [0:H] instead of [p:p+H], or forgetting that the padded input is bigger.",
        fix: "Accumulate into the padded shape and crop dx_padded[:, :, p:p+H, p:p+W].",
        look: "gradcheck.csv (every comparison, with status and state) and the text table's first-wrong lines; verify-trace names the layer whose grad_input diverges first.",
    },
    Explanation {
        code: "conv-backward-stride",
        title: "the convolution's input gradient ignores the stride",
        meaning: "With stride s, output position i read input rows s*i .. s*i+k-1; this backward scatters it back as if the stride were 1 (the output gradient not dilated by the stride).",
        why: "Reusing a stride-1 backward for a strided layer.",
        fix: "Dilate dz with s-1 zeros between elements before the full correlation, or scatter at s*i+u.",
        look: "gradcheck.csv (every comparison, with status and state) and the text table's first-wrong lines; verify-trace names the layer whose grad_input diverges first.",
    },
    Explanation {
        code: "maxpool-wrong-element",
        title: "the max-pool gradient goes to the wrong element",
        meaning: "Each window's gradient must go to the element that was the maximum; this one goes to another position of the window (the maximum's position transposed: a flat argmax unravelled in the wrong order).",
        why: "Unravelling a flat argmax with the window's width and height swapped, or storing indices in another layout than the one read back.",
        fix: "Store the argmax per window in the forward and unravel it as (idx // k, idx % k) for a row-major window.",
        look: "gradcheck.csv (every comparison, with status and state) and the text table's first-wrong lines; verify-trace names the layer whose grad_input diverges first.",
    },
    Explanation {
        code: "maxpool-spread",
        title: "the max-pool gradient is spread over the window",
        meaning: "The gradient of each window is divided evenly over its elements, as for average pooling, instead of routed to the maximum alone.",
        why: "Copying the average-pool backward into the max-pool layer.",
        fix: "Route dz to the argmax of each window; the other elements get zero.",
        look: "gradcheck.csv (every comparison, with status and state) and the text table's first-wrong lines; verify-trace names the layer whose grad_input diverges first.",
    },
    Explanation {
        code: "batchnorm-stats-constant",
        title: "batch norm's backward treats the batch mean and variance as constants",
        meaning: "In training, the mean and variance are functions of the batch; dL/dx = gamma/sqrt(var+eps) * (dy - mean(dy) - xhat*mean(dy*xhat)). This backward keeps only the first term.",
        why: "Differentiating the normalisation as if mean and variance were parameters.",
        fix: "Include the two terms through the statistics (the formula above, means per channel over batch and positions).",
        look: "gradcheck.csv (every comparison, with status and state) and the text table's first-wrong lines; verify-trace names the layer whose grad_input diverges first.",
    },
    Explanation {
        code: "dropout-no-mask",
        title: "dropout's backward does not apply the mask",
        meaning: "Units dropped in the forward pass must get zero gradient; this backward passes the gradient to every unit.",
        why: "Scaling the gradient by 1/(1-rate) but forgetting to store and reuse the mask.",
        fix: "Keep the forward mask and multiply: dx = dy * mask / (1 - rate).",
        look: "gradcheck.csv (every comparison, with status and state) and the text table's first-wrong lines; verify-trace names the layer whose grad_input diverges first.",
    },
    Explanation {
        code: "dropout-no-scale",
        title: "dropout's backward misses the 1/(1-rate) scale",
        meaning: "Inverted dropout multiplies kept units by 1/(1-rate) in the forward pass; the backward must apply the same factor.",
        why: "Applying the mask as 0/1 in the backward while the forward scaled.",
        fix: "dx = dy * mask / (1 - rate).",
        look: "gradcheck.csv (every comparison, with status and state) and the text table's first-wrong lines; verify-trace names the layer whose grad_input diverges first.",
    },
    Explanation {
        code: "flatten-order",
        title: "flatten's backward uses another order than its forward",
        meaning: "The forward flattened [C, H, W] channels-first; the backward reshapes the gradient channels-last (H, W, C), so each input position receives another position's gradient.",
        why: "Mixing NCHW and NHWC conventions (e.g. a transpose before the reshape on one side only).",
        fix: "Unflatten with exactly the inverse of the forward: dx = dy.reshape(N, C, H, W).",
        look: "gradcheck.csv (every comparison, with status and state) and the text table's first-wrong lines; verify-trace names the layer whose grad_input diverges first.",
    },
];

/// The explanation of `code` (a diagnosis or a check code).
pub fn explain(code: &str) -> Option<&'static Explanation> {
    EXPLANATIONS
        .iter()
        .chain(CHECK_CODES.iter())
        .find(|e| e.code == code)
}

/// The text `nn-doctor explain CODE` prints.
pub fn render(e: &Explanation) -> String {
    format!(
        "{}: {}\n\nWhat it means\n  {}\n\nWhy it happens\n  {}\n\nHow to fix it\n  {}\n\nWhere to look\n  {}\n",
        e.code, e.title, e.meaning, e.why, e.fix, e.look
    )
}

/// The list `nn-doctor explain` prints.
pub fn list() -> String {
    let mut s = String::from("Diagnosis codes (nn-doctor explain CODE for details):\n");
    for code in CODES {
        let title = explain(code).map_or("", |e| e.title);
        s.push_str(&format!("  {code:<22} {title}\n"));
    }
    s.push_str("\nGradient-check and verify-trace codes:\n");
    for e in &CHECK_CODES {
        s.push_str(&format!("  {:<29} {}\n", e.code, e.title));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_exactly_one_explanation() {
        for code in CODES {
            assert_eq!(
                EXPLANATIONS.iter().filter(|e| e.code == code).count(),
                1,
                "{code}"
            );
        }
        assert_eq!(EXPLANATIONS.len(), CODES.len());
    }

    /// Truth: the codes gradcheck (catalogue, constant-factor, the
    /// inconclusive reasons) and verify-trace (its own patterns) print.
    #[test]
    fn every_check_code_is_explained() {
        let mut codes: Vec<&str> = crate::gradcheck::catalogue::CATALOGUE
            .iter()
            .map(|e| e.code)
            .collect();
        codes.extend([
            "constant-factor",
            "non-finite-forward",
            "non-finite-backward",
            "wrong-layout",
            "shape-mismatch",
            "below-resolution",
            "all-kinks",
        ]);
        for code in codes {
            assert!(explain(code).is_some(), "{code}");
            assert_eq!(CHECK_CODES.iter().filter(|e| e.code == code).count(), 1);
        }
        assert!(list().contains("bias-gradient-wrong-axis"));
    }

    #[test]
    fn render_has_every_section() {
        let text = render(explain("saturated-activations").unwrap());
        for section in [
            "What it means",
            "Why it happens",
            "How to fix it",
            "Where to look",
        ] {
            assert!(text.contains(section));
        }
    }
}
