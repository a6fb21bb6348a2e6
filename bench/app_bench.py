#!/usr/bin/env python3
"""Benchmark: the mnist app (static release binary) against the NumPy implementation of the same
algorithm (bench/mnist_numpy.py), on the same jobs, in one run.

Each job runs as a whole process, start to exit (loading the data, training, writing the metrics),
alternating app and NumPy. Wall time is measured around the process; peak memory is the process's
maximum resident set size from wait4(). Prints a table with both times, the ratio, peak memory and
the mean validation accuracy.

Usage: python3 bench/app_bench.py [--seeds 714562,910552,...] [--repeat 1] [--bin PATH]
       [--python PYTHON_WITH_NUMPY] [--dataset DIR]
Default job: the original experiment (8,000 samples, 10 epochs, batch 256, lr 0.05) on
app/data/mnist-10k, with its five seeds.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEEDS = [714562, 910552, 625989, 962826, 103343]


def python_with_numpy(preferred):
    candidates = [preferred] if preferred else [sys.executable, "python3", "/usr/bin/python3"]
    for py in candidates:
        try:
            if subprocess.run([py, "-c", "import numpy"], capture_output=True).returncode == 0:
                return py
        except OSError:
            pass
    sys.exit("no Python with NumPy found (pass --python)")


def build_static():
    out = subprocess.run(
        ["bash", os.path.join(ROOT, "app", "build-static.sh")],
        stdout=subprocess.PIPE, check=True, text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def timed(cmd):
    """Runs cmd; returns (wall seconds, peak RSS in MiB)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(cmd)}")
    return wall, usage.ru_maxrss / 1024.0


def main():
    ap = argparse.ArgumentParser(description="mnist app vs NumPy benchmark")
    ap.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    ap.add_argument("--repeat", type=int, default=1, help="runs per seed and implementation")
    ap.add_argument("--bin", help="the mnist binary (default: build it with app/build-static.sh)")
    ap.add_argument("--python", help="a Python that has NumPy")
    ap.add_argument("--dataset", default=os.path.join(ROOT, "app", "data", "mnist-10k"))
    ap.add_argument("--samples", type=int, default=8000)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=0.05)
    args = ap.parse_args()

    binary = args.bin or build_static()
    python = python_with_numpy(args.python)
    numpy_impl = os.path.join(ROOT, "bench", "mnist_numpy.py")
    seeds = [int(s) for s in args.seeds.split(",")]

    results = {"app": [], "numpy": []}
    accs = {"app": [], "numpy": []}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            job = dict(seed=seed, sample_count=args.samples, train_epochs=args.epochs,
                       batch_size=args.batch, learning_rate=args.lr)
            job_path = os.path.join(tmp, f"job-{seed}.json")
            with open(job_path, "w") as f:
                json.dump(job, f)
            for _ in range(args.repeat):
                for name, cmd in (
                    ("app", [binary]),
                    ("numpy", [python, numpy_impl]),
                ):
                    out = os.path.join(tmp, f"{name}-{seed}.json")
                    results[name].append(
                        timed(cmd + ["--job", job_path, "--dataset", args.dataset, "--out", out])
                    )
                    with open(out) as f:
                        accs[name].append(json.load(f)["val_acc"])

    print(f"job: {args.samples} samples, {args.epochs} epochs, batch {args.batch}, lr {args.lr}, "
          f"{len(seeds)} seeds x {args.repeat} on {os.path.relpath(args.dataset, ROOT)}")
    print(f"{'implementation':<16}{'mean s/job':>12}{'min s/job':>12}{'peak RSS MiB':>14}"
          f"{'mean val_acc':>14}")
    for name in ("app", "numpy"):
        walls = [w for w, _ in results[name]]
        rss = max(r for _, r in results[name])
        print(f"{name:<16}{statistics.mean(walls):>12.3f}{min(walls):>12.3f}{rss:>14.1f}"
              f"{statistics.mean(accs[name]):>14.4f}")
    mean_ratio = statistics.mean(w for w, _ in results["numpy"]) / statistics.mean(
        w for w, _ in results["app"])
    min_ratio = min(w for w, _ in results["numpy"]) / min(w for w, _ in results["app"])
    print(f"speed-up (NumPy time / app time): {mean_ratio:.1f}x on means, {min_ratio:.1f}x on minima")


if __name__ == "__main__":
    main()
