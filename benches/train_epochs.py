#!/usr/bin/env python3
"""Whole-command wall clock: `ardent train` beside a PyTorch script doing the same job.

Both train the variational LeNet-300-100 (local reparameterization, ARD KL at the optimal
precision, Adam 1e-3, batch 100, 2 threads) on Fashion-MNIST for `--epochs` epochs from the
gzipped IDX files: read and decode the files, hold out 10 % of the training images for
validation, normalise, train, measure validation accuracy after every epoch with the posterior
means, and the test accuracy at the end. Each run is a fresh process, timed from its start
(so PyTorch's import and ardent's start-up count alike), interleaved, `--rounds` times.
It also reports CPU time ÷ wall time, how many of the cores each kept busy.

    python3 benches/train_epochs.py --ardent target/debug/ardent --epochs 3 --rounds 3

Needs torch and numpy (PyPI). Prints a table and one JSON line per run.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time


def pytorch_job(data_dir, epochs, threads, batch):
    """The PyTorch side: runs in its own process (see `--pytorch-job`)."""
    import numpy as np
    import torch

    from train_throughput import lenet_300_100, read_idx, train_step

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    idx = lambda name: read_idx(os.path.join(data_dir, name))
    x = idx("train-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float32)
    y = idx("train-labels-idx1-ubyte.gz").astype(np.int64)
    xt = idx("t10k-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float32)
    yt = idx("t10k-labels-idx1-ubyte.gz").astype(np.int64)
    perm = np.random.default_rng(0).permutation(len(y))
    n_valid = len(y) // 10
    valid, train = perm[:n_valid], perm[n_valid:]
    mean, std = x[train].mean(), x[train].std()
    norm = lambda a: torch.tensor((a - mean) / std)
    xtr, ytr = norm(x[train]), torch.tensor(y[train])
    xva, yva = norm(x[valid]), torch.tensor(y[valid])
    xte, yte = norm(xt), torch.tensor(yt)

    layers, forward = lenet_300_100(torch)

    def accuracy(xs, ys):
        with torch.no_grad():
            return (forward(xs, sample=False).argmax(1) == ys).float().mean().item()

    opt = torch.optim.Adam(torch.nn.ModuleList(layers).parameters(), lr=1e-3)
    n = len(ytr)
    for epoch in range(epochs):
        order = torch.randperm(n)
        for s in range(0, n, batch):
            b = order[s: s + batch]
            train_step(torch, opt, layers, forward, xtr[b], ytr[b], n)
        print(json.dumps({"epoch": epoch + 1, "valid_accuracy": accuracy(xva, yva)}))
    print(json.dumps({"test_accuracy": accuracy(xte, yte)}))


def timed(cmd, env):
    """Runs `cmd`; returns (wall seconds, CPU seconds of the child, stdout)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, out.stdout


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ardent", default="target/debug/ardent")
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--pytorch-job", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.pytorch_job:
        return pytorch_job(a.data, a.epochs, a.threads, a.batch)
    env = dict(os.environ, RAYON_NUM_THREADS=str(a.threads), OMP_NUM_THREADS=str(a.threads))
    spec = os.path.join("models", "zoo", "lenet-300-100.toml")
    runs = {"ardent": [], "pytorch": []}
    for r in range(a.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            wall, cpu, out = timed(
                [a.ardent, "train", spec, "--data", a.data, "--epochs", str(a.epochs),
                 "--batch-size", str(a.batch), "--json", "--out", os.path.join(tmp, "c.safetensors")],
                env,
            )
        last = [json.loads(l) for l in out.splitlines() if l.startswith("{")][-1]
        runs["ardent"].append((wall, cpu))
        print(json.dumps({"round": r, "impl": "ardent", "wall_s": wall, "cpu_s": cpu,
                          "valid_accuracy": last.get("valid_accuracy")}))
        wall, cpu, out = timed(
            [sys.executable, __file__, "--pytorch-job", "--data", a.data, "--epochs",
             str(a.epochs), "--threads", str(a.threads), "--batch", str(a.batch)],
            env,
        )
        lines = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
        runs["pytorch"].append((wall, cpu))
        print(json.dumps({"round": r, "impl": "pytorch", "wall_s": wall, "cpu_s": cpu,
                          "valid_accuracy": lines[-2]["valid_accuracy"],
                          "test_accuracy": lines[-1]["test_accuracy"]}))
    print(f"LeNet-300-100, {a.epochs} epochs, whole command:")
    print(f"  {'impl':<10} {'median wall s':>14} {'CPU ÷ wall':>11}  runs (wall s)")
    for impl, rs in runs.items():
        walls = [w for w, _ in rs]
        busy = statistics.median(c / w for w, c in rs)
        print(f"  {impl:<10} {statistics.median(walls):>14.2f} {busy:>11.2f}  "
              + ", ".join(f"{w:.2f}" for w in walls))
    ratio = statistics.median(w for w, _ in runs["ardent"]) / statistics.median(
        w for w, _ in runs["pytorch"])
    print(f"  ardent / pytorch wall time: {ratio:.2f} (≤ 1 means ardent is as fast or faster)")


if __name__ == "__main__":
    main()
