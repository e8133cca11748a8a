"""What every NumPy baseline (bench/numpy/ID.py) shares: one thread, its spec, its
timing, the committed Rust means it is compared with, and the line `make bench-numpy`
reads.

Import it before NumPy: it pins BLAS and OpenMP to one thread, which only works
before NumPy is loaded. The timed work of a baseline is simulate + summarise, and its
time is the process's CPU time (`time.process_time`): for one thread on a quiet machine
that is the wall time, and on a loaded one it leaves out the time other processes ran.
`make bench-numpy` keeps the line `ID numpy_seconds=S`, S the median over the runs.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import csv  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tomllib  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RUNS = 3


def load_spec(figure):
    """The spec specs/FIGURE.toml, or the file given as the script's first argument."""
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "specs" / f"{figure}.toml"
    with open(path, "rb") as f:
        return tomllib.load(f)


def timed_runs(run, runs=RUNS):
    """`run(k)` for k = 0..runs-1 (run k uses seed + k): their results and CPU seconds."""
    results, seconds = [], []
    for k in range(runs):
        start = time.process_time()
        results.append(run(k))
        seconds.append(time.process_time() - start)
    return results, seconds


def committed(figure):
    """The committed Rust summary figures/data/FIGURE.csv as {(arm, metric, x): (mean,
    lo, hi)}, x a float; empty if there is none."""
    path = ROOT / "figures" / "data" / f"{figure}.csv"
    if not path.exists():
        return {}
    with open(path, newline="") as f:
        return {
            (r["arm"], r["metric"], float(r["x"])): (float(r["mean"]), float(r["lo"]), float(r["hi"]))
            for r in csv.DictReader(f)
        }


def report_seconds(figure, seconds):
    """Each run's CPU seconds (on stderr), and the median on the line make reads."""
    print(f"runs: {', '.join(f'{s:.3f}' for s in seconds)} s CPU", file=sys.stderr)
    print(f"{figure} numpy_seconds={statistics.median(seconds):.3f}")
