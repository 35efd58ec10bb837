//! What to do about each pattern `verify-trace` can name: one concrete
//! change to the user's backward pass (or to the trace's declarations).

/// The suggestion for a pattern code (None: matches nothing known).
pub fn suggestion(pattern: Option<&str>) -> &'static str {
    match pattern {
        Some("missing-output-derivative") => "Multiply dL/dy by the output activation's Jacobian (softmax: delta = a * (g - sum(g * a)) per row), or pair softmax with cross-entropy, whose output delta is simply (a - t) / batch.",
        Some("missing-activation-derivative") => "Multiply the back-propagated delta by this layer's f'(z): delta_l = (delta_{l+1} W_{l+1}^T) * f'(z_l).",
        Some("derivative-at-wrong-point") => "Evaluate f' at the pre-activation z, or use the form written in a = f(z) (sigmoid: a(1 - a), tanh: 1 - a^2) without applying f again.",
        Some("wrong-weights-in-backprop") => "Propagate the delta through the transpose of the next layer's weight matrix (W.T), not through a reshape of it.",
        Some("transposed-weight-gradient") => "Build the weight gradient in the weights' own layout: in_out: input^T delta; out_in: delta^T input. Transpose, do not reshape.",
        Some("wrong-layer-input") => "Build this layer's weight gradient from its own input: the previous layer's activations (x for layer 1), not its pre-activations or another layer's output.",
        Some("bias-gradient-wrong-axis") => "Sum the delta over the batch axis: grad_bias = delta.sum(axis=0), one value per unit.",
        Some("sign-flipped") => "Fix the sign: the output delta is (y - t), and the gradient is dL/dW (the update subtracts it).",
        Some("batch-sum-not-mean") => "Divide by the batch size (the loss is declared a mean), or declare reduction = \"sum\" if the sum is intended.",
        Some("constant-factor") => "Look for a missing or extra constant: the 1/2 of the MSE (declare mse_half), the 1/batch of the mean (declare reduction), a learning rate folded into the gradient.",
        Some("non-finite-forward") => "Compute softmax as exp(z - max z) / sum exp(z - max z) and log-softmax through log-sum-exp, so exp never overflows; check the input scale and the initialisation.",
        Some("non-finite-backward") => "Look for overflow or division by zero in the backward pass (a log(0) in the loss derivative, an exp that overflows); compute loss derivatives from the pre-activations.",
        Some("wrong-layout") => "Declare the layout the arrays are stored in (weight_layout = \"in_out\" for x @ W, \"out_in\" for PyTorch's [out, in]) or transpose before saving.",
        Some("shape-mismatch") => "Save the tensor with the shape the trace format gives it ([batch, units] for activations and deltas, the weight's shape for its gradient, [units] for a bias gradient).",
        _ => "Compare this tensor's formula with the reference step by step; the tensors before it in computation order agree, so the mistake is in the operation that produced it.",
    }
}
