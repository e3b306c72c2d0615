#!/usr/bin/env python3
"""The test-split negative ELBO of a Bernoulli VAE's exported files, run in onnxruntime.

    python scripts/vae_elbo.py NAME.encoder.onnx NAME.decoder.onnx DATA_DIR [--low 0 --high 255]

DATA_DIR holds the MNIST IDX layout (t10k-images-idx3-ubyte.gz). For each test image x the
encoder gives the kept code dimensions' means and log-variances; z is drawn once from them
(seed 0); the decoder gives the reconstruction on the data's scale, mapped back to a Bernoulli
probability p = (x̂ − low) / (high − low), clipped to [1e-7, 1 − 1e-7]. Per image:
−ELBO = −Σ [t ln p + (1 − t) ln(1 − p)] + KL(q(z | x) ‖ N(0, I)), t = (x − low) / (high − low).
Also prints the active dimensions (mean KL above 0.01 nats).
"""
import argparse
import gzip
import os

import numpy as np
import onnxruntime as ort


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("encoder")
    ap.add_argument("decoder")
    ap.add_argument("data")
    ap.add_argument("--low", type=float, default=0.0)
    ap.add_argument("--high", type=float, default=255.0)
    a = ap.parse_args()
    raw = gzip.open(os.path.join(a.data, "t10k-images-idx3-ubyte.gz")).read()
    x = np.frombuffer(raw[16:], dtype=np.uint8).reshape(-1, 784).astype(np.float32)
    enc = ort.InferenceSession(a.encoder)
    dec = ort.InferenceSession(a.decoder)
    stats = enc.run(None, {enc.get_inputs()[0].name: x})[0].astype(np.float64)
    k = stats.shape[1] // 2
    mu, lv = stats[:, :k], stats[:, k:]
    kl = 0.5 * (mu**2 + np.exp(lv) - 1.0 - lv)
    rng = np.random.default_rng(0)
    z = (mu + np.exp(0.5 * lv) * rng.standard_normal(mu.shape)).astype(np.float32)
    recon = dec.run(None, {dec.get_inputs()[0].name: z})[0].astype(np.float64)
    span = a.high - a.low
    p = np.clip((recon - a.low) / span, 1e-7, 1 - 1e-7)
    t = (x.astype(np.float64) - a.low) / span
    nll = -(t * np.log(p) + (1 - t) * np.log(1 - p)).sum(1)
    elbo = nll + kl.sum(1)
    active = int((kl.mean(0) > 0.01).sum())
    print(f"code dimensions {k}, active {active}")
    print(f"-ELBO {elbo.mean():.2f} nats per image (reconstruction {nll.mean():.2f}, KL {kl.sum(1).mean():.2f})")


if __name__ == "__main__":
    main()
