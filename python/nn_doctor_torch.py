"""nn-doctor's PyTorch recorder: watch any nn.Module and optimizer in your own
training loop and write nn-doctor's run format (docs/run-format.md), so
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
Statistics stay on the device as tensors until step(). Off the CPU they are
copied to the host in one transfer (stacked per dtype, converted to float64
and concatenated first); on the CPU, where a value is read without a
transfer, each is read where it is (.item(), ~0.3 us; stacking 39 scalars
first costs ~50 us), so no positional plan of the step's values is needed.

What keeps it cheap (bench/recorder_torch.py), without changing what a
column means: ||dW|| is |lr| ||grad|| for plain SGD (no momentum or weight
decay: the update is exactly -lr grad), and otherwise the norm of the
difference kept in one preallocated buffer per weight; ||W|| before a step
is the norm taken after the previous one when PyTorch's version counter says
no weight changed since (a change through `.data`, which PyTorch does not
count, is not seen); the parameter gradient norms of a step and the norms
of the gradients reaching module outputs (kept by the backward hooks, which
run no torch op) are taken together, the parameter norms after the update
together, each on the CPU as the square root of a BLAS dot product (2.5x
faster than linalg.vector_norm on a 784x1000 weight: norms()) and elsewhere
in one torch._foreach_norm call; a module output's range and its non-finite
flag come from one aminmax, which the pre-activation statistics reuse (the
activation module's hook receives the same tensor); on the CPU the step's
flags are tested by one sum of their values (finite exactly when each is;
only otherwise are they looked at one by one, in phase order); |z|, the
squared deviations of the activation from its mean (two passes) and the
saturation indicator (0/1 floats: CPU comparisons into bool tensors are
slow) are written to rows of one reused buffer and summed by one reduction
per layer; on the CPU the non-finite count is only taken when the range is
not finite; the labels are counted 64 steps at a time; the hooks read
detached tensors instead of entering no_grad.

How the run directory is written: while training runs, not at the end.
The constructor removes `out/summary.json` (an older run there is no longer
claimed) and creates metrics.csv and loss.csv afresh, each starting with
`# run_id=<32 hex digits>` (a uuid4, also summary.json's "run_id") before
its header. A step's rows are final when the next training step begins (a
test evaluation may fill the test columns of its loss row until then); they
are kept until a flush appends them, whole rows in one write: when step 2
begins, then every `flush_every` steps, and at close(). A flush (once the
layers are known) also rewrites summary.json with "complete": false, the
facts known so far; close() fsyncs both CSVs and writes "complete": true
last. summary.json is always written to a temporary file in the directory,
fsynced and renamed over it, so the directory holds either no summary.json
or one with CSVs of the same run id. A run that is not closed reads as
incomplete: on an exception or Ctrl-C an atexit handler flushes it; after a
SIGKILL the rows up to the last flush are there. The recorder's I/O never
raises into the training loop: a failure is warned about once
(RuntimeWarning) and the run is not written further. The run name (by
default the directory's name, or "run" when that is not safe) must be one
safe path component: nn-doctor writes its report to reports/<name>.
"""

import atexit
import csv
import functools
import io
import json
import math
import os
import time
import unicodedata
import uuid
import warnings
import weakref

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
LABEL_BATCHES = 64
FLUSH_EVERY = 50
NAME_MAX_BYTES = 200
FALLBACK_NAME = "run"

METRICS_HEADER = ["step", "layer", "activation", "act_min", "act_max", "act_mean", "act_std",
                  "pre_min", "pre_max", "pre_mean_abs", "saturated_frac", "dead_frac",
                  "grad_w_norm", "grad_b_norm", "weight_norm", "update_ratio", "nonfinite",
                  "units", "module"]
LOSS_HEADER = ["step", "loss", "batch_accuracy", "test_loss", "test_accuracy"]
STATS = ["act_min", "act_max", "act_mean", "act_std", "pre_min", "pre_max", "pre_mean_abs",
         "saturated_frac", "dead_frac", "grad_w_norm", "grad_b_norm", "weight_norm",
         "update_ratio", "nonfinite"]


def name_problem(name):
    """Why `name` cannot name a run, or None when it can: nn-doctor uses it
    as one directory component (reports/<name>), so it must be exactly one
    path component, non-empty, at most NAME_MAX_BYTES bytes of UTF-8, not
    starting with "." (so not "." or ".."), without "/" or "\\", control
    characters or other non-printable ones."""
    if not isinstance(name, str):
        return f"is a {type(name).__name__}, not a str"
    if not name:
        return "is empty"
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return "is not encodable as UTF-8"
    if size > NAME_MAX_BYTES:
        return f"is {size} bytes long in UTF-8 (at most {NAME_MAX_BYTES})"
    if name in (".", ".."):
        return "is a relative directory reference"
    if name.startswith("."):
        return 'starts with "."'
    if "/" in name or "\\" in name:
        return "contains a path separator"
    if any(unicodedata.category(c) == "Cc" for c in name):
        return "contains a control character"
    if not name.isprintable():
        return "contains a non-printable character"
    return None


def create_new(path):
    """A text file created at `path`, which must not exist (O_EXCL: nor as a
    symbolic link, which is never followed), for CSV rows: UTF-8, newline=""
    (the csv writers end lines with "\\n")."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o666)
    try:
        return open(fd, "w", newline="", encoding="utf-8")
    except BaseException:
        os.close(fd)
        raise


def unlink_if_present(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def sync_directory(path):
    """Makes a rename or removal in directory `path` durable, where the
    platform can (best effort: not every system opens directories)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _exit_flush(ref):
    """The atexit handler: flushes a recorder the program did not close
    (held weakly: a dropped recorder is not kept alive for it)."""
    rec = ref()
    if rec is not None:
        rec._at_exit()


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
        self.rows = None  # Recorder._rows' views, while its buffer and the shape last
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


