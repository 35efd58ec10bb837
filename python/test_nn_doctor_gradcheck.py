"""Tests of nn_doctor_gradcheck (the PyTorch gradient check with
nn-doctor's verdicts). Needs torch; nothing else (no build of the Rust
binary: the JSON keys are compared with its output only when it exists):

    python3 -m pytest python/test_nn_doctor_gradcheck.py -q
    # or without pytest:
    python3 python/test_nn_doctor_gradcheck.py

The proof: custom autograd Functions written the way people write them
(ctx.save_for_backward, hand-written backward), each correct version and
independent, hand-written bug forms of them (not produced by an injector).
Every correct version must pass (no fail, nothing inconclusive, also on
kinks and ties); every bug form must fail at exactly the tensors whose
gradient is really wrong (found by comparing with autograd of a plain torch
reference), with the worst element located; the mistake named is counted
separately (named may be lower than caught, misnamed must be 0). The
comparison with torch.autograd.gradcheck is bench/gradcheck_torch.py, not
a test.
"""
import json
import math
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

import torch
import torch.nn.functional as F
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from nn_doctor_gradcheck import gradcheck  # noqa: E402

BIN = os.environ.get("NN_DOCTOR", os.path.join(HERE, "..", "target", "release", "nn-doctor"))

try:
    import pytest

    SkipTest = pytest.skip.Exception

    def skip(reason):
        pytest.skip(reason)
except ImportError:  # run without pytest (__main__ below)
    class SkipTest(Exception):
        pass

    def skip(reason):
        raise SkipTest(reason)

D = torch.float64


# ===================================================== correct Functions
class LinearFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input, weight, bias):
        ctx.save_for_backward(input, weight)
        return input.mm(weight.t()) + bias

    @staticmethod
    def backward(ctx, grad_output):
        input, weight = ctx.saved_tensors
        grad_input = grad_output.mm(weight)
        grad_weight = grad_output.t().mm(input)
        grad_bias = grad_output.sum(0)
        return grad_input, grad_weight, grad_bias


class SigmoidFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = 1 / (1 + torch.exp(-x))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return grad_output * y * (1 - y)


class TanhFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = torch.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return grad_output * (1 - y ** 2)


class SoftmaxFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        e = torch.exp(x - x.max(dim=1, keepdim=True).values)
        y = e / e.sum(dim=1, keepdim=True)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return y * (grad_output - (grad_output * y).sum(dim=1, keepdim=True))


class LinearSigmoidFunction(torch.autograd.Function):
    """A fused layer: sigmoid(x W^T + b)."""

    @staticmethod
    def forward(ctx, x, W, b):
        y = torch.sigmoid(x @ W.T + b)
        ctx.save_for_backward(x, W, y)
        return y

    @staticmethod
    def backward(ctx, grad_output):
        x, W, y = ctx.saved_tensors
        dz = grad_output * y * (1 - y)
        return dz @ W, dz.T @ x, dz.sum(0)


class LinearReLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, W, b):
        z = x @ W.T + b
        ctx.save_for_backward(x, W, z)
        return z.clamp(min=0)

    @staticmethod
    def backward(ctx, grad_output):
        x, W, z = ctx.saved_tensors
        dz = grad_output * (z > 0).to(grad_output.dtype)
        return dz @ W, dz.T @ x, dz.sum(0)


class ReLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return input.clamp(min=0)

    @staticmethod
    def backward(ctx, grad_output):
        (input,) = ctx.saved_tensors
        grad_input = grad_output.clone()
        grad_input[input < 0] = 0
        return grad_input


class LeakyReLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, slope=0.01):
        ctx.save_for_backward(x)
        ctx.slope = slope
        return torch.where(x > 0, x, slope * x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return torch.where(x > 0, grad_output, ctx.slope * grad_output), None


class MSELossFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, pred, target):
        ctx.save_for_backward(pred, target)
        return ((pred - target) ** 2).mean()

    @staticmethod
    def backward(ctx, grad_output):
        pred, target = ctx.saved_tensors
        grad = 2 * (pred - target) / pred.numel() * grad_output
        return grad, -grad


class LayerNormFunction(torch.autograd.Function):
    """Normalises each row, then scales and shifts: layer norm."""

    @staticmethod
    def forward(ctx, x, gamma, beta, eps=1e-5):
        mu = x.mean(dim=1, keepdim=True)
        var = ((x - mu) ** 2).mean(dim=1, keepdim=True)
        rstd = 1 / torch.sqrt(var + eps)
        xhat = (x - mu) * rstd
        ctx.save_for_backward(xhat, rstd, gamma)
        return xhat * gamma + beta

    @staticmethod
    def backward(ctx, g):
        xhat, rstd, gamma = ctx.saved_tensors
        dxhat = g * gamma
        dx = rstd * (dxhat - dxhat.mean(1, keepdim=True)
                     - xhat * (dxhat * xhat).mean(1, keepdim=True))
        return dx, (g * xhat).sum(0), g.sum(0), None


