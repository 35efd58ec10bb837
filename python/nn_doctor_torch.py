"""nn-doctor's PyTorch recorder: watch any nn.Module and optimizer in your own
training loop and write nn-doctor's run format (README: "The run format"), so
`nn-doctor diagnose RUN_DIR` can name what is wrong.

    rec = Recorder(model, optimizer, "runs/mine", loss="cross_entropy", every=10)
    ...  # your loop: forward, loss.backward(), optimizer.step(), then
    rec.step(loss, output, target)
    rec.close()

What it records (standard library and torch only):
- a *layer* is a module with its own parameters (Linear, Conv2d, LSTM,
  BatchNorm, ...) in the order the forward pass first runs them, paired with
  the first activation module (nn.Sigmoid, Tanh, ReLU, Softmax, ...) called
  after it; its pre-activation is that activation module's input;
- per layer, every `every` steps (step 1 and every N after): activation and
  pre-activation ranges, saturated share (sigmoid/tanh/softmax: slope below
  1% of its maximum), dead share (ReLU family: units, or conv channels, that
  are <= 0 for every sample and position), weight/bias gradient norms, the
  weight norm and the update/weight ratio, non-finite counts;
- the loss and batch accuracy at every step;
- at every step, one cheap reduction per tensor (module outputs, the
  gradients reaching them, parameter gradients, parameters after the update)
  so the first non-finite value is located: module and phase (forward,
  backward, optimizer step);
- facts before training: input statistics of the first batches, the
  initial weights, class counts (chance accuracy).
Statistics stay on the device as tensors and are copied to the host once per
step, in one transfer.
"""

import csv
import json
import math
import os
import time

import torch
from torch import nn

RUN_FORMAT = 1
PRODUCER = "nn_doctor_torch 1"

# Activation modules and nn-doctor's names for them. Others (GELU, SiLU, ...)
# are recorded as "linear": no saturation or dead-unit rule applies to them.
ACTIVATIONS = [
    (nn.Sigmoid, "sigmoid"),
    (nn.Tanh, "tanh"),
    (nn.ReLU, "relu"),
    (nn.ReLU6, "relu"),
    (nn.LeakyReLU, "leaky_relu"),
    (nn.ELU, "elu"),
    (nn.Softplus, "softplus"),
    (nn.Softmax, "softmax"),
]
# |z| beyond which sigmoid / tanh slopes are below 1% of their maximum
# (src/engine/activation.rs); softmax: a(1 - a) < 0.0025.
SIGMOID_SATURATION_Z = 5.986445692252742
TANH_SATURATION_Z = 2.993222846126382
INPUT_BATCHES = 10

METRICS_HEADER = ["step", "layer", "activation", "act_min", "act_max", "act_mean", "act_std",
                  "pre_min", "pre_max", "pre_mean_abs", "saturated_frac", "dead_frac",
                  "grad_w_norm", "grad_b_norm", "weight_norm", "update_ratio", "nonfinite",
                  "units", "module"]
LOSS_HEADER = ["step", "loss", "batch_accuracy", "test_loss", "test_accuracy"]
STATS = ["act_min", "act_max", "act_mean", "act_std", "pre_min", "pre_max", "pre_mean_abs",
         "saturated_frac", "dead_frac", "grad_w_norm", "grad_b_norm", "weight_norm",
         "update_ratio", "nonfinite"]


def activation_name(module):
    for cls, name in ACTIVATIONS:
        if type(module) is cls:
            return name
    return None


def first_tensor(x):
    """A module's output may be a tuple (LSTM): its first tensor."""
    while isinstance(x, (tuple, list)):
        if not x:
            return None
        x = x[0]
    return x if torch.is_tensor(x) else None


def num(v):
    """CSV numbers as nn-doctor writes them: NaN, inf, -inf spelled out."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return repr(float(v))


def finite_or_null(x):
    """JSON has no NaN/Inf: like nn-doctor, write them as null."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: finite_or_null(v) for k, v in x.items()}
    if isinstance(x, list):
        return [finite_or_null(v) for v in x]
    return x