def norms(tensors):
    """The L2 norm of each tensor, in its own precision (a float32 norm of
    values above ~1e19 overflows; step() recomputes such a norm in float64
    when the tensors turn out finite). On the CPU a float32/float64
    tensor's norm is the square root of its dot product with itself: BLAS's
    dot runs on torch's threads and took 33 us on the seed network's
    784x1000 weight where linalg.vector_norm (and _foreach_norm, one
    vector_norm per tensor on the CPU) took 85 us (2 threads, quiet), with
    a smaller error against a float64 sum (1e-6 against 7e-6 relative,
    bench/norm_torch.py). The two big norms of each seed-network step (its
    weight gradient and its weights) were the recorder's largest cost.
    Other dtypes and devices: one _foreach_norm call (one launch for all)."""
    out = [None] * len(tensors)
    rest = []
    for i, t in enumerate(tensors):
        if t.device.type == "cpu" and t.dtype in (torch.float32, torch.float64):
            v = t.reshape(-1)
            out[i] = torch.dot(v, v).sqrt_()
        else:
            rest.append(i)
    if rest:
        others = [tensors[i] for i in rest]
        if hasattr(torch, "_foreach_norm"):
            found = list(torch._foreach_norm(others))
        else:
            found = [torch.linalg.vector_norm(t) for t in others]
        for i, n in zip(rest, found):
            out[i] = n
    return out


def combine(parts):
    """The norm over several tensors from their norms."""
    if not parts:
        return torch.zeros(())
    return parts[0] if len(parts) == 1 else torch.linalg.vector_norm(torch.stack(parts))


def norm64(tensors):
    """The exact-range fallback of norms."""
    if not tensors:
        return 0.0
    return math.sqrt(sum(float((t.detach().double() ** 2).sum()) for t in tensors))


def unit_alive(pre, unit_dim):
    """Per unit (channel): is z > 0 for some sample and position?"""
    pos = pre > 0
    d = unit_dim % pre.dim()
    dims = [i for i in range(pre.dim()) if i != d]
    return pos.amax(dim=dims) if dims else pos


# Below this many elements a comparison and a sum cost least; above it, the
# float-only pass of count_nonfinite (CPU comparisons into bool tensors are
# slow). Both are exact counts.
SMALL = 16384


def count_sum(ones):
    """The exact sum of a tensor of zeros and ones (float32 while every
    partial sum is below 2^24)."""
    return ones.sum() if ones.numel() < (1 << 24) else ones.sum(dtype=torch.float64)


def count_nonfinite(x):
    """How many elements are NaN or +-inf: x * 0 is 0 exactly for the
    finite ones and NaN for the others."""
    if x.numel() < SMALL:
        return (~torch.isfinite(x)).sum()
    return count_sum(torch.nan_to_num_(x * 0.0, nan=1.0))


def span(t):
    """(min, max) in one pass: the statistics of a tensor's range, and its
    non-finite flag (min and max propagate NaN; see flag_value)."""
    if t.numel() == 0:
        z = torch.zeros((), dtype=t.dtype, device=t.device)
        return z, z
    return torch.aminmax(t)


def flag_value(lo, hi):
    """A tensor's flag from its (min, max): finite exactly when every element
    is, and spelled as a float64 sum of the elements would be (NaN when a NaN
    or both infinities are present, else the infinity present), without the
    sum's pass over the tensor or its overflow on large finite values."""
    if math.isnan(lo) or math.isnan(hi) or (lo == -math.inf and hi == math.inf):
        return math.nan
    if math.isinf(hi):
        return hi
    if math.isinf(lo):
        return lo
    return 0.0


def ratio(update, weight):
    """||dW|| / ||W||, as the engine's recorder (src/monitor/recorder.rs)."""
    if weight > 0.0:
        return update / weight
    if update > 0.0:
        return math.inf
    return 0.0 if update == 0.0 else math.nan


# PyTorch's losses by class name -> (run-format loss, what it takes from the
# model's last layer). The losses not listed have no output/loss pairing
# rule (NLLLoss takes log-probabilities, which the run format cannot say).
TORCH_LOSSES = {
    "crossentropyloss": ("cross_entropy", "logits"),
    "cross_entropy": ("cross_entropy", "logits"),
    "bcewithlogitsloss": ("binary_cross_entropy", "logits"),
    "binary_cross_entropy_with_logits": ("binary_cross_entropy", "logits"),
    "bceloss": ("binary_cross_entropy", "probabilities"),
    "binary_cross_entropy": ("binary_cross_entropy", "probabilities"),
    "mseloss": ("mse", None),
    "mse": ("mse", None),
}


def loss_spec(loss):
    """(run-format loss name, loss input) for `loss`: None, a name such as
    "cross_entropy" or "CrossEntropyLoss" (an "nn." prefix is allowed), or a
    loss module or class. A loss nn-doctor does not judge is recorded as
    none, with a warning rather than silently."""
    if loss is None:
        return None, None
    if isinstance(loss, str):
        name = loss
    elif isinstance(loss, type):
        name = loss.__name__
    else:
        name = type(loss).__name__
    key = name.strip().lower()
    for prefix in ("torch.nn.", "nn."):
        if key.startswith(prefix):
            key = key[len(prefix):]
    spec = TORCH_LOSSES.get(key)
    if spec is None:
        warnings.warn(f"nn_doctor_torch: loss {name!r} is not one nn-doctor judges "
                      f"(known: CrossEntropyLoss, BCEWithLogitsLoss, BCELoss, MSELoss); "
                      f"the output/loss pairing rule will be skipped", stacklevel=3)
        return None, None
    return spec


