#!/usr/bin/env python3
"""Benchmark: the mnist app (static release binary) against the NumPy implementation of the same
algorithm (bench/mnist_numpy.py) under one or more NumPy installations, on the same jobs, in one
run.

Each job runs as a whole process, start to exit (loading the data, training, writing the metrics),
alternating the app and each NumPy. Every process is pinned to one core (`taskset -c CORE`) with
OPENBLAS_NUM_THREADS, OMP_NUM_THREADS and MKL_NUM_THREADS set to 1, so NumPy's BLAS cannot spread
over other cores. Wall time is measured around the process; peak memory is the process's maximum
resident set size from wait4(). Prints, per job, a table with each implementation's times, peak
memory and mean accuracies, and the speed-up of the app over the faster NumPy.

Two jobs:
- original: the seed experiment (8,000 samples, 10 epochs, batch 256, lr 0.05) on
  app/data/mnist-10k, with its five seeds, --repeat times each.
- full: the full Fashion-MNIST set (Debian's dataset-fashion-mnist): every one of its 60,000
  training rows in use -- 50,000 to train, 10,000 held out to validate (validation rows are
  training rows) -- 50 epochs, and the 10,000 test rows scored once at the end; one seed,
  --full-repeat times. It is long under NumPy; --full-repeat 0 skips it.

Usage: python3 bench/app_bench.py [--python PY]... [--repeat 1] [--full-repeat 1] [--bin PATH]
       [--core 0] [--seeds 714562,...] [--dataset DIR] [--full-dataset DIR]
Without --python: Debian's /usr/bin/python3 and, if present, the NumPy from PyPI in
/tmp/np2/bin/python (python3 -m venv /tmp/np2 && /tmp/np2/bin/pip install numpy).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEEDS = [714562, 910552, 625989, 962826, 103343]
DEFAULT_PYTHONS = ["/usr/bin/python3", "/tmp/np2/bin/python"]
FASHION = "/usr/share/datasets/fashion-mnist"
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def numpy_version(py):
    """NumPy's version under `py`, or None if it has none."""
    try:
        out = subprocess.run([py, "-c", "import numpy; print(numpy.__version__)"],
                             capture_output=True, text=True)
    except OSError:
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def build_static():
    out = subprocess.run(
        ["bash", os.path.join(ROOT, "app", "build-static.sh")],
        stdout=subprocess.PIPE, check=True, text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def timed(cmd, core):
    """Runs cmd on one core; returns (wall seconds, peak RSS in MiB, CPU seconds)."""
    if core is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", str(core)] + cmd
    env = dict(os.environ, **ONE_THREAD)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(cmd)}")
    return wall, usage.ru_maxrss / 1024.0, usage.ru_utime + usage.ru_stime


def shown(path):
    """A path relative to the repository when inside it, else as given."""
    rel = os.path.relpath(path, ROOT)
    return path if rel.startswith("..") else rel


