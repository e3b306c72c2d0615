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
    import gzip

    import numpy as np
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)

    def read_idx(name):
        with gzip.open(os.path.join(data_dir, name), "rb") as f:
            data = f.read()
        ndim = data[3]
        dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
        return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)

    x = read_idx("train-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float32)
    y = read_idx("train-labels-idx1-ubyte.gz").astype(np.int64)
    xt = read_idx("t10k-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float32)
    yt = read_idx("t10k-labels-idx1-ubyte.gz").astype(np.int64)
    perm = np.random.default_rng(0).permutation(len(y))
    n_valid = len(y) // 10
    valid, train = perm[:n_valid], perm[n_valid:]
    mean, std = x[train].mean(), x[train].std()
    norm = lambda a: torch.tensor((a - mean) / std)
    xtr, ytr = norm(x[train]), torch.tensor(y[train])
    xva, yva = norm(x[valid]), torch.tensor(y[valid])
    xte, yte = norm(xt), torch.tensor(yt)

    class VarLinear(torch.nn.Module):
        def __init__(self, i, o):
            super().__init__()
            self.mu = torch.nn.Parameter(torch.randn(i, o) * (2.0 / i) ** 0.5)
            self.log_sigma2 = torch.nn.Parameter(torch.full((i, o), -10.0))
            self.bias = torch.nn.Parameter(torch.zeros(o))

        def forward(self, x, sample=True):
            m = x @ self.mu + self.bias
            if not sample:
                return m
            v = (x * x) @ self.log_sigma2.exp()
            return m + (v + 1e-8).sqrt() * torch.randn_like(m)

        def kl(self):
            return 0.5 * torch.log1p(self.mu**2 / self.log_sigma2.exp()).sum()

    layers = torch.nn.ModuleList([VarLinear(784, 300), VarLinear(300, 100), VarLinear(100, 10)])

    def forward(xb, sample=True):
        h = torch.relu(layers[0](xb, sample))
        h = torch.relu(layers[1](h, sample))
        return layers[2](h, sample)

    def accuracy(xs, ys):
        with torch.no_grad():
            return (forward(xs, sample=False).argmax(1) == ys).float().mean().item()

    opt = torch.optim.Adam(layers.parameters(), lr=1e-3)
    n = len(ytr)
    for epoch in range(epochs):
        order = torch.randperm(n)
        for s in range(0, n, batch):
            idx = order[s: s + batch]
            out = forward(xtr[idx])
            kl = sum(layer.kl() for layer in layers)
            loss = torch.nn.functional.cross_entropy(out, ytr[idx]) + kl / n
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
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
                 "--batch-size", str(a.batch), "--out", os.path.join(tmp, "c.safetensors")],
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