class Recorder:
    """Watches `model` and `optimizer` and writes a run directory `out`.

    loss: the loss module, its class, or its name: "cross_entropy" /
    "CrossEntropyLoss" and "BCEWithLogitsLoss" (their input is logits,
    recorded as network.loss_input = "logits"), "BCELoss" (probabilities),
    "mse" / "MSELoss" (nn-doctor's 1/2 sum over outputs, mean over the
    batch, or torch's MSELoss); None, or another loss (with a warning), skips
    the loss/output pairing rule. every: record per-layer
    statistics at step 1 and every `every` steps after it. name: the run's
    name (default: the name of `out`, or "run" when that is not a safe
    name); a given name that is not one safe path component (name_problem)
    raises ValueError. flush_every: append the recorded rows to the CSVs
    and rewrite summary.json (complete: false) every `flush_every` steps.
    """

    def __init__(self, model, optimizer, out, loss=None, every=1, name=None, data=None,
                 flush_every=FLUSH_EVERY):
        if name is None:
            name = os.path.basename(os.path.normpath(os.fsdecode(out)))
            if name_problem(name) is not None:
                name = FALLBACK_NAME
        else:
            problem = name_problem(name)
            if problem is not None:
                raise ValueError(
                    f"nn_doctor_torch: the run name {name!r} {problem}. nn-doctor uses the name as one "
                    f"directory (reports/<name>): it must be one path component, non-empty, at most "
                    f"{NAME_MAX_BYTES} bytes of UTF-8, printable, without '/', '\\' or control "
                    f"characters, and not start with '.'")
        self.model, self.optimizer, self.out = model, optimizer, out
        self.dir = os.fsdecode(out)  # str, bytes or path-like: the directory as a str
        (self.loss_kind, self.loss_input), self.every = loss_spec(loss), max(1, int(every))
        self.flush_every = max(1, int(flush_every))
        self.name = name
        self.data = data
        self.run_id = uuid.uuid4().hex
        self.layers = {}  # module -> Layer, in first-forward order once known
        for mod_name, module in model.named_modules():
            if any(p.requires_grad for p in module.parameters(recurse=False)):
                self.layers[module] = Layer(mod_name or type(module).__name__, module)
        self.order = []  # layers in first-forward order
        self.step_no = 0
        self.recording = False
        self.in_step = False
        self.flags = []  # (phase rank, order, phase, layer, what, reduction, tensor to confirm)
        self.flag_tensors = []
        self.stats = {}  # layer number -> {raw statistic: 0-dim tensor}
        self.counts = {}  # layer number -> {element count: int} (host side)
        self.last_layer = None
        self.last_span = None  # (tensor, version, (min, max)) of the last module output
        self.paired = set()
        self.class_counts = None  # on the device, read once at close()
        self.labels = []  # the labels of the steps not yet in class_counts
        self.input = None
        self.input_batches = 0
        self.nan_origin = None
        # The rows recorded and not yet written (at most flush_every steps'):
        # loss.csv's (step, loss, accuracy) and metrics.csv's (step, layer,
        # statistics); the test evaluations of steps not yet written.
        self.steps = []
        self.metric_rows = []
        self.tests = {}
        self.test_samples = 0
        self.started = time.perf_counter()
        self.pre_hooked = set()
        self.act_names = {}  # activation module -> nn-doctor's name for it
        self.scratch = {}  # (dtype, device) -> the rows buffer of _rows
        self.act_layer = {}  # activation module -> the layer it is paired with, this forward pass
        # Tests set this to read CPU values through _to_host, the path other devices take.
        self.transfer_on_cpu = False
        self.handles = [model.register_forward_pre_hook(self._root_pre)]
        for module in model.modules():
            if module in self.layers:
                self.handles.append(module.register_forward_hook(self._param_forward))
            elif activation_name(module) is not None:
                self.act_names[module] = activation_name(module)
                # An in-place module overwrites its input: read it before
                # the module runs. Others: one hook after, input intact.
                if getattr(module, "inplace", False):
                    self.handles.append(module.register_forward_pre_hook(self._act_pre))
                    self.pre_hooked.add(module)
                self.handles.append(module.register_forward_hook(self._act_forward))
        self.handles.append(optimizer.register_step_pre_hook(self._before_update))
        self.handles.append(optimizer.register_step_post_hook(self._after_update))
        # The run directory (_start), then the handler that flushes it if
        # the program ends without close().
        self.files = {}  # "metrics", "loss" -> the open CSV file
        self.closed = False
        self.failed = False  # an I/O failure stopped the writing (warned once)
        self.pid = os.getpid()  # a forked child does not write the parent's run
        try:
            self._start()
        except Exception as e:
            self._fail(e)
        self._exit_hook = functools.partial(_exit_flush, weakref.ref(self))
        atexit.register(self._exit_hook)

    # --- forward -----------------------------------------------------------

    def _training(self):
        return self.model.training and torch.is_grad_enabled()

    def _root_pre(self, module, args):
        if self.in_step and self.deltas:
            # Another forward pass in the same step (gradient accumulation):
            # the kept output gradients are reduced now, so at most one
            # backward pass's worth is held.
            self._flush_deltas()
        if not self._training() or self.in_step:
            return
        # A new step begins: the last step's rows are final (its test
        # evaluation, if any, came before this forward pass).
        done = self.step_no
        if done == 1 or (done and done % self.flush_every == 0):
            self._flush()
        self.in_step = True
        self.step_no += 1
        self.recording = self.step_no == 1 or (self.step_no - 1) % self.every == 0
        self.flags, self.stats, self.counts, self.paired = [], {}, {}, set()
        self.flag_tensors = []  # the flags' 0-dim tensors, for step()'s all-finite test
        self.deltas = []  # (layer, gradient of its output, its version) until _flush_deltas
        self.last_layer, self.last_span = None, None
        self.pending = {}
        x = first_tensor(args)
        if x is not None and x.is_floating_point() and self.input_batches < INPUT_BATCHES:
            self._input_stats(x.detach())

    def _flag(self, rank, phase, layer, what, reduced, confirm=None):
        """One cheap reduction per tensor and step. Activations and their
        gradients (small, and possibly changed in place later): their
        (min, max), non-finite exactly when an element is. Parameters and
        their gradients (large, still there at step()): a sum or norm in
        their own precision, which finite values may overflow, so a
        non-finite one is confirmed element-wise (`confirm`) before it is
        blamed."""
        self.flags.append((rank, len(self.flags), phase, layer, what, reduced, confirm))
        if isinstance(reduced, tuple):
            self.flag_tensors += reduced
        else:
            self.flag_tensors.append(reduced)

    def _span(self, t):
        """(min, max) of a module output, remembered so that the activation
        module reading the same tensor next does not reduce it again."""
        last = self.last_span
        if last is not None and last[0] is t and last[1] == t._version:
            return last[2]
        mm = span(t.detach())
        self.last_span = (t, t._version, mm)
        return mm

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
        self._flag(0, "forward.linear", layer, "output", self._span(out))
        if out.requires_grad:
            # No torch op in the hook: the gradient is kept (it lives until
            # the optimizer step at most) and reduced with the parameter
            # gradients in one call (_flush_deltas).
            out.register_hook(lambda g, l=layer: self.deltas.append((l, g, g._version)))
        if self.recording:
            self.pending[layer.number] = out.detach()

    def _act_pre(self, module, args):
        if not self.in_step or self.last_layer is None or self.last_layer.number in self.paired:
            return
        layer, name = self.last_layer, self.act_names[module]
        if layer.activation == "linear" and self.step_no == 1:
            layer.activation = name
        if layer.activation != name:
            return
        self.paired.add(layer.number)
        self.pending.pop(layer.number, None)
        self.act_layer[module] = layer
        if self.recording:
            # Before the module runs: an in-place ReLU overwrites its input.
            # The tensor itself, not a detached alias: _span knows it.
            self._pre_stats(layer, args[0])

    def _act_forward(self, module, args, output):
        if module not in self.pre_hooked:
            self._act_pre(module, args)
        layer = self.act_layer.pop(module, None)
        if not self.in_step or layer is None:
            return
        mm = self._span(output)
        self._flag(0, "forward.activation", layer, "activation", mm)
        if self.recording:
            self._act_stats(layer, output.detach(), mm)

    def _rows(self, layer, like, reuse=False):
        """Three reusable rows shaped like `like` (|z|, the squared
        deviations of the activation, the saturation indicator) and the
        matrix over the rows a layer fills, so one sum over dim 1 gives all
        its sums: no allocation and one reduction instead of three. One
        buffer per dtype and device serves every layer (a layer's rows are
        summed before the next layer writes them); float32 at least, so
        counts and sums of half-precision tensors are not rounded to it."""
        cached = layer.rows
        if reuse and cached is not None and cached[1] == like.shape:
            return cached[3]  # the activation's: the rows its pre-activation filled
        dtype = torch.float64 if like.dtype == torch.float64 else torch.float32
        n, rows = like.numel(), 3 if layer.activation in ("sigmoid", "tanh", "softmax") else 2
        key = (dtype, like.device)
        buf = self.scratch.get(key)
        if buf is None or buf.numel() < 3 * n:
            buf = self.scratch[key] = torch.empty(3 * n, dtype=dtype, device=like.device)
        if cached is not None and cached[0] is buf and cached[1] == like.shape and cached[2] == rows:
            return cached[3]
        views = (buf[:rows * n].view(rows, n), buf[:n].view(like.shape), buf[n:2 * n].view(like.shape),
                 buf[2 * n:3 * n].view(like.shape))
        layer.rows = (buf, like.shape, rows, views)
        return views

    def _pre_stats(self, layer, z):
        """Pre-activation statistics as device tensors; counts stay counts
        (shares are divided on the host, exactly as a float64 mean). |z|
        and the saturation indicator go to the layer's rows, summed with
        the activation's in _act_stats."""
        s = self.stats.setdefault(layer.number, {})
        n = self.counts.setdefault(layer.number, {})
        lo, hi = s["pre_min"], s["pre_max"] = self._span(z)  # the output's flag, reused
        z = z.detach()
        n["pre"] = max(1, z.numel())
        _, az, _, sat = self._rows(layer, z)
        if z.dtype == az.dtype:
            torch.abs(z, out=az)
        else:  # half precision: widened to the float32 rows first
            az.copy_(z).abs_()
        # On the CPU a value is read without a transfer: when the range is
        # finite, so is every element, and the counts need no NaN care.
        finite = z.device.type == "cpu" and math.isfinite(lo.item()) and math.isfinite(hi.item())
        if finite or not z.is_floating_point():
            n["nonfinite"] = 0
        else:
            s["pre_nonfinite"] = count_nonfinite(az)
        if layer.activation in ("sigmoid", "tanh"):
            bound = SIGMOID_SATURATION_Z if layer.activation == "sigmoid" else TANH_SATURATION_Z
            # 1 where |z| > bound (NaN is not; +inf is), 0 elsewhere.
            torch.gt(az, bound, out=sat)
            n["saturated"] = z.numel()
        elif layer.activation in ("relu", "leaky_relu", "elu"):
            alive = unit_alive(z, layer.unit_dim)
            s["alive"] = alive.sum()
            n["alive"] = alive.numel()

    def _act_stats(self, layer, a, mm=None):
        s = self.stats.setdefault(layer.number, {})
        n = self.counts.setdefault(layer.number, {})
        s["act_min"], s["act_max"] = mm if mm is not None else self._span(a)
        s["act_mean"] = mean = a.mean()
        n["act"] = max(1, a.numel())
        matrix, _, dev, sat = self._rows(layer, a, reuse=True)
        # Two passes (the mean, then the squared deviations; std =
        # sqrt(sum / n) on the host): a third of torch.std's time on the CPU.
        same = a.dtype == dev.dtype  # else half precision, widened to the float32 rows
        (torch.sub(a, mean, out=dev) if same else dev.copy_(a).sub_(mean)).square_()
        if layer.activation == "softmax":
            # a(1 - a) < 0.0025 as 1 / 0, in place on the row, negated:
            # (a - 1) a = -(a(1 - a)) exactly, so > -0.0025 is the same test.
            (torch.sub(a, 1, out=sat) if same else sat.copy_(a).sub_(1)).mul_(a).gt_(-0.0025)
            n["saturated"] = a.numel()
        # |z|, squared deviations, saturated: one reduction (float64 when a
        # float32 count could pass 2^24 and lose exactness).
        sums = matrix.sum(dim=1, dtype=torch.float64 if a.numel() >= (1 << 24) else None)
        s["rows"] = sums

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

    def _flush_deltas(self, more=()):
        """The norms of the output gradients kept by the backward hooks, and
        of `more`, in one call: a norm is non-finite when an element is (or
        when float32 squares overflow: step() confirms element-wise). A
        gradient changed in place since its hook ran is reduced as it is now."""
        deltas, self.deltas = self.deltas, []
        flat = norms([g.detach() for _, g, _ in deltas] + list(more))
        for (layer, g, _), n in zip(deltas, flat):
            self._flag(2, "backward.delta", layer, "gradient of the output", n, g)
        return flat[len(deltas):]

    def _before_update(self, optimizer, args, kwargs):
        if not self.in_step:
            return
        if not self.recording:
            self._flush_deltas()
            for layer in self.order:
                for p in layer.weights + layer.biases:
                    if p.grad is not None:
                        self._flag(3, "backward.weight_grad", layer, "parameter gradient", p.grad.sum(), p.grad)
            return
        # Every gradient norm of the step in one call, with the output
        # gradients'; they double as the step's non-finite flags (confirmed
        # element-wise in step()).
        grads = [([p.grad for p in layer.weights if p.grad is not None],
                  [p.grad for p in layer.biases if p.grad is not None]) for layer in self.order]
        flat = self._flush_deltas([g for w, b in grads for g in w + b])
        lrs = self._sgd_step_sizes()
        for layer, (w, b) in zip(self.order, grads):
            s = self.stats.setdefault(layer.number, {})
            s["grad_w_norm"] = combine(flat[:len(w)])
            s["grad_b_norm"] = combine(flat[len(w):len(w) + len(b)])
            flat = flat[len(w) + len(b):]
            for g in w:
                self._flag(3, "backward.weight_grad", layer, "weight gradient", s["grad_w_norm"], g)
            for g in b:
                self._flag(3, "backward.weight_grad", layer, "bias gradient", s["grad_b_norm"], g)
            # ||W|| before the step: the norm taken after the last step when
            # no weight changed since (PyTorch counts every in-place change of
            # a tensor in its _version), else a fresh one.
            cached = getattr(layer, "after_norm", None)
            if cached is not None and cached[0] == [p._version for p in layer.weights]:
                s["before_norm"] = cached[1]
            else:
                s["before_norm"] = combine(norms([p.detach() for p in layer.weights]))
            sizes = {lrs.get(id(p)) for p in layer.weights}
            layer.step_size = sizes.pop() if len(sizes) == 1 else None
            if layer.step_size is None:
                # One buffer per weight, kept across steps: W before the step.
                bufs = getattr(layer, "buffers", None)
                if bufs is None or any(b.shape != p.shape or b.dtype != p.dtype or b.device != p.device
                                       for b, p in zip(bufs, layer.weights)):
                    bufs = layer.buffers = [torch.empty_like(p) for p in layer.weights]
                for buf, p in zip(bufs, layer.weights):
                    buf.copy_(p.detach())
            layer.updating = True

    def _sgd_step_sizes(self):
        """id(weight) -> |lr| for the weights whose update is exactly
        -lr * grad: torch.optim.SGD without momentum or weight decay
        (`maximize` only flips the sign), so ||dW|| = |lr| ||grad|| and no
        copy of the weights is needed. Any other optimizer or setting takes
        the difference of the weights around the step (one kept buffer)."""
        if type(self.optimizer) is not torch.optim.SGD:
            return {}
        out = {}
        for g in self.optimizer.param_groups:
            if g.get("momentum", 0) == 0 and g.get("weight_decay", 0) == 0:
                lr = abs(float(g["lr"]))
                for p in g["params"]:
                    out[id(p)] = lr
        return out

    def _after_update(self, optimizer, args, kwargs):
        if not self.in_step:
            return
        # When the next step records, this step's weight norms (its flags too)
        # stand for that step's norms before its update.
        if self.recording or self.step_no % self.every == 0:
            flat = norms([p.detach() for layer in self.order for p in layer.weights + layer.biases])
        else:
            flat = None
        for layer in self.order:
            nw, nb = len(layer.weights), len(layer.biases)
            if flat is None:
                layer.after_norm = None
                for p in layer.weights + layer.biases:
                    self._flag(4, "update", layer, "parameter after the update", p.detach().sum(), p)
                continue
            weight_norm, bias_norm = combine(flat[:nw]), combine(flat[nw:nw + nb])
            flat = flat[nw + nb:]
            layer.after_norm = ([p._version for p in layer.weights], weight_norm)
            for p in layer.weights:
                self._flag(4, "update", layer, "weights after the update", weight_norm, p)
            for p in layer.biases:
                self._flag(4, "update", layer, "biases after the update", bias_norm, p)
            if self.recording and getattr(layer, "updating", False):
                layer.updating = False
                self.stats[layer.number]["weight_norm"] = weight_norm
                if layer.step_size is None:
                    for buf, p in zip(layer.buffers, layer.weights):
                        buf.sub_(p.detach())  # in place: the applied update
                    self.stats[layer.number]["update_norm"] = combine(norms(layer.buffers))

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
        self.last_span = None
        if self.deltas:  # no optimizer step ran (e.g. skipped by a GradScaler)
            self._flush_deltas()
        loss_t = loss.detach().reshape(()) if torch.is_tensor(loss) else torch.tensor(float(loss))
        self._flag(1, "loss", None, "loss", loss_t)
        tensors = [loss_t]
        samples = None
        out = first_tensor(output).detach() if output is not None and target is not None else None
        # One output unit: a binary classifier (argmax over one column is
        # always 0, so its accuracy read 1.0 whatever it predicted), judged
        # by threshold on a binary cross-entropy's output (0 for logits,
        # 0.5 for probabilities); under another loss it is a regression,
        # which has no accuracy.
        binary = out is not None and (out.dim() == 1 or out.shape[-1] == 1)
        if binary and self.loss_kind == "binary_cross_entropy":
            cut = 0.0 if self.loss_input == "logits" else 0.5
            labels = target.detach().reshape(-1).round().long()
            tensors.append(((out.reshape(-1) > cut).long() == labels).sum())
            samples = labels.numel()
            self.classes = 2
            self.labels.append(labels)
            if len(self.labels) >= LABEL_BATCHES:
                self._count_classes()
        elif out is not None and not binary:
            labels = target.argmax(dim=-1) if target.dim() == out.dim() else target
            tensors.append((out.argmax(dim=-1) == labels).sum())
            samples = labels.numel()
            self.classes = out.shape[-1]
            # Counted LABEL_BATCHES steps at a time (one concatenation and
            # one bincount instead of a bincount and an addition per step);
            # labels that are the caller's own tensor are copied first.
            self.labels.append(labels.reshape(-1) if labels is not target else labels.reshape(-1).clone())
            if len(self.labels) >= LABEL_BATCHES:
                self._count_classes()
        for number, out in self.pending.items():
            self._pre_stats(self.order[number - 1], out)
            self._act_stats(self.order[number - 1], out)
        flags, stats = self.flags, self.stats if self.recording else {}
        if loss_t.device.type == "cpu" and not self.transfer_on_cpu:
            loss_v, correct, value, raw = self._read_in_place(tensors, flags, stats)
            # Every flag's value summed: finite exactly when each is (or a
            # sum of finite values overflowed: then each is looked at).
            seen = self.nan_origin is not None or math.isfinite(sum([t.item() for t in self.flag_tensors]))
        else:
            loss_v, correct, value, raw = self._read_transferred(tensors, flags, stats, loss_t.device)
            seen = self.nan_origin is not None
        acc_v = correct / samples if samples else math.nan
        self.steps.append([self.step_no, loss_v, acc_v])
        if not seen:
            # In phase order, then in the order they were raised (a flag's
            # place in the list); the first non-finite one is the origin.
            for i in sorted(range(len(flags)), key=lambda i: flags[i][0]):
                f, v = flags[i], value(i)
                if not math.isfinite(v) and (f[6] is None or not bool(torch.isfinite(f[6]).all())):
                    if f[6] is not None:  # spelled from the elements, not the norm or sum
                        lo, hi = span(f[6].detach())
                        v = flag_value(lo.item(), hi.item())
                    self._origin(f, v)
                    break
        if self.recording:
            for layer in self.order:
                self.metric_rows.append((self.step_no, layer, self._row(layer, raw.get(layer.number, {}))))
        return self.nan_origin is None

    @staticmethod
    def _read_in_place(tensors, flags, stats):
        """The step's values on the CPU, where a tensor's value is read
        without a transfer: each 0-dim tensor by .item() (~0.3 us), each
        vector by .tolist(). Cheaper than gathering them first (stacking 39
        scalars costs ~50 us, more than reading all of them), and nothing
        positional to keep: each value is read where it is. value(i) reads
        flag i; step() calls it only when the sum of the flags' values is
        not finite."""
        loss_v = tensors[0].item()
        correct = tensors[1].item() if len(tensors) > 1 else None

        def value(i):
            r = flags[i][5]
            if isinstance(r, tuple):
                lo, hi = r[0].item(), r[1].item()
                return 0.0 if -math.inf < lo and hi < math.inf else flag_value(lo, hi)
            return r.item()

        raw = {number: {key: t.tolist() if t.dim() else t.item() for key, t in d.items()}
               for number, d in stats.items()}
        return loss_v, correct, value, raw

    def _read_transferred(self, tensors, flags, stats, device):
        """The step's values off the CPU: every 0-dim tensor in one list,
        the vectors in another, copied to the host at once (_to_host)."""
        base, flag_at = len(tensors), []
        for f in flags:
            if isinstance(f[5], tuple):
                flag_at.append((len(tensors), len(tensors) + 1))
                tensors += f[5]
            else:
                flag_at.append((len(tensors),))
                tensors.append(f[5])
        stat_at, vectors = [], []
        for layer in self.order:
            for key, t in stats.get(layer.number, {}).items():
                if t.dim():  # _act_stats' sums of its rows
                    stat_at.append((layer.number, key, ~len(vectors)))
                    vectors.append(t)
                else:
                    stat_at.append((layer.number, key, len(tensors)))
                    tensors.append(t)
        host, vec_host = self._to_host(tensors, vectors, device)

        def value(i):
            at = flag_at[i]
            return flag_value(host[at[0]], host[at[1]]) if len(at) == 2 else host[at[0]]

        raw = {}
        for number, key, i in stat_at:
            raw.setdefault(number, {})[key] = host[i] if i >= 0 else vec_host[~i]
        return host[0], host[1] if base > 1 else None, value, raw

    @staticmethod
    def _to_host(tensors, vectors, device):
        """The values of 0-dim `tensors` (Python numbers) and of 1-dim
        `vectors` (lists), in one transfer: stacked per dtype and device
        (the vectors concatenated after), read as they are on the CPU
        (float32 and int64 values are exact as Python floats and ints),
        elsewhere converted to float64 (exact for every float and for counts
        below 2^53) and concatenated first, so one copy reaches the host."""
        groups = {}
        for i, t in enumerate(tensors):
            groups.setdefault((t.dtype, t.device), ([], []))[0].append(i)
        for i, v in enumerate(vectors):
            groups.setdefault((v.dtype, v.device), ([], []))[1].append(i)
        parts = []
        for idx, vec in groups.values():
            part = [torch.stack([tensors[i] for i in idx])] if idx else []
            part += [vectors[i] for i in vec]
            parts.append(part[0] if len(part) == 1 else torch.cat(part))
        if len(parts) > 1 or any(dev.type != "cpu" for _, dev in groups):
            parts = [torch.cat([p.to(device=device, dtype=torch.float64) for p in parts]).cpu()]
        flat = [x for p in parts for x in p.tolist()]
        host, vec_host, at = [0.0] * len(tensors), [None] * len(vectors), 0
        for idx, vec in groups.values():
            for i in idx:
                host[i] = flat[at]
                at += 1
            for i in vec:
                n = vectors[i].numel()
                vec_host[i] = flat[at:at + n]
                at += n
        return host, vec_host

    def _row(self, layer, r):
        """A metrics.csv row's statistics from the step's raw host values."""
        n = self.counts.get(layer.number, {})
        s = {k: r[k] for k in ("act_min", "act_max", "act_mean", "pre_min", "pre_max",
                                "pre_mean_abs", "grad_w_norm", "grad_b_norm", "weight_norm") if k in r}
        if "rows" in r:  # _act_stats: sums of |z|, squared deviations, saturated
            rows = r["rows"]
            s["pre_mean_abs"] = rows[0] / n["pre"]
            s["act_std"] = math.sqrt(rows[1] / n["act"])
            if len(rows) == 3:
                s["saturated_frac"] = rows[2] / n["saturated"]
        if "pre_nonfinite" in r:
            s["nonfinite"] = int(r["pre_nonfinite"])
        elif "nonfinite" in n:
            s["nonfinite"] = n["nonfinite"]
        if "alive" in r:
            s["dead_frac"] = 1.0 - r["alive"] / n["alive"]
        norms = [s.get(k, 0.0) for k in ("grad_w_norm", "grad_b_norm", "weight_norm")]
        if not all(math.isfinite(v) for v in norms):
            bad = self._count_nonfinite(layer)
            s["nonfinite"] = s.get("nonfinite", 0) + bad
            if bad == 0:  # only the float32 norm overflowed
                grads = lambda ps: [p.grad for p in ps if p.grad is not None]  # noqa: E731
                s["grad_w_norm"] = norm64(grads(layer.weights))
                s["grad_b_norm"] = norm64(grads(layer.biases))
                s["weight_norm"] = norm64(layer.weights)
        if "before_norm" in r:
            step_size = getattr(layer, "step_size", None)
            update = step_size * s["grad_w_norm"] if step_size is not None else r["update_norm"]
            # A layer without weights: 0/0, as the copy-based ratio was.
            s["update_ratio"] = ratio(update, r["before_norm"]) if layer.weights else math.nan
        return s

    def _count_classes(self):
        """Adds the kept labels to class_counts."""
        if not self.labels:
            return
        labels, self.labels = self.labels, []
        counts = torch.bincount(torch.cat(labels) if len(labels) > 1 else labels[0], minlength=self.classes)
        if self.class_counts is None:
            self.class_counts = counts
        elif counts.numel() > self.class_counts.numel():  # a label beyond the output width
            counts[:self.class_counts.numel()] += self.class_counts
            self.class_counts = counts
        else:
            self.class_counts[:counts.numel()] += counts

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
        """Removes the hooks and finishes the run directory: appends the rows
        not yet written, flushes and fsyncs metrics.csv and loss.csv, then
        replaces summary.json (written to a temporary file, fsynced, renamed)
        with "complete": true, last. An I/O failure is warned about, not
        raised (the run then stays "complete": false, or has no summary).
        A second call does nothing."""
        for h in self.handles:
            h.remove()
        self.handles = []
        if self.closed:
            return
        self.closed = True
        atexit.unregister(self._exit_hook)
        self._flush(sync=True, complete=True)
        self._close_files()

    def _start(self):
        """Starts the run directory: removes an older run's summary.json
        first (from then on no summary claims the files), then creates each
        CSV afresh (a new file, not an old one truncated: a recorder still
        writing the old one sees it is no longer its own, _check_own) with
        the run id line and the header."""
        os.makedirs(self.dir, exist_ok=True)
        unlink_if_present(os.path.join(self.dir, "summary.json"))
        sync_directory(self.dir)
        for kind, header in (("metrics", METRICS_HEADER), ("loss", LOSS_HEADER)):
            path = os.path.join(self.dir, kind + ".csv")
            unlink_if_present(path)
            f = self.files[kind] = create_new(path)
            f.write(f"# run_id={self.run_id}\n")
            csv.writer(f, lineterminator="\n").writerow(header)
            f.flush()

    def _flush(self, sync=False, complete=False):
        """Appends the rows not yet written, flushes the CSVs (and fsyncs
        them when `sync`), then rewrites summary.json: always when
        `complete` (close()), else once the layers are known. Never raises
        an error of its own: a failure is warned about once and ends the
        writing. An interruption (Ctrl-C) while the rows are formatted
        leaves them kept for the atexit handler; one while they are written
        (a torn row is possible) ends the writing."""
        if self.failed:
            self.steps.clear()
            self.metric_rows.clear()
            return
        try:
            metrics, loss = self._format_rows()
            try:
                if metrics:
                    self.files["metrics"].write(metrics)
                if loss:
                    self.files["loss"].write(loss)
                for f in self.files.values():
                    f.flush()
            except BaseException:
                self.failed = True
                raise
            self._written()
            if sync:
                for f in self.files.values():
                    os.fsync(f.fileno())
            if complete or self.order:
                self._check_own()
                self._write_summary(complete)
        except Exception as e:
            self._fail(e)

    def _format_rows(self):
        """The kept rows as CSV text, one string per file (appended in one
        write: a flush leaves whole rows in the files). Nothing is changed:
        _written() drops them once they are written."""
        metrics = loss = ""
        if self.metric_rows:
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            for step, layer, s in self.metric_rows:
                row = [step, layer.number, layer.activation]
                for key in STATS[:-1]:
                    v = s.get(key)
                    row.append("" if v is None else num(v))
                row += [int(s.get("nonfinite", 0)) if math.isfinite(s.get("nonfinite", 0)) else 0,
                        layer.units, layer.name]
                w.writerow(row)
            metrics = buf.getvalue()
        if self.steps:
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            for step, loss_v, acc in self.steps:
                tl, ta = self.tests.get(step, (None, None))
                w.writerow([step, num(loss_v), "" if math.isnan(acc) else num(acc),
                            "" if tl is None else num(tl), "" if ta is None else num(ta)])
            loss = buf.getvalue()
        return metrics, loss

    def _written(self):
        """The kept rows are in the files: dropped, with the evaluations of
        their steps (and of steps without a row: before step 1)."""
        if self.steps:
            last = self.steps[-1][0]
            if self.tests:
                self.tests = {k: v for k, v in self.tests.items() if k > last}
        self.steps = []
        self.metric_rows = []

    def _check_own(self):
        """Raises when a CSV in the directory is no longer the file this
        recorder writes (another recorder started in the same directory):
        a summary of this run must never describe another run's rows."""
        for kind, f in self.files.items():
            path = os.path.join(self.dir, kind + ".csv")
            try:
                same = os.path.samestat(os.fstat(f.fileno()), os.lstat(path))
            except FileNotFoundError:
                same = False
            if not same:
                raise OSError(f"{path} is no longer this recorder's file (another run is recorded "
                              "in the same directory)")

    def _write_summary(self, complete):
        """summary.json, atomically: written to a temporary file in the same
        directory, fsynced, then renamed over summary.json."""
        text = json.dumps(finite_or_null(self.facts(complete)), indent=2, allow_nan=False, default=str) + "\n"
        path = os.path.join(self.dir, "summary.json")
        tmp = os.path.join(self.dir, f".summary.json.{os.getpid()}.tmp")
        unlink_if_present(tmp)
        try:
            with create_new(tmp) as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        sync_directory(self.dir)

    def _fail(self, error):
        """An I/O failure: warned about once; nothing more is written."""
        self.steps.clear()
        self.metric_rows.clear()
        if self.failed:
            return
        self.failed = True
        warnings.warn(f"nn_doctor_torch: writing the run directory {self.dir!r} failed "
                      f"({type(error).__name__}: {error}); training goes on, the run is not written further",
                      RuntimeWarning, stacklevel=3)

    def _at_exit(self):
        """The program ends without close() (an exception, Ctrl-C,
        sys.exit): the rows recorded so far are written and summary.json
        says "complete": false."""
        if self.closed or os.getpid() != self.pid:
            return
        self.closed = True
        self._flush(sync=True, complete=False)
        self._close_files()

    def _close_files(self):
        files, self.files = self.files, {}
        for f in files.values():
            try:
                f.close()
            except Exception as e:
                self._fail(e)

    def facts(self, complete=False):
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
        self._count_classes()
        if self.class_counts is not None and classes:
            counts = self.class_counts.tolist()
            pre["chance_accuracy"] = max(max(counts) / max(1, sum(counts)), 1.0 / classes)
            pre["classes"] = classes
        if self.test_samples:
            pre["test_samples"] = self.test_samples
        loss_kind = self.loss_kind
        facts = {
            "run_format": RUN_FORMAT,
            "producer": PRODUCER,
            "name": self.name,
            "run_id": self.run_id,
            "complete": bool(complete),
            "nan_origin": self.nan_origin,
            "network": {"dtype": "f64" if next(self.model.parameters()).dtype == torch.float64 else "f32",
                        "layers": layers, "loss": loss_kind, "optimizer": opt, "learning_rate": group.get("lr"),
                        "batch_size": batch,
                        "parameters": sum(p.numel() for p in self.model.parameters())},
            "preflight": pre,
            "timing": {"seconds": seconds,
                       "samples_per_second": (batch or 0) * self.step_no / seconds if seconds > 0 else 0.0},
        }
        if self.loss_input is not None:
            # nn.CrossEntropyLoss and nn.BCEWithLogitsLoss apply their own
            # softmax / sigmoid: the model's output is logits, and a linear
            # last layer is the right head.
            facts["network"]["loss_input"] = self.loss_input
        if self.data:
            facts["data"] = self.data
        if self.nan_origin:
            facts["stop_reason"] = f"non-finite value in {self.nan_origin['phase']} at step {self.nan_origin['step']}"
        return facts
