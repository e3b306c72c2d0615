#!/usr/bin/env python3
"""Latency of ONNX models: ardent-run (tract) beside onnxruntime, one thread, same files.

For each model and batch size, runs `ardent-run bench MODEL --batch B --threads 1 --json`, the
same with `--no-sparse` (tract's dense kernels for every product) and with `--tract-ops` (tract's
own ops throughout: its products, convolutions and pools), and times onnxruntime (intra- and
inter-op threads 1) on the same file and batch, interleaved `--rounds` times; reports median p50
latencies. onnxruntime is called from Python, which adds a
few microseconds per call.

    python3 benches/runtime_latency.py --ardent-run target/release/ardent-run A.onnx B.onnx

With `--make-mlps DIR`, first writes two MLPs with random weights to DIR: the dense
LeNet-300-100 (784-300-100-10) and a compact one of the widths ARD left in BENCHMARKS.md
(784-162-89-10), and times those.

Needs onnx, onnxruntime and numpy (PyPI).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def make_mlp(path, widths, seed):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    x = "x"
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        w = rng.normal(0, (2 / a) ** 0.5, (a, b)).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(np.zeros(b, np.float32), f"b{i}")]
        y = f"h{i}"
        nodes.append(helper.make_node("Gemm", [x, f"w{i}", f"b{i}"], [y]))
        if i < len(widths) - 2:
            nodes.append(helper.make_node("Relu", [y], [y + "r"]))
            y += "r"
        x = y
    nodes.append(helper.make_node("Softmax", [x], ["y"], axis=-1))
    graph = helper.make_graph(
        nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", widths[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", widths[-1]])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="bench")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path)


def ardent_p50(binary, model, batch, flag=None):
    out = subprocess.run([binary, "bench", model, "--batch", str(batch), "--threads", "1", "--json",
                          "--min-time-ms", "1000"] + ([flag] if flag else []),
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.splitlines()[0])["p50_us"]


def ort_p50(model, batch, min_time=1.0):
    import numpy as np
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    s = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    shape = [batch] + list(s.get_inputs()[0].shape[1:])
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    for _ in range(10):
        s.run(None, {name: x})
    times, t0 = [], time.perf_counter()
    while len(times) < 30 or time.perf_counter() - t0 < min_time:
        t = time.perf_counter()
        s.run(None, {name: x})
        times.append((time.perf_counter() - t) * 1e6)
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="*")
    p.add_argument("--ardent-run", default="target/release/ardent-run")
    p.add_argument("--batch", default="1,256")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--make-mlps")
    a = p.parse_args()
    models = list(a.models)
    if a.make_mlps:
        os.makedirs(a.make_mlps, exist_ok=True)
        for name, widths in [("dense-784-300-100-10", [784, 300, 100, 10]), ("compact-784-162-89-10", [784, 162, 89, 10])]:
            path = os.path.join(a.make_mlps, name + ".onnx")
            make_mlp(path, widths, 0)
            models.append(path)
    print(f"{'model':34} {'batch':>5} {'ardent-run':>11} {'--no-sparse':>11} {'--tract-ops':>11}"
          f" {'onnxruntime':>11} {'ours/ORT':>8} {'ours/dense':>10} {'ours/tract':>10}   (p50 µs)")
    for m in models:
        for b in [int(x) for x in a.batch.split(",")]:
            ours, dense, tract, theirs = [], [], [], []
            for _ in range(a.rounds):
                ours.append(ardent_p50(a.ardent_run, m, b))
                dense.append(ardent_p50(a.ardent_run, m, b, "--no-sparse"))
                tract.append(ardent_p50(a.ardent_run, m, b, "--tract-ops"))
                theirs.append(ort_p50(m, b))
            o, d, tr, t = (statistics.median(v) for v in (ours, dense, tract, theirs))
            print(f"{os.path.basename(m):34} {b:>5} {o:>11.1f} {d:>11.1f} {tr:>11.1f} {t:>11.1f}"
                  f" {o / t:>8.2f} {o / d:>10.2f} {o / tr:>10.2f}")
            print(json.dumps({"model": m, "batch": b, "ardent_run_p50_us": ours, "no_sparse_p50_us": dense,
                              "tract_ops_p50_us": tract, "onnxruntime_p50_us": theirs}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
