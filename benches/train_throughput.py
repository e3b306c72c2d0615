#!/usr/bin/env python3
"""Training throughput: ardent (burn flex) beside PyTorch CPU on the same variational model.

Both train LeNet-300-100 and LeNet-5-Caffe (conv 20 k5, max-pool 2, conv 50 k5, max-pool 2,
dense 500, dense 10) with variational weights (local reparameterization in every layer: two
products per layer, x·μ and x²·σ²; ARD KL at the optimal precision, ½·log1p(μ²/σ²) / N),
Adam 1e-3, batch 100, 2 threads, on Fashion-MNIST training images (`--samples` of them, 90 %
trained on after ardent's validation split), and report samples/s of the training steps
alone. Runs are interleaved, `--rounds` times each.

    python3 benches/train_throughput.py --ardent target/debug/ardent \
        --data /usr/share/datasets/fashion-mnist --rounds 3

Needs torch and numpy (PyPI). Prints a table and one JSON line per run.
"""
import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def read_idx(path):
    import numpy as np

    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def variational_layers(torch):
    """The variational dense and conv layers both benchmarks train (built on a lazily imported
    torch): local reparameterization, ARD KL at the optimal precision. `sample=False` gives the
    posterior-mean forward of evaluation."""

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

    class VarConv(torch.nn.Module):
        def __init__(self, i, o, k):
            super().__init__()
            self.mu = torch.nn.Parameter(torch.randn(o, i, k, k) * (2.0 / (i * k * k)) ** 0.5)
            self.log_sigma2 = torch.nn.Parameter(torch.full((o, i, k, k), -10.0))
            self.bias = torch.nn.Parameter(torch.zeros(o))

        def forward(self, x):
            m = torch.nn.functional.conv2d(x, self.mu, self.bias)
            v = torch.nn.functional.conv2d(x * x, self.log_sigma2.exp())
            return m + (v + 1e-8).sqrt() * torch.randn_like(m)

        def kl(self):
            return 0.5 * torch.log1p(self.mu**2 / self.log_sigma2.exp()).sum()

    return VarLinear, VarConv


def lenet_300_100(torch):
    """LeNet-300-100's layers and its forward pass (`sample=False`: posterior means)."""
    VarLinear, _ = variational_layers(torch)
    layers = [VarLinear(784, 300), VarLinear(300, 100), VarLinear(100, 10)]

    def forward(xb, sample=True):
        h = torch.relu(layers[0](xb, sample))
        h = torch.relu(layers[1](h, sample))
        return layers[2](h, sample)

    return layers, forward


def train_step(torch, opt, layers, forward, xb, yb, n):
    """One Adam step on the NLL plus the layers' KL over n training samples."""
    out = forward(xb)
    kl = sum(layer.kl() for layer in layers)
    loss = torch.nn.functional.cross_entropy(out, yb) + kl / n
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def torch_epoch(model_name, data_dir, threads, batch, samples):
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x = read_idx(os.path.join(data_dir, "train-images-idx3-ubyte.gz")).reshape(-1, 784)
    y = read_idx(os.path.join(data_dir, "train-labels-idx1-ubyte.gz"))
    x = torch.tensor((x[:samples].astype(np.float32) / 255.0 - 0.286) / 0.353)
    y = torch.tensor(y[:samples].astype(np.int64))

    pool = torch.nn.functional.max_pool2d
    if model_name == "lenet5-caffe":
        VarLinear, VarConv = variational_layers(torch)
        layers = [VarConv(1, 20, 5), VarConv(20, 50, 5), VarLinear(800, 500), VarLinear(500, 10)]
        x = x.reshape(-1, 1, 28, 28)

        def forward(xb):
            h = pool(layers[0](xb), 2)
            h = pool(layers[1](h), 2).flatten(1)
            h = torch.relu(layers[2](h))
            return layers[3](h)
    else:
        layers, forward = lenet_300_100(torch)

    model = torch.nn.ModuleList(layers)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    n = len(y)
    perm = torch.randperm(n)
    t0 = time.perf_counter()
    for s in range(0, n, batch):
        idx = perm[s: s + batch]
        train_step(torch, opt, layers, forward, x[idx], y[idx], n)
    return n / (time.perf_counter() - t0)


def ardent_epoch(binary, spec, data_dir, threads, batch, samples):
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
        out = subprocess.run(
            [binary, "train", spec, "--data", data_dir, "--epochs", "1",
             "--max-samples", str(samples),
             "--batch-size", str(batch), "--json", "--out", os.path.join(tmp, "c.safetensors")],
            env=env, check=True, capture_output=True, text=True,
        )
    lines = [json.loads(l) for l in out.stdout.splitlines() if l.startswith("{")]
    return lines[-1]["samples_per_second"]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ardent", default="target/debug/ardent")
    p.add_argument("--models", default="lenet-300-100,lenet5-caffe",
                   help="comma-separated zoo names")
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--samples", type=int, default=60000,
                   help="training images read (ardent trains on 90 %% of them)")
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    for model in a.models.split(","):
        spec = os.path.join("models", "zoo", model + ".toml")
        runs = {"ardent": [], "pytorch": []}
        for r in range(a.rounds):
            runs["ardent"].append(ardent_epoch(a.ardent, spec, a.data, a.threads, a.batch, a.samples))
            runs["pytorch"].append(
                torch_epoch(model, a.data, a.threads, a.batch, int(a.samples * 0.9)))
            for k in runs:
                print(json.dumps({"model": model, "round": r, "impl": k,
                                  "samples_per_second": runs[k][-1]}))
        print(f"{model}:")
        print(f"  {'impl':10} {'median samples/s':>18}  runs")
        for k, v in runs.items():
            print(f"  {k:10} {statistics.median(v):18,.0f}  {', '.join(f'{x:,.0f}' for x in v)}")
        ratio = statistics.median(runs["ardent"]) / statistics.median(runs["pytorch"])
        print(f"  ardent / pytorch: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
