#!/usr/bin/env python3
"""NumPy reference implementation of the mnist app's algorithm (the benchmark's baseline).

Same job file, same data, same algorithm as the Rust app: softmax regression 784 -> 10 on
pixels / 255, zero-initialised weights, minibatch SGD on the mean cross-entropy with a reshuffle
every epoch, a stable softmax (per-row max subtracted), train/validation loss and accuracy after
each epoch on the training rows not drawn (ascending, the first val_count of them), and the final
model scored once on the whole test split when the dataset has one (test_acc / test_loss, apart
from validation). Optional Gaussian pixel noise (clipped to [0, 1]) when the job has noise_std > 0.

It is written the way a researcher would write it in NumPy (dense float64 matrices, BLAS matmuls),
not to match the app bit for bit: NumPy's generator differs from the app's ChaCha20, so the drawn
subset and the shuffles differ and results agree only statistically.

Usage: mnist_numpy.py --job job.json --dataset DIR_OR_NPZ --out metrics.json
"""

import argparse
import gzip
import json
import os
import struct
import sys
import time

import numpy as np


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    return arr.reshape(dims)


def find(directory, name):
    for candidate in (name, name + ".gz"):
        path = os.path.join(directory, candidate)
        if os.path.exists(path):
            return path
    return None


def load(path):
    """Returns (x_train, y_train, x_test, y_test); the test pair may be None."""
    if os.path.isdir(path):
        x = read_idx(find(path, "train-images-idx3-ubyte"))
        y = read_idx(find(path, "train-labels-idx1-ubyte"))
        ti, tl = find(path, "t10k-images-idx3-ubyte"), find(path, "t10k-labels-idx1-ubyte")
        if ti and tl:
            return x, y, read_idx(ti), read_idx(tl)
        return x, y, None, None
    with np.load(path) as z:
        if "x_test" in z:
            return z["x_train"], z["y_train"], z["x_test"], z["y_test"]
        return z["x_train"], z["y_train"], None, None


def scores(x, y, w, b):
    z = x @ w + b
    z = z - z.max(axis=1, keepdims=True)
    log_sum = np.log(np.exp(z).sum(axis=1))
    loss = float(np.mean(log_sum - z[np.arange(len(y)), y]))
    acc = float(np.mean(z.argmax(axis=1) == y))
    return loss, acc


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--job", required=True)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    start = time.perf_counter()

    with open(args.job) as f:
        job = json.load(f)
    seed = job["seed"]
    n = job["sample_count"]
    epochs = job["train_epochs"]
    batch = job["batch_size"]
    lr = job["learning_rate"]
    val_count = job.get("val_count")
    noise = job.get("noise_std") or 0.0

    x_all, y_all, x_test, y_test = load(args.dataset)
    x_all = x_all.reshape(len(x_all), -1)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(x_all))
    train_idx = perm[:n]
    x = x_all[train_idx].astype(np.float64) / 255.0
    y = y_all[train_idx].astype(np.int64)
    rest = np.sort(perm[n:])
    if val_count is not None:
        if n + val_count > len(x_all):
            sys.exit(f"sample_count + val_count = {n + val_count} > {len(x_all)} training rows")
        rest = rest[:val_count]
    if len(rest) == 0:
        sys.exit("no validation rows: sample_count uses every training row")
    xv, yv = x_all[rest], y_all[rest]
    xv = xv.astype(np.float64) / 255.0
    yv = yv.astype(np.int64)

    w = np.zeros((784, 10))
    b = np.zeros(10)
    eye = np.eye(10)
    history = []
    for epoch in range(1, epochs + 1):
        order = rng.permutation(n)
        for s in range(0, n, batch):
            idx = order[s : s + batch]
            xb = x[idx]
            if noise > 0:
                xb = np.clip(xb + noise * rng.standard_normal(xb.shape), 0.0, 1.0)
            z = xb @ w + b
            z -= z.max(axis=1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=1, keepdims=True)
            d = (p - eye[y[idx]]) / len(idx)
            w -= lr * (xb.T @ d)
            b -= lr * d.sum(axis=0)
        train_loss, train_acc = scores(x, y, w, b)
        val_loss, val_acc = scores(xv, yv, w, b)
        history.append(
            dict(epoch=epoch, train_loss=train_loss, train_acc=train_acc,
                 val_loss=val_loss, val_acc=val_acc)
        )
        print(f"epoch {epoch}/{epochs}: val_acc {val_acc:.4f}", file=sys.stderr)

    test_loss = test_acc = None
    if x_test is not None:
        xt = x_test.reshape(len(x_test), -1).astype(np.float64) / 255.0
        test_loss, test_acc = scores(xt, y_test.astype(np.int64), w, b)
    last = history[-1]
    out = dict(job=job, train_acc=last["train_acc"], train_loss=last["train_loss"],
               val_acc=last["val_acc"], val_loss=last["val_loss"], test_acc=test_acc,
               test_loss=test_loss, history=history,
               host=dict(runtime_s=time.perf_counter() - start, numpy=np.__version__))
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