class Layer:
    def __init__(self, name, module):
        self.name = name
        self.module = module
        params = [(n, p) for n, p in module.named_parameters(recurse=False) if p.requires_grad]
        self.weights = [p for n, p in params if "bias" not in n]
        self.biases = [p for n, p in params if "bias" in n]
        w0 = self.weights[0] if self.weights else self.biases[0]
        self.units = int(w0.shape[0])
        numel = sum(p.numel() for p in self.weights) or self.units
        self.fan_in = max(1, round(numel / self.units))
        self.kind = {nn.Linear: "dense", nn.Conv1d: "conv1d", nn.Conv2d: "conv2d", nn.Conv3d: "conv3d",
                     nn.LSTM: "lstm", nn.GRU: "gru", nn.RNN: "rnn", nn.BatchNorm1d: "batchnorm",
                     nn.BatchNorm2d: "batchnorm", nn.LayerNorm: "layernorm",
                     nn.Embedding: "embedding"}.get(type(module), type(module).__name__.lower())
        # Units of a convolution are its channels (dim 1); elsewhere the last dim.
        self.unit_dim = 1 if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.BatchNorm2d)) else -1
        self.number = None
        self.activation = "linear"
        self.init = init_stats(self)


def init_stats(layer):
    with torch.no_grad():
        if not layer.weights:
            return None
        w = torch.cat([p.detach().double().flatten() for p in layer.weights])
        mean = w.mean().item()
        m2 = (w * w).mean().item()
        return {"mean": mean, "std": math.sqrt(max(m2 - mean * mean, 0.0)),
                "gain": m2 * layer.fan_in, "all_zero": bool((w == 0).all().item())}


def norm_of(tensors):
    """L2 norm over several tensors, in their own precision (a float32 norm
    of values above ~1e19 overflows; step() recomputes such a norm in
    float64 when the tensors turn out finite)."""
    if not tensors:
        return torch.zeros(())
    norms = [torch.linalg.vector_norm(t.detach()) for t in tensors]
    return norms[0] if len(norms) == 1 else torch.linalg.vector_norm(torch.stack(norms))


def norm64(tensors):
    """The exact-range fallback of norm_of."""
    if not tensors:
        return 0.0
    return math.sqrt(sum(float((t.detach().double() ** 2).sum()) for t in tensors))


def unit_alive(pre, unit_dim):
    """Per unit (channel): is z > 0 for some sample and position?"""
    pos = pre > 0
    d = unit_dim % pre.dim()
    dims = [i for i in range(pre.dim()) if i != d]
    return pos.amax(dim=dims) if dims else pos


