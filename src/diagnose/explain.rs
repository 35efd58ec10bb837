//! What a code means, why it happens, how to fix it and where to see it
//! (`nn-doctor explain CODE` prints it). A diagnosis code's text lives in its rule's
//! descriptor ([`RULES`]); the gradient-check and verify-trace codes, which
//! no diagnosis rule emits, are listed here.

use super::registry::RULES;
pub use super::rule::Explanation;

/// An explained code: a diagnosis or a check code.
#[derive(Debug, Clone, Copy)]
pub struct Explained {
    pub code: &'static str,
    pub explanation: &'static Explanation,
}

/// A gradient-check or verify-trace code.
#[derive(Debug, Clone, Copy)]
pub struct CheckCode {
    pub code: &'static str,
    pub explanation: Explanation,
}

pub const CHECK_CODES: [CheckCode; 25] = [
    CheckCode {
        code: "missing-output-derivative",
        explanation: Explanation {
            title: "the output delta lacks the output activation's Jacobian",
            meaning: "The output layer's delta is dL/dy, not dL/dz: the derivative of the output activation (softmax, sigmoid) was left out, typically softmax + MSE with the softmax derivative 'set to 1'.",
            why: "Softmax + cross-entropy cancel to (a - t), so people drop the Jacobian; under MSE it does not cancel.",
            fix: "Multiply dL/dy by the Jacobian (softmax: a * (g - sum(g * a)) per row), or use cross-entropy.",
            look: "gradcheck.csv (every comparison, with status and state) and the text table's first-wrong lines; verify-trace's report names the tensor.",
        },
    },
    CheckCode {
        code: "missing-activation-derivative",
        explanation: Explanation {
            title: "a hidden delta is not multiplied by f'(z)",
            meaning: "A hidden layer's delta is delta_next W_next^T without the factor f'(z) of its activation.",
            why: "The chain rule's activation factor was forgotten, or the derivative function returns 1.",
            fix: "delta_l = (delta_{l+1} W_{l+1}^T) * f'(z_l).",
            look: "gradcheck.csv (every comparison, with status and state) and the text table's first-wrong lines; verify-trace's report names the tensor.",
        },
    },
    CheckCode {
        code: "derivative-at-wrong-point",
        explanation: Explanation {
            title: "f' is evaluated at the activation instead of the pre-activation",
            meaning: "The activation derivative is computed as f'(a) with a = f(z) already applied (sigmoid'(sigmoid(z))).",
            why: "Derivative helpers written in terms of a (sigmoid: a(1 - a)) get called with z, or ones written in z get called with a.",
            fix: "Evaluate f' at z, or use the a-form (sigmoid a(1 - a), tanh 1 - a^2) with a, never both.",
            look: "gradcheck.csv (every comparison, with status and state) and the text table's first-wrong lines; verify-trace's report names the tensor.",
        },
    },
    CheckCode {
        code: "wrong-weights-in-backprop",
        explanation: Explanation {
            title: "the delta goes back through wrongly laid-out weights",
            meaning: "The delta is propagated through the next layer's weight matrix read in the wrong layout (reshaped instead of transposed).",
            why: "A reshape to the needed shape silently succeeds where a transpose was meant.",
            fix: "Propagate through W_next transposed (W.T), not a reshape.",
            look: "gradcheck.csv (every comparison, with status and state) and the text table's first-wrong lines; verify-trace's report names the tensor.",
        },
    },
    CheckCode {
        code: "transposed-weight-gradient",
        explanation: Explanation {
            title: "the weight gradient is stored transposed",
            meaning: "The weight gradient was computed as delta^T x ([units, fan_in]) and stored into the [fan_in, units] buffer without transposing.",
            why: "Layout conventions differ between libraries (x @ W vs W x); a flat copy hides the mismatch.",
            fix: "Build the gradient in the weights' own layout: input^T delta for x @ W.",
            look: "gradcheck.csv (every comparison, with status and state) and the text table's first-wrong lines; verify-trace's report names the tensor.",
        },
    },
    CheckCode {
        code: "wrong-layer-input",
        explanation: Explanation {
            title: "the weight gradient uses the wrong layer's input",
            meaning: "A layer's weight gradient is built from another tensor than its own input: its own output, the network input, activations two layers down, or the pre-activations z instead of the activations a.",
            why: "Off-by-one indices into the list of cached activations, or caching z where a was meant.",
            fix: "grad_W_l = a_{l-1}^T delta_l, with a_0 = x.",
            look: "gradcheck.csv (every comparison, with status and state) and the text table's first-wrong lines; verify-trace's report names the tensor.",
        },
    },
    CheckCode {
        code: "bias-gradient-wrong-axis",
        explanation: Explanation {
            title: "the bias gradient sums over the wrong axis",
            meaning: "The bias gradient is not delta summed over the samples of the batch: it was summed over the units, or over everything (sum(delta) without an axis, broadcast to each unit).",
            why: "A reduction without an explicit axis.",
            fix: "grad_b = delta.sum(axis=0): one value per unit.",
            look: "gradcheck.csv (every comparison, with status and state) and the text table's first-wrong lines; verify-trace's report names the tensor.",
        },
    },
    CheckCode {
        code: "sign-flipped",
        explanation: Explanation {
            title: "the gradient has the wrong sign",
            meaning: "The analytic gradient is minus the true one, so the update climbs the loss.",
            why: "An error written as target - output, or a sign lost in the loss derivative.",
            fix: "The output delta is (y - t) (times the Jacobian); the update subtracts the gradient.",
            look: "gradcheck.csv (every comparison, with status and state) and the text table's first-wrong lines; verify-trace's report names the tensor.",
        },
    },
    CheckCode {
        code: "batch-sum-not-mean",
        explanation: Explanation {
            title: "the gradient is summed over the batch although the loss is a mean",
            meaning: "The gradient is too large by the batch size: the 1/batch of the mean loss is missing from the backward pass.",
            why: "The loss divides by the batch size, the backward pass does not (or the other way round).",
            fix: "Divide the output delta by the batch size, or declare the loss a sum.",
            look: "gradcheck.csv (every comparison, with status and state) and the text table's first-wrong lines; verify-trace's report names the tensor.",
        },
    },
    CheckCode {
        code: "constant-factor",
        explanation: Explanation {
            title: "the gradient is off by a constant factor",
            meaning: "Every element of the tensor is the true gradient times one constant (given as the factor).",
            why: "A missing or extra constant: the 1/2 of MSE, the 1/batch of the mean, a learning rate folded into the gradient.",
            fix: "Find the constant from the factor (2, 0.5, the batch size, the learning rate) and remove it.",
            look: "gradcheck.csv (every comparison, with status and state) and the text table's first-wrong lines; verify-trace's report names the tensor.",
        },
    },
    CheckCode {
        code: "non-finite-forward",
        explanation: Explanation {
            title: "a forward tensor of the trace is NaN or Inf",
            meaning: "verify-trace found a NaN or Inf in an activation or pre-activation of the dumped step.",
            why: "exp overflow in a naive softmax, unscaled inputs, exploding weights.",
            fix: "Compute softmax as exp(z - max z) / sum; scale inputs; use fan-in-scaled init.",
            look: "verify-trace's report: the first tensor with a non-finite value and its index.",
        },
    },
    CheckCode {
        code: "non-finite-backward",
        explanation: Explanation {
            title: "a backward tensor of the trace is NaN or Inf",
            meaning: "verify-trace found a NaN or Inf in a delta or gradient while the forward pass was finite.",
            why: "Division by zero or log(0) in a loss derivative, an exp that overflows in backward.",
            fix: "Compute loss derivatives from the pre-activations; avoid dividing by probabilities that can be 0.",
            look: "verify-trace's report: the first non-finite backward tensor.",
        },
    },
    CheckCode {
        code: "wrong-layout",
        explanation: Explanation {
            title: "a trace tensor is stored in the other weight layout",
            meaning: "A weight-shaped tensor matches the reference once transposed: it was saved as [out, in] where [in, out] was declared, or the reverse.",
            why: "PyTorch stores Linear weights [out, in]; x @ W code uses [in, out].",
            fix: "Declare weight_layout in trace.toml, or transpose before saving.",
            look: "verify-trace's report: the tensor and both layouts.",
        },
    },
    CheckCode {
        code: "shape-mismatch",
        explanation: Explanation {
            title: "a trace tensor has the wrong shape",
            meaning: "A tensor in the trace does not have the shape the trace format gives it, and no transpose fixes it.",
            why: "Saving the wrong array, a missing batch axis, a flattened tensor.",
            fix: "Save activations and deltas as [batch, units], gradients with their parameter's shape, bias gradients as [units].",
            look: "verify-trace's report: expected and found shapes.",
        },
    },
    CheckCode {
        code: "below-resolution",
        explanation: Explanation {
            title: "gradcheck inconclusive: the gradients are below what finite differences resolve",
            meaning: "Every comparison of a tensor had |analytic| and |numeric| below 10x the central difference's noise floor (atol + 100 eps_machine |L| / epsilon), so none could pass or fail. The tensor is not a pass; gradcheck re-checks the same backward code at the probe state (weights redrawn with unit gain, inputs standardised, fixed seed) and reports which state decided it.",
            why: "Saturated units (slopes of 1e-22), a tiny initialisation, or a huge loss make the gradients smaller than the round-off of a difference of losses.",
            fix: "Nothing to fix in the check: read the probe state's verdict. The network itself is probably saturated: see saturated-activations and vanishing-gradients.",
            look: "gradcheck.csv: rows with status below-resolution (state point) and the probe rows (state probe); the table's 'at probe (point: below-resolution)'.",
        },
    },
    CheckCode {
        code: "all-kinks",
        explanation: Explanation {
            title: "gradcheck inconclusive: every comparison crossed a ReLU kink",
            meaning: "Every perturbation of the tensor flipped the sign of some ReLU-family pre-activation, where the loss has no derivative, so no comparison counts. The same backward code is re-checked at the probe state.",
            why: "ReLU inputs sitting exactly on 0 (zero weights and biases, dead units with zero input).",
            fix: "Nothing to fix in the check: read the probe state's verdict; zero-initialised ReLU layers are themselves a problem (poor-initialization).",
            look: "gradcheck.csv: rows with status kink; the JUnit file marks the tensor skipped with the reason.",
        },
    },
    CheckCode {
        code: "conv-kernel-not-rotated",
        explanation: Explanation {
            title: "the convolution's input gradient uses the kernel unrotated",
            meaning: "dL/dx of a convolution is the full correlation of the (stride-dilated) output gradient with the kernel rotated by 180 degrees; this one correlates with the kernel as stored.",
            why: "Writing the backward as 'another convolution with the same weights' without flipping them.",
            fix: "Flip the kernel in both spatial axes (w[:, :, ::-1, ::-1]) and swap its in/out axes, or scatter each output gradient back to the input positions it read (dx[.., s*i+u, s*j+v] += dz[.., i, j] * w[.., u, v]).",
            look: "gradcheck.csv (every comparison, with status and state) and the text table's first-wrong lines; verify-trace names the layer whose grad_input diverges first.",
        },
    },
    CheckCode {
        code: "conv-backward-padding",
        explanation: Explanation {
            title: "the convolution's input gradient ignores the padding",
            meaning: "The forward padded the input; the backward maps output positions back without the padding offset, so the input gradient is shifted and its border is lost.",
            why: "Cropping the padded gradient at [0:H] instead of [p:p+H], or forgetting that the padded input is bigger.",
            fix: "Accumulate into the padded shape and crop dx_padded[:, :, p:p+H, p:p+W].",
            look: "gradcheck.csv (every comparison, with status and state) and the text table's first-wrong lines; verify-trace names the layer whose grad_input diverges first.",
        },
    },
    CheckCode {
        code: "conv-backward-stride",
        explanation: Explanation {
            title: "the convolution's input gradient ignores the stride",
            meaning: "With stride s, output position i read input rows s*i .. s*i+k-1; this backward scatters it back as if the stride were 1 (the output gradient not dilated by the stride).",
            why: "Reusing a stride-1 backward for a strided layer.",
            fix: "Dilate dz with s-1 zeros between elements before the full correlation, or scatter at s*i+u.",
            look: "gradcheck.csv (every comparison, with status and state) and the text table's first-wrong lines; verify-trace names the layer whose grad_input diverges first.",
        },
    },
    CheckCode {
        code: "maxpool-wrong-element",
        explanation: Explanation {
            title: "the max-pool gradient goes to the wrong element",
            meaning: "Each window's gradient must go to the element that was the maximum; this one goes to another position of the window (the maximum's position transposed: a flat argmax unravelled in the wrong order).",
            why: "Unravelling a flat argmax with the window's width and height swapped, or storing indices in another layout than the one read back.",
            fix: "Store the argmax per window in the forward and unravel it as (idx // k, idx % k) for a row-major window.",
            look: "gradcheck.csv (every comparison, with status and state) and the text table's first-wrong lines; verify-trace names the layer whose grad_input diverges first.",
        },
    },
    CheckCode {
        code: "maxpool-spread",
        explanation: Explanation {
            title: "the max-pool gradient is spread over the window",
            meaning: "The gradient of each window is divided evenly over its elements, as for average pooling, instead of routed to the maximum alone.",
            why: "Copying the average-pool backward into the max-pool layer.",
            fix: "Route dz to the argmax of each window; the other elements get zero.",
            look: "gradcheck.csv (every comparison, with status and state) and the text table's first-wrong lines; verify-trace names the layer whose grad_input diverges first.",
        },
    },
    CheckCode {
        code: "batchnorm-stats-constant",
        explanation: Explanation {
            title: "batch norm's backward treats the batch mean and variance as constants",
            meaning: "In training, the mean and variance are functions of the batch; dL/dx = gamma/sqrt(var+eps) * (dy - mean(dy) - xhat*mean(dy*xhat)). This backward keeps only the first term.",
            why: "Differentiating the normalisation as if mean and variance were parameters.",
            fix: "Include the two terms through the statistics (the formula above, means per channel over batch and positions).",
            look: "gradcheck.csv (every comparison, with status and state) and the text table's first-wrong lines; verify-trace names the layer whose grad_input diverges first.",
        },
    },
    CheckCode {
        code: "dropout-no-mask",
        explanation: Explanation {
            title: "dropout's backward does not apply the mask",
            meaning: "Units dropped in the forward pass must get zero gradient; this backward passes the gradient to every unit.",
            why: "Scaling the gradient by 1/(1-rate) but forgetting to store and reuse the mask.",
            fix: "Keep the forward mask and multiply: dx = dy * mask / (1 - rate).",
            look: "gradcheck.csv (every comparison, with status and state) and the text table's first-wrong lines; verify-trace names the layer whose grad_input diverges first.",
        },
    },
    CheckCode {
        code: "dropout-no-scale",
        explanation: Explanation {
            title: "dropout's backward misses the 1/(1-rate) scale",
            meaning: "Inverted dropout multiplies kept units by 1/(1-rate) in the forward pass; the backward must apply the same factor.",
            why: "Applying the mask as 0/1 in the backward while the forward scaled.",
            fix: "dx = dy * mask / (1 - rate).",
            look: "gradcheck.csv (every comparison, with status and state) and the text table's first-wrong lines; verify-trace names the layer whose grad_input diverges first.",
        },
    },
    CheckCode {
        code: "flatten-order",
        explanation: Explanation {
            title: "flatten's backward uses another order than its forward",
            meaning: "The forward flattened [C, H, W] channels-first; the backward reshapes the gradient channels-last (H, W, C), so each input position receives another position's gradient.",
            why: "Mixing NCHW and NHWC conventions (e.g. a transpose before the reshape on one side only).",
            fix: "Unflatten with exactly the inverse of the forward: dx = dy.reshape(N, C, H, W).",
            look: "gradcheck.csv (every comparison, with status and state) and the text table's first-wrong lines; verify-trace names the layer whose grad_input diverges first.",
        },
    },
];

/// The explanation of `code` (a diagnosis or a check code).
pub fn explain(code: &str) -> Option<Explained> {
    RULES
        .iter()
        .map(|r| Explained {
            code: r.name,
            explanation: &r.explanation,
        })
        .chain(CHECK_CODES.iter().map(|c| Explained {
            code: c.code,
            explanation: &c.explanation,
        }))
        .find(|e| e.code == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_exactly_one_explanation() {
        for rule in RULES {
            assert!(!rule.explanation.title.is_empty(), "{}", rule.name);
            assert_eq!(
                explain(rule.name).map(|e| e.explanation.title),
                Some(rule.explanation.title)
            );
            assert!(CHECK_CODES.iter().all(|c| c.code != rule.name));
        }
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
    }
}