class Conv2dUnfoldFunction(torch.autograd.Function):
    """conv2d (stride 1, no padding) as a matrix product over unfolded patches."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        B, C, H, W = x.shape
        O, _, kh, kw = weight.shape
        cols = F.unfold(x, (kh, kw))                      # B, C*kh*kw, L
        out = weight.view(O, -1) @ cols + bias.view(1, O, 1)
        ctx.save_for_backward(cols, weight)
        ctx.shape = (H, W)
        return out.view(B, O, H - kh + 1, W - kw + 1)

    @staticmethod
    def backward(ctx, grad_output):
        cols, weight = ctx.saved_tensors
        B, O = grad_output.shape[:2]
        kh, kw = weight.shape[2:]
        g = grad_output.reshape(B, O, -1)
        grad_weight = (g @ cols.transpose(1, 2)).sum(0).view_as(weight)
        grad_bias = g.sum((0, 2))
        grad_cols = weight.view(O, -1).t() @ g
        grad_x = F.fold(grad_cols, ctx.shape, (kh, kw))
        return grad_x, grad_weight, grad_bias


class MaxDimFunction(torch.autograd.Function):
    """Row maximum; the gradient goes to the element torch.max picked."""

    @staticmethod
    def forward(ctx, x):
        values, idx = x.max(dim=1)
        ctx.save_for_backward(idx)
        ctx.shape = x.shape
        return values

    @staticmethod
    def backward(ctx, grad_output):
        (idx,) = ctx.saved_tensors
        grad = grad_output.new_zeros(ctx.shape)
        grad.scatter_(1, idx.unsqueeze(1), grad_output.unsqueeze(1))
        return grad


# ==================================== bug forms, written by hand (not injected)
class LinearTransposedWeightGrad(LinearFunction):
    @staticmethod
    def backward(ctx, grad_output):
        input, weight = ctx.saved_tensors
        grad_input = grad_output.mm(weight)
        grad_weight = input.t().mm(grad_output)      # should be grad_output.t().mm(input)
        grad_bias = grad_output.sum(0)
        return grad_input, grad_weight, grad_bias


class LinearBiasWrongAxis(LinearFunction):
    @staticmethod
    def backward(ctx, grad_output):
        input, weight = ctx.saved_tensors
        grad_input = grad_output.mm(weight)
        grad_weight = grad_output.t().mm(input)
        grad_bias = grad_output.sum(1)               # should sum over the batch, dim 0
        return grad_input, grad_weight, grad_bias


class MSEForgottenSign(MSELossFunction):
    @staticmethod
    def backward(ctx, grad_output):
        pred, target = ctx.saved_tensors
        grad = 2 * (target - pred) / pred.numel() * grad_output   # error = target - output
        return grad, -grad


class MSEFactorTwoMissing(MSELossFunction):
    @staticmethod
    def backward(ctx, grad_output):
        pred, target = ctx.saved_tensors
        grad = (pred - target) / pred.numel() * grad_output       # d/dp (p - t)^2 = 2 (p - t)
        return grad, -grad


class MSESumNotMean(MSELossFunction):
    @staticmethod
    def backward(ctx, grad_output):
        pred, target = ctx.saved_tensors
        grad = 2 * (pred - target) * grad_output                  # the 1/n of the mean forgotten
        return grad, -grad


class LinearSigmoidMissingDerivative(LinearSigmoidFunction):
    @staticmethod
    def backward(ctx, grad_output):
        x, W, y = ctx.saved_tensors
        dz = grad_output                                          # sigmoid'(z) forgotten
        return dz @ W, dz.T @ x, dz.sum(0)


class SigmoidDerivativeAtOutput(SigmoidFunction):
    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        s = torch.sigmoid(y)                                      # y already is sigmoid(x)
        return grad_output * s * (1 - s)


class SoftmaxMissingJacobian(SoftmaxFunction):
    @staticmethod
    def backward(ctx, grad_output):
        return grad_output                                        # "the loss takes care of it"


class SoftmaxJacobianWrongAxis(SoftmaxFunction):
    @staticmethod
    def backward(ctx, grad_output):
        (y,) = ctx.saved_tensors
        return y * (grad_output - (grad_output * y).sum(dim=0, keepdim=True))


class LinearReLUMaskFromInput(LinearReLUFunction):
    @staticmethod
    def backward(ctx, grad_output):
        x, W, z = ctx.saved_tensors
        dz = grad_output * (x > 0).to(grad_output.dtype)          # mask of the layer input, not z
        return dz @ W, dz.T @ x, dz.sum(0)


class TanhDerivativeOfInput(TanhFunction):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.tanh(x)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * (1 - x ** 2)                         # 1 - y^2 written with x


class LeakyReLUSlopeForgotten(LeakyReLUFunction):
    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * (x > 0).to(grad_output.dtype), None  # ReLU's backward reused


class LayerNormMeanAsConstant(LayerNormFunction):
    @staticmethod
    def backward(ctx, g):
        xhat, rstd, gamma = ctx.saved_tensors
        dxhat = g * gamma
        dx = rstd * (dxhat - xhat * (dxhat * xhat).mean(1, keepdim=True))   # - mean(dxhat) lost
        return dx, (g * xhat).sum(0), g.sum(0), None


class Conv2dUnfoldWeightReshaped(Conv2dUnfoldFunction):
    @staticmethod
    def backward(ctx, grad_output):
        cols, weight = ctx.saved_tensors
        B, O = grad_output.shape[:2]
        kh, kw = weight.shape[2:]
        g = grad_output.reshape(B, O, -1)
        grad_weight = (g @ cols.transpose(1, 2)).sum(0).view_as(weight)
        grad_bias = g.sum((0, 2))
        grad_cols = weight.view(-1, O) @ g                        # reshaped, not transposed
        grad_x = F.fold(grad_cols, ctx.shape, (kh, kw))
        return grad_x, grad_weight, grad_bias


class MaxDimIndexedWrongly(MaxDimFunction):
    @staticmethod
    def backward(ctx, grad_output):
        (idx,) = ctx.saved_tensors
        grad = grad_output.new_zeros(ctx.shape)
        grad[:, idx] = grad_output                                # needs grad[arange(B), idx]
        return grad


# ======================================================= the cases
def _gen(seed):
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def randn(*shape, seed, grad=True, scale=1.0):
    return (torch.randn(*shape, generator=_gen(seed), dtype=D) * scale).requires_grad_(grad)


def ties(*shape, seed):
    """Values on a 0.5 grid: repeated maxima in most rows."""
    x = torch.randint(-2, 3, shape, generator=_gen(seed)).to(D) / 2
    return x.requires_grad_(True)


def linear_inputs(batch=6, fan_in=4, out=3, seed=1):
    return (randn(batch, fan_in, seed=seed), randn(out, fan_in, seed=seed + 1, scale=0.5),
            randn(out, seed=seed + 2, scale=0.1))


def mse_inputs(seed=3):
    return randn(8, 3, seed=seed), randn(8, 3, seed=seed + 1, grad=False)


def layernorm_inputs(seed=5):
    return (randn(6, 5, seed=seed, scale=2.0), 1 + randn(5, seed=seed + 1, scale=0.3).detach()
            .requires_grad_(), randn(5, seed=seed + 2, scale=0.3))


def conv_inputs(seed=7):
    return (randn(2, 2, 5, 5, seed=seed), randn(3, 2, 3, 3, seed=seed + 1, scale=0.4),
            randn(3, seed=seed + 2, scale=0.1))


def relu_input(seed=9):
    """N(0, 1) with some exact zeros: kinks at those elements."""
    x = torch.randn(6, 5, generator=_gen(seed), dtype=D)
    x[::2, ::2] = 0
    return x.requires_grad_(True)


# Plain torch references of each forward, differentiated by autograd: the
# truth the bug forms are compared with.
def ref_linear(x, W, b):
    return x @ W.T + b


def ref_mse(p, t):
    return ((p - t) ** 2).mean()


def ref_layernorm(x, g, b):
    return F.layer_norm(x, (x.shape[1],), g, b, eps=1e-5)


def ref_conv(x, W, b):
    return F.conv2d(x, W, b)


def ref_maxdim(x):
    # the same element torch.max picks, so ties agree with the Function
    idx = x.detach().max(dim=1).indices
    return x.gather(1, idx.unsqueeze(1)).squeeze(1)


CORRECT = {
    # name: (function, inputs factory, torch reference)
    "linear": (LinearFunction.apply, linear_inputs, ref_linear),
    "linear (square)": (LinearFunction.apply, lambda: linear_inputs(5, 5, 5, seed=11),
                        ref_linear),
    "sigmoid": (SigmoidFunction.apply, lambda: (randn(6, 4, seed=13, scale=2.0),), torch.sigmoid),
    "tanh": (TanhFunction.apply, lambda: (randn(6, 4, seed=15),), torch.tanh),
    "softmax": (SoftmaxFunction.apply, lambda: (randn(5, 4, seed=17, scale=2.0),),
                lambda x: torch.softmax(x, dim=1)),
    "linear+sigmoid": (LinearSigmoidFunction.apply, linear_inputs,
                       lambda x, W, b: torch.sigmoid(x @ W.T + b)),
    "linear+relu": (LinearReLUFunction.apply, lambda: linear_inputs(5, 5, 5, seed=19),
                    lambda x, W, b: torch.relu(x @ W.T + b)),
    # (the tutorial's backward passes the gradient at exactly 0: so does the reference)
    "relu (exact zeros)": (ReLUFunction.apply, lambda: (relu_input(),),
                           lambda x: torch.where(x >= 0, x, 0 * x)),
    "leaky relu": (LeakyReLUFunction.apply, lambda: (randn(6, 5, seed=21),),
                   lambda x: F.leaky_relu(x, 0.01)),
    "mse loss": (MSELossFunction.apply, mse_inputs, ref_mse),
    "layer norm": (LayerNormFunction.apply, layernorm_inputs, ref_layernorm),
    "conv2d via unfold": (Conv2dUnfoldFunction.apply, conv_inputs, ref_conv),
    "max over dim (ties)": (MaxDimFunction.apply, lambda: (ties(6, 5, seed=23),), ref_maxdim),
}

# name: (buggy function, inputs factory, reference, expected catalogue code or None)
BUGS = {
    "transposed weight gradient": (LinearTransposedWeightGrad.apply,
                                   lambda: linear_inputs(5, 5, 5, seed=11), ref_linear,
                                   "transposed-weight-gradient"),
    "bias summed over the wrong axis": (LinearBiasWrongAxis.apply,
                                        lambda: linear_inputs(5, 4, 5, seed=25), ref_linear,
                                        "bias-gradient-wrong-axis"),
    "forgotten sign (target - output)": (MSEForgottenSign.apply, mse_inputs, ref_mse,
                                         "sign-flipped"),
    "factor 2 missing in MSE": (MSEFactorTwoMissing.apply, mse_inputs, ref_mse,
                                "constant-factor"),
    "sum instead of mean": (MSESumNotMean.apply, mse_inputs, ref_mse, "batch-sum-not-mean"),
    "missing sigmoid'(z)": (LinearSigmoidMissingDerivative.apply, linear_inputs,
                            lambda x, W, b: torch.sigmoid(x @ W.T + b),
                            "missing-activation-derivative"),
    "sigmoid' at the output": (SigmoidDerivativeAtOutput.apply,
                               lambda: (randn(6, 4, seed=13, scale=2.0),), torch.sigmoid,
                               "derivative-at-wrong-point"),
    "missing softmax Jacobian": (SoftmaxMissingJacobian.apply,
                                 lambda: (randn(5, 4, seed=17, scale=2.0),),
                                 lambda x: torch.softmax(x, dim=1),
                                 "missing-activation-derivative"),
    "softmax Jacobian summed over the wrong axis": (SoftmaxJacobianWrongAxis.apply,
                                                    lambda: (randn(5, 4, seed=17, scale=2.0),),
                                                    lambda x: torch.softmax(x, dim=1),
                                                    "wrong-reduction-axis"),
    "relu mask from the wrong tensor": (LinearReLUMaskFromInput.apply,
                                        lambda: linear_inputs(5, 5, 5, seed=19),
                                        lambda x, W, b: torch.relu(x @ W.T + b), None),
    "tanh' written with the input": (TanhDerivativeOfInput.apply,
                                      lambda: (randn(6, 4, seed=15),), torch.tanh, None),
    "leaky relu slope forgotten": (LeakyReLUSlopeForgotten.apply,
                                   lambda: (randn(6, 5, seed=21),),
                                   lambda x: F.leaky_relu(x, 0.01), None),
    "layer norm mean treated as constant": (LayerNormMeanAsConstant.apply, layernorm_inputs,
                                            ref_layernorm, None),
    "conv weight reshaped, not transposed": (Conv2dUnfoldWeightReshaped.apply, conv_inputs,
                                             ref_conv, None),
    "max index applied to every row": (MaxDimIndexedWrongly.apply,
                                       lambda: (randn(6, 5, seed=27),), ref_maxdim, None),
}


def output_weights(fn, inputs, seed=99):
    """Fixed U for f = <U, y>, so the test can differentiate the reference."""
    with torch.no_grad():
        ys = fn(*inputs)
    return torch.ones_like(ys) if ys.numel() == 1 else \
        torch.randn(ys.shape, generator=_gen(seed), dtype=D)


def true_and_buggy(fn, ref, inputs, U):
    """Gradients of <U, y> by autograd through the reference and through
    the Function under test, per input name order."""
    leaves = [x for x in inputs if isinstance(x, torch.Tensor) and x.requires_grad]
    truth = torch.autograd.grad((U * ref(*inputs)).sum(), leaves)
    got = torch.autograd.grad((U * fn(*inputs)).sum(), leaves)
    return truth, got


def run_bug(name):
    fn, make, ref, code = BUGS[name]
    inputs = make()
    U = output_weights(fn, inputs)
    report = gradcheck(fn, inputs, outputs_weight=U)
    truth, got = true_and_buggy(fn, ref, inputs, U)
    names = [t["name"] for t in report.tensors if t["tensor"] != "network"]
    wrong = {n for n, a, b in zip(names, truth, got)
             if not torch.allclose(a, b, rtol=1e-7, atol=1e-12)}
    return report, wrong, truth, names, code


# ======================================================= tests
def test_every_correct_function_passes():
    for name, (fn, make, ref) in CORRECT.items():
        inputs = make()
        r = gradcheck(fn, inputs)
        assert r.passed, (name, r.text())
        assert r.counts["inconclusive"] == 0 and r.counts["fail"] == 0, (name, r.text())
        assert all(t["verified_at"] == "point" for t in r.tensors), (name, r.text())
        # and the reference agrees the Function is right
        U = output_weights(fn, inputs)
        truth, got = true_and_buggy(fn, ref, inputs, U)
        for a, b in zip(truth, got):
            assert torch.allclose(a, b, rtol=1e-9, atol=1e-12), name


def test_correct_functions_pass_under_other_seeds():
    """No false fail with other element and direction draws."""
    for name, (fn, make, _) in CORRECT.items():
        for seed in (1, 2, 3):
            r = gradcheck(fn, make(), seed=seed)
            assert r.counts["fail"] == 0, (name, seed, r.text())
            assert r.passed, (name, seed, r.text())


def bug_results():
    out = {}
    for name in BUGS:
        report, wrong, truth, names, code = run_bug(name)
        fw = report.first_wrong
        caught = (report.status == "fail" and set(report.failing()) == wrong and fw is not None
                  and fw["name"] in wrong and fw["kind"] == "element")
        located = False
        if caught:
            k = names.index(fw["name"])
            idx = tuple(fw["index"])
            true_value = float(truth[k][idx])
            # the element is really wrong, and the numeric side is the truth
            located = (abs(fw["analytic"] - true_value) > 1e-3 * max(abs(true_value), 1e-3)
                       and abs(fw["numeric"] - true_value) <= 1e-5 * max(abs(true_value), 1.0))
        got = fw["pattern"]["code"] if fw and fw["pattern"] else None
        out[name] = {"caught": caught and located, "wrong": sorted(wrong),
                     "failing": report.failing(), "first": fw and (fw["name"], fw["index"]),
                     "expected": code, "named": got, "text": report.text()}
    return out


def test_every_bug_form_is_caught_located_and_named_or_left_unnamed():
    res = bug_results()
    caught = sum(r["caught"] for r in res.values())
    named = sum(r["caught"] and r["named"] is not None and r["named"] == r["expected"]
                for r in res.values())
    misnamed = [n for n, r in res.items() if r["named"] is not None
                and r["named"] != r["expected"]]
    print(f"\nbug forms: {len(res)}; caught (right tensors, element located): {caught}/{len(res)};"
          f" named with the right pattern: {named}/{len(res)}; misnamed: {len(misnamed)}")
    for n, r in res.items():
        print(f"  {'caught' if r['caught'] else 'MISSED':6}  {n:45} wrong {r['wrong']} "
              f"first {r['first']} named {r['named']}")
    assert caught == len(res), [(n, r["text"]) for n, r in res.items() if not r["caught"]]
    assert not misnamed, misnamed
    # Each pattern the checker can verify is named (the others stay unnamed).
    for n, r in res.items():
        assert r["named"] == r["expected"], (n, r["named"], r["expected"], r["text"])
    assert len(res) >= 10


def test_other_input_draws():
    """Every correct Function passes and every bug form is caught at the
    same tensors and named the same on other random inputs
    (NN_DOCTOR_GC_DRAWS draws, default 3; docs/pytorch-gradcheck.md: 25)."""
    global randn, ties
    draws = int(os.environ.get("NN_DOCTOR_GC_DRAWS", "3"))
    base_randn, base_ties = randn, ties
    false_fail, not_passed, missed, renamed = [], [], [], []
    try:
        for off in range(1, draws + 1):
            randn = lambda *s, seed, **k: base_randn(*s, seed=seed + 1000 * off, **k)  # noqa: E731
            ties = lambda *s, seed: base_ties(*s, seed=seed + 1000 * off)  # noqa: E731
            for name, (fn, make, _) in CORRECT.items():
                r = gradcheck(fn, make())
                if r.counts["fail"]:
                    false_fail.append((name, off))
                if not r.passed:
                    not_passed.append((name, off))
            for name in BUGS:
                report, wrong, _, _, code = run_bug(name)
                if set(report.failing()) != wrong or report.status != "fail":
                    missed.append((name, off))
                fw = report.first_wrong
                if (fw["pattern"]["code"] if fw and fw["pattern"] else None) != code:
                    renamed.append((name, off))
    finally:
        randn, ties = base_randn, base_ties
    print(f"\n{draws} input draws: {len(CORRECT) * draws} correct checks, false fails "
          f"{len(false_fail)}, not passed {len(not_passed)}; {len(BUGS) * draws} bug checks, "
          f"missed {len(missed)}, named differently {len(renamed)}")
    assert not false_fail and not not_passed and not missed and not renamed, \
        (false_fail, not_passed, missed, renamed)


def test_named_patterns_carry_their_factor():
    r, *_ = run_bug("sum instead of mean")
    p = r.first_wrong["pattern"]
    assert p["code"] == "batch-sum-not-mean" and abs(p["factor"] - 24) < 1e-6, p
    r, *_ = run_bug("factor 2 missing in MSE")
    p = r.first_wrong["pattern"]
    assert p["code"] == "constant-factor" and abs(p["factor"] - 0.5) < 1e-6, p
    r, *_ = run_bug("forgotten sign (target - output)")
    assert r.first_wrong["pattern"]["factor"] == -1.0


# ------------------------------------------------------- kinks and ties
def no_false_fail(fn, x, **kw):
    r = gradcheck(fn, (x,), **kw)
    assert r.counts["fail"] == 0, r.text()
    assert not any(row["status"] == "fail" for row in r.rows), r.text()
    return r


def test_kinks_are_recognised_and_never_fail():
    x = relu_input()
    r = no_false_fail(torch.relu, x)
    assert r.passed and r.tensors[0]["kinks"] > 0, r.text()
    # every element sitting on a kink is a kink row (or passed at the
    # shifted points), never judged on its averaged slope
    for row in r.rows:
        if row["kind"] == "element" and float(x.detach()[tuple(row["index"])]) == 0:
            assert row["kink"], row
    z = torch.zeros(4, 5, dtype=D)
    z[0, 0] = 1
    for fn in (torch.abs, lambda t: t.clamp(-0.5, 0.5)):
        x = torch.where(torch.arange(20).reshape(4, 5) % 3 == 0, torch.zeros(4, 5, dtype=D),
                        randn(4, 5, seed=31).detach())
        if fn is not torch.abs:
            x = torch.where(torch.arange(20).reshape(4, 5) % 4 == 1, torch.full_like(x, 0.5), x)
        r = no_false_fail(fn, x.requires_grad_(True))
        assert r.passed and r.tensors[0]["kinks"] > 0, r.text()


def test_max_pool_with_ties_never_fails():
    # 2x2 windows full of equal values: every element is a tie.
    x = torch.kron(torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=D), torch.ones(2, 2, dtype=D))
    x = x.reshape(1, 1, 4, 4).requires_grad_(True)
    r = no_false_fail(lambda t: F.max_pool2d(t, 2), x)
    t = r.tensors[0]
    # at the point nothing can be judged; the probe (no ties) passes it
    assert t["status"] == "pass" and t["verified_at"] == "probe", r.text()
    assert t["reason"] == "all-kinks" or t["reason"] == "below-resolution", t
    r = no_false_fail(lambda t: F.max_pool2d(t, 2), x, probe=False)
    assert r.status == "inconclusive" and r.tensors[0]["reason"] in ("all-kinks",
                                                                       "below-resolution")
    # partly tied windows: the other windows pass at the point
    x = ties(2, 2, 6, 6, seed=33)
    r = no_false_fail(lambda t: F.max_pool2d(t, 2), x)
    assert r.passed, r.text()


def test_smooth_curvature_is_not_a_kink():
    """A smooth function with large f'' relative to f' (near a turning
    point) is judged on its central difference, not set aside as a kink."""
    x = torch.tensor([1e-4, -2e-4, 3e-4, 0.5, -0.7], dtype=D, requires_grad=True)
    r = gradcheck(lambda t: 50 * t ** 2, (x,), outputs_weight=torch.ones(5, dtype=D),
                  samples_per_tensor=5, largest=0)
    assert r.passed and r.tensors[0]["kinks"] == 0, r.text()


# ------------------------------------------------------- verdict rules
def test_tiny_gradients_are_inconclusive_then_probed():
    class Tiny(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return 1e-14 * torch.sin(x)

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return -g * 1e-14 * torch.cos(x)            # wrong sign, but far below resolution

    x = randn(5, 4, seed=35)
    r = gradcheck(Tiny.apply, (x,), probe=False)
    assert r.status == "inconclusive" and not r.passed, r.text()
    assert r.tensors[0]["reason"] == "below-resolution"
    # the probe state has the same scale: still honest, still not a pass
    r = gradcheck(Tiny.apply, (x,))
    assert r.status == "inconclusive", r.text()
    r = gradcheck(Tiny.apply, (x,), outputs_weight=torch.full((5, 4), 1e14, dtype=D))
    assert r.status == "fail", r.text()


def test_probe_resolves_a_saturated_function_and_catches_its_bug():
    class SatSigmoidSignFlipped(SigmoidFunction):
        @staticmethod
        def backward(ctx, grad_output):
            (y,) = ctx.saved_tensors
            return grad_output * y * (y - 1)          # a sign lost in (1 - y)

    r0 = randn(5, 4, seed=37, grad=False)
    x = (torch.sign(r0) * (30 + 10 * r0.abs())).requires_grad_(True)   # sigmoid' < 1e-13
    r = gradcheck(SigmoidFunction.apply, (x,))
    assert r.passed and r.tensors[0]["verified_at"] == "probe", r.text()
    assert r.tensors[0]["reason"] == "below-resolution"
    r = gradcheck(SatSigmoidSignFlipped.apply, (x,), probe=False)
    assert r.status == "inconclusive", r.text()
    r = gradcheck(SatSigmoidSignFlipped.apply, (x,))
    assert r.status == "fail" and r.first_wrong["state"] == "probe", r.text()
    assert r.tensors[0]["reason"] == "below-resolution" and r.tensors[0]["verified_at"] == "probe"
    assert r.first_wrong["pattern"]["code"] == "sign-flipped"


def test_non_finite_analytic_fails_and_non_finite_function_is_inconclusive():
    class NaNBack(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * math.nan

    r = gradcheck(NaNBack.apply, (randn(3, 3, seed=39),))
    assert r.status == "fail", r.text()
    r = gradcheck(torch.log, (torch.full((3,), -1.0, dtype=D, requires_grad=True),),
                  probe=False)
    assert r.status == "inconclusive" and r.tensors[0]["reason"] == "non-finite", r.text()


def test_callers_objects_are_untouched():
    m = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Dropout(0.3))
    x = torch.randn(5, 4, requires_grad=True)
    before = [p.detach().clone() for p in m.parameters()]
    xb = x.detach().clone()
    state = torch.get_rng_state()
    r = gradcheck(m, (x,))
    assert r.passed, r.text()              # dropout keeps one mask per check
    assert all(p.dtype == torch.float32 for p in m.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, m.parameters()))
    assert x.dtype == torch.float32 and torch.equal(x.detach(), xb) and x.grad is None
    assert torch.equal(state, torch.get_rng_state())
    names = [t["name"] for t in r.tensors]
    assert names == ["input", "0.weight", "0.bias", "network"], names


# ------------------------------------------------------- modules
class SeedNet(nn.Module):
    """The seed network: 784-1000-10, sigmoid hidden, softmax output, MSE."""

    def __init__(self, uniform):
        super().__init__()
        self.hidden = nn.Linear(784, 1000)
        self.out = nn.Linear(1000, 10)
        if uniform:
            with torch.no_grad():
                for layer in (self.hidden, self.out):
                    layer.weight.uniform_(0, 1)
                    layer.bias.zero_()

    def forward(self, x, target):
        a = torch.sigmoid(self.hidden(x))
        return F.mse_loss(torch.softmax(self.out(a), dim=1), target)


def seed_batch():
    g = _gen(42)
    x = torch.rand(20, 784, generator=g, dtype=D)
    t = F.one_hot(torch.randint(10, (20,), generator=g), 10).to(D)
    return x, t


def test_seed_network_passes_at_the_point_or_the_probe():
    x, t = seed_batch()
    for uniform in (True, False):
        torch.manual_seed(0)
        m = SeedNet(uniform).double()
        r = gradcheck(m, (x, t))
        assert r.passed, r.text()
        by = {t_["name"]: t_ for t_ in r.tensors}
        assert [by[n]["layer"] for n in ("hidden.weight", "hidden.bias", "out.weight",
                                         "out.bias")] == [1, 1, 2, 2]
        if uniform:   # the saturated hidden layer cannot be resolved at the point
            assert by["hidden.weight"]["verified_at"] == "probe", r.text()
            assert by["hidden.weight"]["reason"] == "below-resolution"
        else:
            assert all(t_["verified_at"] == "point" for t_ in r.tensors), r.text()
        assert r.parameters == 795_010


class CustomLinear(nn.Module):
    def __init__(self, fan_in, out, fn=LinearFunction):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out, fan_in) / math.sqrt(fan_in))
        self.bias = nn.Parameter(torch.zeros(out) + 0.1)
        self.fn = fn

    def forward(self, x):
        return self.fn.apply(x, self.weight, self.bias)


def test_module_with_a_wrong_custom_layer_names_the_layer():
    torch.manual_seed(0)
    m = nn.Sequential(CustomLinear(6, 5), nn.Tanh(), CustomLinear(5, 5, LinearBiasWrongAxis),
                      nn.Tanh(), CustomLinear(5, 3))
    x = torch.randn(5, 6, dtype=D)
    r = gradcheck(m, (x,))
    assert r.failing() == ["2.bias"], r.text()
    fw = r.first_wrong
    assert (fw["layer"], fw["tensor"], fw["name"]) == (2, "bias", "2.bias"), fw
    assert fw["pattern"]["code"] == "bias-gradient-wrong-axis", r.text()


# ------------------------------------------------------- output formats
RUST_TOP = ["status", "counts", "passed", "max_rel_error", "checks", "first_wrong", "parameters",
            "seconds", "epsilon", "rtol", "atol"]
RUST_CHECK = ["at", "layer", "tensor", "elements_checked", "directions_checked", "kinks",
              "resolved", "max_rel_error", "status", "reason", "verified_at", "passed"]
RUST_FINDING = ["at", "layer", "tensor", "index", "analytic", "numeric", "rel_error", "pattern",
                "message"]


def test_json_has_the_keys_of_nn_doctor_gradcheck():
    r, *_ = run_bug("transposed weight gradient")
    d = json.loads(r.to_json())
    for k in RUST_TOP:
        assert k in d, k
    assert set(d["counts"]) == {"pass", "fail", "inconclusive", "resolved_at_probe",
                                "resolved_locally"}
    for c in d["checks"]:
        assert all(k in c for k in RUST_CHECK + ["name"]), c
    assert all(k in d["first_wrong"] for k in RUST_FINDING)
    assert set(d["first_wrong"]["pattern"]) == {"code", "explanation", "factor"}
    assert d["status"] == "fail" and d["passed"] is False
    # the binary's own output, when it is built
    if not os.path.exists(BIN):
        return
    config = os.path.join(HERE, "..", "fixtures", "configs", "seed.toml")
    with tempfile.TemporaryDirectory() as out:
        p = subprocess.run([BIN, "gradcheck", config, "--at", "init", "--inject-bug",
                            "sign-flipped@1", "--format", "json", "--out", out],
                           capture_output=True, text=True, timeout=300)
    if p.returncode not in (0, 1):
        return
    rust = json.loads(p.stdout)
    assert set(rust) <= set(d), set(rust) - set(d)
    assert set(rust["checks"][0]) <= set(d["checks"][0])
    assert set(rust["counts"]) == set(d["counts"])
    if rust["first_wrong"] is not None:
        assert set(rust["first_wrong"]) <= set(d["first_wrong"])
        assert set(rust["first_wrong"]["pattern"]) == set(d["first_wrong"]["pattern"])


def test_junit_layout():
    r, *_ = run_bug("bias summed over the wrong axis")
    with tempfile.TemporaryDirectory() as out:
        path = os.path.join(out, "g.xml")
        r.to_junit(path, suite_name="linear")
        root = ET.parse(path).getroot()
    assert root.tag == "testsuite" and root.get("name") == "nn-doctor gradcheck: linear"
    assert int(root.get("tests")) == len(r.tensors)
    assert int(root.get("failures")) == r.counts["fail"] >= 1
    cases = root.findall("testcase")
    failed = [c for c in cases if c.find("failure") is not None]
    assert [c.get("name") for c in failed][0] == "input bias"
    assert "matches: bias-gradient-wrong-axis" in failed[0].find("failure").text
    props = {p.get("name"): p.get("value") for p in root.find("properties")}
    assert props["epsilon"] == "1.00e-6" and props["status"] == "fail"
    # inconclusive is a skipped case carrying the reason
    x = torch.zeros(1, 1, 4, 4, dtype=D, requires_grad=True)
    r = gradcheck(lambda t: F.max_pool2d(t, 2), (x,), probe=False)
    root = ET.fromstring(r.to_junit())
    assert root.get("skipped") == "1"
    assert "inconclusive (" in root.find("testcase").find("skipped").get("message")


def test_text_and_csv():
    r, *_ = run_bug("sum instead of mean")
    text = r.text()
    assert text.splitlines()[0].startswith("at      layer  tensor")
    assert "gradcheck: FAIL (" in text and "matches: batch-sum-not-mean" in text
    with tempfile.TemporaryDirectory() as out:
        path = os.path.join(out, "g.csv")
        r.to_csv(path)
        with open(path) as f:
            head = f.readline().strip().split(",")
    assert head[:14] == ["at", "layer", "tensor", "kind", "index", "analytic", "numeric",
                         "abs_error", "rel_error", "kink", "passed", "resolved", "status", "state"]


if __name__ == "__main__":
    failed = 0
    for name, fn in list(globals().items()):
        if name.startswith("test_") and callable(fn):
            try:
                fn()
                print(f"ok    {name}")
            except SkipTest as e:
                print(f"skip  {name}: {e}")
            except Exception as e:  # report every failure, then exit 1
                failed += 1
                print(f"FAIL  {name}: {e!r}")
    sys.exit(1 if failed else 0)