class Recorder:
    """Watches `model` and `optimizer` and writes a run directory `out`.

    loss: "mse" (nn-doctor's 1/2 sum over outputs, mean over the batch, or
    torch's MSELoss), "cross_entropy", or None for another loss (the
    loss/output pairing rule is then skipped). every: record per-layer
    statistics at step 1 and every `every` steps after it.
    """

    def __init__(self, model, optimizer, out, loss=None, every=1, name=None, data=None):
        self.model, self.optimizer, self.out = model, optimizer, out
        self.loss_kind, self.every = loss, max(1, int(every))
        self.name = name or os.path.basename(os.path.normpath(out))
        self.data = data
        self.layers = {}  # module -> Layer, in first-forward order once known
        for mod_name, module in model.named_modules():
            if any(p.requires_grad for p in module.parameters(recurse=False)):
                self.layers[module] = Layer(mod_name or type(module).__name__, module)
        self.order = []  # layers in first-forward order
        self.step_no = 0
        self.recording = False
        self.in_step = False
        self.flags = []  # (phase rank, order, phase, layer, what, 0-dim tensor)
        self.stats = {}  # layer number -> {stat: tensor}
        self.last_layer = None
        self.paired = set()
        self.class_counts = None  # on the device, read once at close()
        self.input = None
        self.input_batches = 0
        self.nan_origin = None
        self.steps = []
        self.metric_rows = []
        self.tests = {}
        self.test_samples = 0
        self.started = time.perf_counter()
        self.handles = [model.register_forward_pre_hook(self._root_pre)]
        for module in model.modules():
            if module in self.layers:
                self.handles.append(module.register_forward_hook(self._param_forward))
            elif activation_name(module) is not None:
                self.handles.append(module.register_forward_pre_hook(self._act_pre))
                self.handles.append(module.register_forward_hook(self._act_forward))
        self.handles.append(optimizer.register_step_pre_hook(self._before_update))
        self.handles.append(optimizer.register_step_post_hook(self._after_update))

    # --- forward -----------------------------------------------------------

    def _training(self):
        return self.model.training and torch.is_grad_enabled()

    def _root_pre(self, module, args):
        if not self._training() or self.in_step:
            return
        self.in_step = True
        self.step_no += 1
        self.recording = self.step_no == 1 or (self.step_no - 1) % self.every == 0
        self.flags, self.stats, self.paired, self.last_layer = [], {}, set(), None
        self.pending = {}
        x = first_tensor(args)
        if x is not None and x.is_floating_point() and self.input_batches < INPUT_BATCHES:
            self._input_stats(x.detach())

    def _flag(self, rank, phase, layer, what, t, reduced=None):
        """One cheap reduction per tensor and step. Activations and their
        gradients (small, and possibly changed in place later): a float64
        sum, non-finite exactly when an element is. Parameters and their
        gradients (large, still there at step()): a sum or norm in their own
        precision, which finite values may overflow, so a non-finite one is
        confirmed element-wise before it is blamed."""
        t = t.detach()
        if reduced is None and rank in (0, 1, 2):
            self.flags.append((rank, len(self.flags), phase, layer, what, t.sum(dtype=torch.float64), None))
        else:
            r = t.sum() if reduced is None else reduced
            self.flags.append((rank, len(self.flags), phase, layer, what, r, t))

    def _param_forward(self, module, args, output):
        if not self.in_step:
            return
        layer = self.layers[module]
        if layer.number is None:
            layer.number = len(self.order) + 1
            self.order.append(layer)
        self.last_layer = layer
        out = first_tensor(output)
        if out is None:
            return
        self._flag(0, "forward.linear", layer, "output", out)
        if out.requires_grad:
            out.register_hook(lambda g, l=layer: self._flag(2, "backward.delta", l, "gradient of the output", g))
        if self.recording:
            self.pending[layer.number] = out.detach()

    def _act_pre(self, module, args):
        if not self.in_step or self.last_layer is None or self.last_layer.number in self.paired:
            return
        layer = self.last_layer
        if layer.activation == "linear" and self.step_no == 1:
            layer.activation = activation_name(module)
        if layer.activation != activation_name(module):
            return
        self.paired.add(layer.number)
        self.pending.pop(layer.number, None)
        module._nn_doctor_layer = layer
        if self.recording:
            # Before the module runs: an in-place ReLU overwrites its input.
            self._pre_stats(layer, args[0].detach())

    def _act_forward(self, module, args, output):
        layer = getattr(module, "_nn_doctor_layer", None)
        if not self.in_step or layer is None:
            return
        module._nn_doctor_layer = None
        self._flag(0, "forward.activation", layer, "activation", output)
        if self.recording:
            self._act_stats(layer, output.detach())

    def _pre_stats(self, layer, z):
        s = self.stats.setdefault(layer.number, {})
        s["pre_min"], s["pre_max"] = z.min(), z.max()
        s["pre_mean_abs"] = z.abs().mean()
        s["nonfinite"] = (~torch.isfinite(z)).sum()
        if layer.activation == "sigmoid":
            s["saturated_frac"] = (z.abs() > SIGMOID_SATURATION_Z).double().mean()
        elif layer.activation == "tanh":
            s["saturated_frac"] = (z.abs() > TANH_SATURATION_Z).double().mean()
        elif layer.activation in ("relu", "leaky_relu", "elu"):
            s["dead_frac"] = 1.0 - unit_alive(z, layer.unit_dim).double().mean()

    def _act_stats(self, layer, a):
        s = self.stats.setdefault(layer.number, {})
        s["act_min"], s["act_max"] = a.min(), a.max()
        s["act_mean"] = a.mean()
        s["act_std"] = a.float().std(unbiased=False) if a.numel() > 1 else torch.zeros(())
        if layer.activation == "softmax":
            s["saturated_frac"] = (a * (1 - a) < 0.0025).double().mean()

    def _input_stats(self, x):
        flat = x.reshape(x.shape[0], -1).double()
        finite = torch.isfinite(flat)
        clean = torch.where(finite, flat, torch.zeros_like(flat))
        scale = clean.abs().amax(dim=0)
        st = {"n": flat.shape[0], "nonfinite": int((~finite).sum().item()),
              "min": clean.min().item(), "max": clean.max().item(),
              "sq": (clean ** 2).sum().item(), "count": int(finite.sum().item()), "scale": scale}
        if self.input is None:
            st["first"] = None
            self.input = st
        else:
            i = self.input
            i["n"] += st["n"]
            i["nonfinite"] += st["nonfinite"]
            i["min"], i["max"] = min(i["min"], st["min"]), max(i["max"], st["max"])
            i["sq"] += st["sq"]
            i["count"] += st["count"]
            i["scale"] = torch.maximum(i["scale"], scale)
        if st["nonfinite"] and self.input.get("first") is None:
            bad = (~finite).nonzero()[0].tolist()
            self.input["first"] = [self.input["n"] - st["n"] + bad[0], bad[1]]
        self.input_batches += 1

    # --- optimizer -----------------------------------------------------------

    def _before_update(self, optimizer, args, kwargs):
        if not self.in_step:
            return
        for layer in self.order:
            if self.recording:
                # The norms double as this step's non-finite flags (confirmed
                # element-wise in step() before anything is blamed).
                s = self.stats.setdefault(layer.number, {})
                s["grad_w_norm"] = norm_of([p.grad for p in layer.weights if p.grad is not None])
                s["grad_b_norm"] = norm_of([p.grad for p in layer.biases if p.grad is not None])
                for p in layer.weights:
                    if p.grad is not None:
                        self._flag(3, "backward.weight_grad", layer, "weight gradient", p.grad, s["grad_w_norm"])
                for p in layer.biases:
                    if p.grad is not None:
                        self._flag(3, "backward.weight_grad", layer, "bias gradient", p.grad, s["grad_b_norm"])
                s["before_norm"] = norm_of(layer.weights)
                layer.before = [p.detach().clone() for p in layer.weights]
            else:
                for p in layer.weights + layer.biases:
                    if p.grad is not None:
                        self._flag(3, "backward.weight_grad", layer, "parameter gradient", p.grad)

    def _after_update(self, optimizer, args, kwargs):
        if not self.in_step:
            return
        for layer in self.order:
            if self.recording and getattr(layer, "before", None) is not None:
                s = self.stats[layer.number]
                s["weight_norm"] = norm_of(layer.weights)
                bias_norm = norm_of(layer.biases)
                for p in layer.weights:
                    self._flag(4, "update", layer, "weights after the update", p, s["weight_norm"])
                for p in layer.biases:
                    self._flag(4, "update", layer, "biases after the update", p, bias_norm)
                for b, p in zip(layer.before, layer.weights):
                    b.sub_(p.detach())  # in place: the update, without a new tensor
                s["update_ratio"] = norm_of(layer.before) / s.pop("before_norm")
                layer.before = None
            else:
                for p in layer.weights + layer.biases:
                    self._flag(4, "update", layer, "parameter after the update", p)

    def _count_nonfinite(self, layer):
        """Exact NaN/Inf count of a layer's gradients and parameters, only
        run when one of their norms is already non-finite."""
        tensors = [p.detach() for p in layer.weights + layer.biases]
        tensors += [p.grad for p in layer.weights + layer.biases if p.grad is not None]
        return sum(int((~torch.isfinite(t)).sum().item()) for t in tensors)

    # --- the user's call ------------------------------------------------------

    def step(self, loss, output=None, target=None):
        """Call once per training step, after optimizer.step(): the batch
        loss, and optionally the model output and target (class indices or
        one-hot) for the batch accuracy and the class counts."""
        if not self.in_step:
            raise RuntimeError("nn_doctor_torch: step() called without a training forward pass since the last step()")
        self.in_step = False
        loss_t = loss.detach().reshape(()) if torch.is_tensor(loss) else torch.tensor(float(loss))
        self._flag(1, "loss", None, "loss", loss_t)
        acc = torch.full((), float("nan"))
        if output is not None and target is not None:
            out = first_tensor(output).detach()
            labels = target.argmax(dim=-1) if target.dim() == out.dim() else target
            acc = (out.argmax(dim=-1) == labels).double().mean()
            self.classes = out.shape[-1]
            counts = torch.bincount(labels.reshape(-1), minlength=self.classes)
            self.class_counts = counts if self.class_counts is None else self.class_counts + counts
        for number, out in self.pending.items():
            self._pre_stats(self.order[number - 1], out)
            self._act_stats(self.order[number - 1], out)
        # One copy to the host per step.
        names, values = [], [loss_t.double(), acc.double()]
        flags = sorted(self.flags, key=lambda f: (f[0], f[1]))
        values += [f[5].double() for f in flags]
        if self.recording:
            for layer in self.order:
                s = self.stats.get(layer.number, {})
                for key in STATS:
                    if key in s:
                        names.append((layer.number, key))
                        values.append(torch.as_tensor(s[key]).double().reshape(()).to(loss_t.device))
        host = torch.stack([v.to(loss_t.device) for v in values]).cpu().tolist()
        loss_v, acc_v = host[0], host[1]
        self.steps.append([self.step_no, loss_v, acc_v])
        if self.nan_origin is None:
            for f, v in zip(flags, host[2:2 + len(flags)]):
                if not math.isfinite(v) and (f[6] is None or not bool(torch.isfinite(f[6]).all())):
                    self._origin(f, v)
                    break
        if self.recording:
            got = {}
            for (number, key), v in zip(names, host[2 + len(flags):]):
                got.setdefault(number, {})[key] = v
            for layer in self.order:
                s = got.get(layer.number, {})
                norms = [s.get(k, 0.0) for k in ("grad_w_norm", "grad_b_norm", "weight_norm")]
                if not all(math.isfinite(v) for v in norms):
                    bad = self._count_nonfinite(layer)
                    s["nonfinite"] = s.get("nonfinite", 0) + bad
                    if bad == 0:  # only the float32 norm overflowed
                        grads = lambda ps: [p.grad for p in ps if p.grad is not None]  # noqa: E731
                        s["grad_w_norm"] = norm64(grads(layer.weights))
                        s["grad_b_norm"] = norm64(grads(layer.biases))
                        s["weight_norm"] = norm64(layer.weights)
                self.metric_rows.append((self.step_no, layer, s))
        return self.nan_origin is None

    def evaluation(self, test_loss, test_accuracy, samples):
        """Record a test-set evaluation at the current step."""
        self.tests[self.step_no] = (float(test_loss), float(test_accuracy))
        self.test_samples = int(samples)

    def _origin(self, flag, value):
        rank, _, phase, layer, what, _, _ = flag
        spelled = "NaN" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        where = f"module `{layer.name}` ({type(layer.module).__name__}, layer {layer.number})" if layer else "the loss"
        human = {"forward.linear": "forward pass", "forward.activation": "forward pass (activation)",
                 "loss": "loss", "backward.delta": "backward pass", "backward.weight_grad": "backward pass",
                 "update": "optimizer step"}[phase]
        self.nan_origin = {
            "step": self.step_no, "layer": layer.number if layer else None, "phase": phase,
            "kind": "non-finite", "tensor": f"{layer.name}: {what}" if layer else "loss",
            "index": [], "sample": None, "unit": None, "value": spelled, "inputs": [],
            "detail": f"step {self.step_no}: the first non-finite value ({spelled}) appeared in the {human}, "
                      f"in {what} of {where}.",
        }

    # --- writing --------------------------------------------------------------

    def close(self):
        """Writes metrics.csv, loss.csv and summary.json, removes the hooks."""
        for h in self.handles:
            h.remove()
        self.handles = []
        os.makedirs(self.out, exist_ok=True)
        with open(os.path.join(self.out, "metrics.csv"), "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(METRICS_HEADER)
            for step, layer, s in self.metric_rows:
                row = [step, layer.number, layer.activation]
                for key in STATS[:-1]:
                    v = s.get(key)
                    row.append("" if v is None else num(v))
                row += [int(s.get("nonfinite", 0)) if math.isfinite(s.get("nonfinite", 0)) else 0,
                        layer.units, layer.name]
                w.writerow(row)
        with open(os.path.join(self.out, "loss.csv"), "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(LOSS_HEADER)
            for step, loss, acc in self.steps:
                tl, ta = self.tests.get(step, (None, None))
                w.writerow([step, num(loss), "" if math.isnan(acc) else num(acc),
                            "" if tl is None else num(tl), "" if ta is None else num(ta)])
        with open(os.path.join(self.out, "summary.json"), "w") as f:
            json.dump(finite_or_null(self.facts()), f, indent=2, allow_nan=False, default=str)
            f.write("\n")

    def facts(self):
        seconds = time.perf_counter() - self.started
        optimizer = type(self.optimizer).__name__
        group = self.optimizer.param_groups[0]
        if optimizer == "SGD" and group.get("momentum", 0):
            opt = {"kind": "momentum", "momentum": group["momentum"]}
        elif optimizer == "SGD":
            opt = {"kind": "sgd"}
        elif optimizer in ("Adam", "AdamW"):
            b1, b2 = group["betas"]
            opt = {"kind": "adam", "beta1": b1, "beta2": b2, "eps": group["eps"]}
        else:
            opt = None
        batch = None
        if self.input:
            batch = self.input["n"] // max(1, self.input_batches)
        classes = getattr(self, "classes", None)
        layers = [{"layer": l.number, "units": l.units, "fan_in": l.fan_in, "activation": l.activation,
                   "kind": l.kind, "name": l.name} for l in self.order]
        pre = {"layers": [{"layer": l.number, "fan_in": l.fan_in, "units": l.units, "activation": l.activation,
                           "mean": l.init["mean"], "std": l.init["std"], "gain": l.init["gain"],
                           "all_zero": l.init["all_zero"]} for l in self.order if l.init]}
        if len(pre["layers"]) != len(self.order):
            del pre["layers"]  # a layer without weights: poor-initialization is skipped
        if self.input:
            i = self.input
            nonzero = [v for v in i["scale"].tolist() if v > 0]
            pre["input"] = {"samples": i["n"], "features": int(i["scale"].numel()), "nonfinite": i["nonfinite"],
                            "first_nonfinite": i["first"], "min": i["min"], "max": i["max"],
                            "rms": math.sqrt(i["sq"] / i["count"]) if i["count"] else None,
                            "feature_scale_max": max(nonzero, default=0.0),
                            "feature_scale_min_nonzero": min(nonzero) if nonzero else None}
        if self.class_counts is not None and classes:
            counts = self.class_counts.tolist()
            pre["chance_accuracy"] = max(max(counts) / max(1, sum(counts)), 1.0 / classes)
            pre["classes"] = classes
        if self.test_samples:
            pre["test_samples"] = self.test_samples
        loss_kind = self.loss_kind if self.loss_kind in ("mse", "cross_entropy") else None
        facts = {
            "run_format": RUN_FORMAT,
            "producer": PRODUCER,
            "name": self.name,
            "nan_origin": self.nan_origin,
            "network": {"dtype": "f64" if next(self.model.parameters()).dtype == torch.float64 else "f32",
                        "layers": layers, "loss": loss_kind, "optimizer": opt, "learning_rate": group.get("lr"),
                        "batch_size": batch,
                        "parameters": sum(p.numel() for p in self.model.parameters())},
            "preflight": pre,
            "timing": {"seconds": seconds,
                       "samples_per_second": (batch or 0) * self.step_no / seconds if seconds > 0 else 0.0},
        }
        if self.data:
            facts["data"] = self.data
        if self.nan_origin:
            facts["stop_reason"] = f"non-finite value in {self.nan_origin['phase']} at step {self.nan_origin['step']}"
        return facts
