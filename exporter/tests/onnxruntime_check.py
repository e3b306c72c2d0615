"""Checks exported models against onnxruntime: the ONNX checker (full_check) passes, and
onnxruntime's outputs equal the given tract outputs.

Usage: onnxruntime_check.py DIR, where DIR holds NAME.onnx and NAME.json
({"input": [...], "shape": [...], "tract": [...], "tolerance": t}) per model.
Prints one line per model and exits 1 on any failure."""

import json
import pathlib
import sys

import numpy as np
import onnx
import onnxruntime as ort

failed = 0
for model_path in sorted(pathlib.Path(sys.argv[1]).glob("*.onnx")):
    case = json.loads(model_path.with_suffix(".json").read_text())
    model = onnx.load(str(model_path))
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    x = np.asarray(case["input"], dtype=np.float32).reshape(case["shape"])
    (y,) = session.run(None, {"input": x})
    tract = np.asarray(case["tract"], dtype=np.float32).reshape(y.shape)
    diff = float(np.max(np.abs(y - tract))) if y.size else 0.0
    ok = diff <= case["tolerance"]
    failed += not ok
    print(f"{model_path.name}: max |onnxruntime - tract| = {diff:.3e} {'ok' if ok else 'FAILED'}")
sys.exit(1 if failed else 0)