def run_job(title, job, seeds, repeat, dataset, impls, tmp, core):
    """Runs `job` for every seed `repeat` times per implementation; prints the table."""
    runs = {name: [] for name, _ in impls}
    for seed in seeds:
        job_path = os.path.join(tmp, f"job-{seed}.json")
        with open(job_path, "w") as f:
            json.dump(dict(job, seed=seed), f)
        for _ in range(repeat):
            for name, cmd in impls:
                out = os.path.join(tmp, "metrics.json")
                wall, rss, cpu = timed(
                    cmd + ["--job", job_path, "--dataset", dataset, "--out", out], core)
                with open(out) as f:
                    m = json.load(f)
                runs[name].append((wall, rss, m["val_acc"], m.get("test_acc"), cpu))
                print(f"  {title} seed {seed} {name}: {wall:.3f} s", file=sys.stderr)

    print(f"\n{title}: {job['sample_count']} samples, {job['train_epochs']} epochs, batch "
          f"{job['batch_size']}, lr {job['learning_rate']}, val_count {job.get('val_count')}, "
          f"{len(seeds)} seed(s) x {repeat} on {shown(dataset)}")
    print(f"{'implementation':<22}{'mean s/job':>12}{'min s/job':>12}{'mean CPU s':>12}"
          f"{'peak RSS MiB':>14}{'mean val_acc':>14}{'mean test_acc':>15}")
    for name, _ in impls:
        r = runs[name]
        tests = [r_[3] for r_ in r if r_[3] is not None]
        print(f"{name:<22}{statistics.mean(r_[0] for r_ in r):>12.3f}"
              f"{min(r_[0] for r_ in r):>12.3f}{statistics.mean(r_[4] for r_ in r):>12.3f}"
              f"{max(r_[1] for r_ in r):>14.1f}{statistics.mean(r_[2] for r_ in r):>14.4f}"
              f"{(f'{statistics.mean(tests):.4f}' if tests else '-'):>15}")
    app_mean = statistics.mean(w for w, *_ in runs["app"])
    app_min = min(w for w, *_ in runs["app"])
    numpys = [name for name, _ in impls if name != "app"]
    fastest = min(numpys, key=lambda n: statistics.mean(w for w, *_ in runs[n]))
    mean_ratio = statistics.mean(w for w, *_ in runs[fastest]) / app_mean
    min_ratio = min(w for w, *_ in runs[fastest]) / app_min
    cpu_ratio = statistics.mean(r_[4] for r_ in runs[fastest]) / statistics.mean(
        r_[4] for r_ in runs["app"])
    print(f"speed-up over the faster NumPy ({fastest}): {mean_ratio:.1f}x on means, "
          f"{min_ratio:.1f}x on minima (wall); {cpu_ratio:.1f}x on mean CPU time")


def main():
    ap = argparse.ArgumentParser(description="mnist app vs NumPy benchmark")
    ap.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    ap.add_argument("--repeat", type=int, default=1, help="original job: runs per seed and implementation")
    ap.add_argument("--full-repeat", type=int, default=1, help="full job: runs per implementation (0 skips it)")
    ap.add_argument("--bin", help="the mnist binary (default: build it with app/build-static.sh)")
    ap.add_argument("--python", action="append",
                    help="a Python with NumPy (repeatable; default: Debian's and /tmp/np2's)")
    ap.add_argument("--core", type=int, default=0, help="the core every process is pinned to")
    ap.add_argument("--dataset", default=os.path.join(ROOT, "app", "data", "mnist-10k"))
    ap.add_argument("--full-dataset", default=FASHION)
    args = ap.parse_args()

    binary = args.bin or build_static()
    numpy_impl = os.path.join(ROOT, "bench", "mnist_numpy.py")
    impls = [("app", [binary])]
    for py in args.python or DEFAULT_PYTHONS:
        version = numpy_version(py)
        if version is None:
            if args.python:
                sys.exit(f"{py} has no NumPy")
            print(f"skipping {py}: no NumPy", file=sys.stderr)
            continue
        impls.append((f"numpy {version}", [py, numpy_impl]))
    if len(impls) == 1:
        sys.exit("no Python with NumPy found (pass --python)")
    print(f"load average before: {os.getloadavg()}; one core: taskset -c {args.core}, "
          f"{' '.join(f'{k}=1' for k in ONE_THREAD)}")
    for name, cmd in impls[1:]:
        print(f"{name}: {cmd[0]}")

    base = dict(batch_size=256, learning_rate=0.05)
    with tempfile.TemporaryDirectory() as tmp:
        run_job("original job", dict(base, sample_count=8000, train_epochs=10),
                [int(s) for s in args.seeds.split(",")], args.repeat, args.dataset, impls, tmp,
                args.core)
        if args.full_repeat > 0:
            run_job("full Fashion-MNIST",
                    dict(base, sample_count=50000, val_count=10000, train_epochs=50),
                    [SEEDS[0]], args.full_repeat, args.full_dataset, impls, tmp, args.core)
    print(f"\nload average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
