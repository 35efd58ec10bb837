"""Rounds disturbed by other processes are discarded, not averaged in.

On a shared 2-core machine PyTorch's OpenMP threads collapse when another
process takes a core, so a benchmark round only counts when the rest of the
machine stayed (nearly) idle while it ran. `Window` reads the machine's busy
time from /proc/stat and the contender's own CPU time from /proc/PID/stat
(all its threads) before and after a round; what remains is the CPU other
processes used, in cores (1.0 = one core busy for the whole round).

Linux only (/proc); the counters tick at SC_CLK_TCK (100 Hz), so a round
should last at least ~0.5 s for a 0.1-core threshold to mean something.
"""
import os
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
# Rounds where other processes used more than this many cores are discarded.
THRESHOLD_CORES = float(os.environ.get("NN_DOCTOR_BENCH_MAX_LOAD", "0.1"))


def machine_busy():
    """Busy jiffies summed over all CPUs (user, nice, system, irq, softirq,
    steal; guest time is already inside user)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[0] + v[1] + v[2] + v[5] + v[6] + v[7]


def process_cpu(pid):
    """utime + stime of a process, all its threads, in jiffies."""
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()  # fields[0] is field 3 (state)
    return int(fields[11]) + int(fields[12])


class Window:
    """`with Window(pid) as w: ...` then `w.others` (cores used by other
    processes during the block), `w.own` (cores the contender used),
    `w.seconds` and `w.clean` (others <= THRESHOLD_CORES)."""

    def __init__(self, pid="self"):
        self.pid = pid

    def __enter__(self):
        self._busy, self._own = machine_busy(), process_cpu(self.pid)
        self._t = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self._t
        busy, own = machine_busy() - self._busy, process_cpu(self.pid) - self._own
        ticks = max(self.seconds * CLK_TCK, 1e-9)
        self.own = own / ticks
        self.others = max(0, busy - own) / ticks
        self.clean = self.others <= THRESHOLD_CORES
        return False


def rounds(names, turn, wanted, budget, pid=lambda name: "self"):
    """Interleaved rounds: every name's `turn(name)` once per round, in an
    order that rotates from round to round, each turn inside a `Window` on
    `pid(name)`. A round is kept when other processes used at most
    THRESHOLD_CORES during every one of its turns. Stops at `wanted` kept
    rounds or after `budget` seconds. Returns (clean, disturbed): clean is a
    list of (load, {name: result}), disturbed the same for discarded rounds,
    load being the worst turn's other-process cores."""
    clean, disturbed = [], []
    started, r = time.perf_counter(), 0
    while len(clean) < wanted and time.perf_counter() - started < budget:
        got, worst = {}, 0.0
        for name in names[r % len(names):] + names[:r % len(names)]:
            with Window(pid(name)) as w:
                got[name] = turn(name)
            worst = max(worst, w.others)
        r += 1
        (clean if worst <= THRESHOLD_CORES else disturbed).append((worst, got))
    return clean, disturbed


def median(values):
    s = sorted(values)
    return s[len(s) // 2] if s else float("nan")
