#!/usr/bin/env python3
"""Issue 6 speed check: graphc float vs graphc int8 vs onnxruntime float vs onnxruntime int8.

    python3 scripts/bench_quant.py [--graphc BIN] [--threads 1,2] [--rounds 5] [--runs 20]
                                   [--samples 16] [MODEL...]

MODELs are fixture names (fixtures/models/NAME) or benchmark models (fixtures/bench-models/NAME,
written on demand by `make_fixtures.py --bench`); default: mlp, transformer, mlp_4x1024_b64.

For each model, one calibration set of --samples inputs (normal noise with the mean and spread
of the model's stored inputs, fixed seed) is written in graphc's layout (one subfolder per
sample, <input>.npy) and used by both quantizers:
  - graphc: `graphc optimize --pipeline 'canonicalize,quantize{weights=int8}' --calibration DIR`
    (W8A8: int8 weights per output channel, int8 activations per tensor); the float model is
    `graphc optimize` with the default preset.
  - onnxruntime: `quantize_static` (MinMax, per-channel int8 weights) in each of the variants
    QDQ/QOperator x uint8/int8 activations; the table shows the fastest per thread count, as
    the issue asks for onnxruntime's fastest.
Every round times every side once per thread count (graphc bench and scripts/ort_bench.py,
3 warm-up and --runs timed runs each, separate processes), so all sides see the same machine
load; the table gives the median over rounds of each side's per-round median.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quantize_static)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ORT_VARIANTS = {
    "qdq-u8": (QuantFormat.QDQ, QuantType.QUInt8),
    "qdq-s8": (QuantFormat.QDQ, QuantType.QInt8),
    "qop-u8": (QuantFormat.QOperator, QuantType.QUInt8),
}


def input_file_name(name):
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".npy"


def model_dir(name):
    for root in ("fixtures/models", "fixtures/bench-models"):
        d = os.path.join(ROOT, root, name)
        if os.path.isfile(os.path.join(d, "model.onnx")):
            return d
    subprocess.run([sys.executable, os.path.join(ROOT, "fixtures/make_fixtures.py"), "--bench",
                    os.path.join(ROOT, "fixtures/bench-models"), name], check=True)
    return os.path.join(ROOT, "fixtures/bench-models", name)


def calibration_set(mdir, out, count):
    """Writes `count` samples under out/sNNN/<input>.npy; returns them as a list of feed dicts."""
    inputs = {}
    for f in sorted(os.listdir(os.path.join(mdir, "inputs"))):
        if f.endswith(".npy"):
            inputs[f[:-4]] = np.load(os.path.join(mdir, "inputs", f))
    rng = np.random.default_rng(600)
    samples = []
    for s in range(count):
        feeds = {}
        for name, ref in inputs.items():
            if ref.dtype.kind == "f":
                feeds[name] = (rng.standard_normal(ref.shape) * float(ref.std()) + float(ref.mean())).astype(ref.dtype)
            else:
                feeds[name] = ref
        d = os.path.join(out, f"s{s:03d}")
        os.makedirs(d, exist_ok=True)
        for name, v in feeds.items():
            np.save(os.path.join(d, name + ".npy"), v)
        samples.append(feeds)
    return samples


class Reader(CalibrationDataReader):
    def __init__(self, model_path, samples):
        names = [i.name for i in onnx.load(model_path).graph.input]
        self.it = iter([{n: s[input_file_name(n)[:-4]] for n in names} for s in samples])

    def get_next(self):
        return next(self.it, None)


def run_json(cmd):
    r = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="*", default=["mlp", "transformer", "mlp_4x1024_b64"])
    p.add_argument("--graphc", default=None, help="graphc binary (default: the release build)")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--samples", type=int, default=16)
    args = p.parse_args()
    graphc = args.graphc or os.path.join(ROOT, ".build/release/graphc")
    threads = [int(t) for t in args.threads.split(",")]
    tmp = tempfile.mkdtemp(prefix="graphc-bench-quant.")
    rows = []
    for name in args.models:
        mdir = model_dir(name)
        onnx_path = os.path.join(mdir, "model.onnx")
        work = os.path.join(tmp, name)
        calib = os.path.join(work, "calib")
        samples = calibration_set(mdir, calib, args.samples)
        g_float, g_int8 = os.path.join(work, "float.gcb"), os.path.join(work, "int8.gcb")
        subprocess.run([graphc, "optimize", onnx_path, "-o", g_float], check=True, capture_output=True)
        subprocess.run([graphc, "optimize", onnx_path, "--pipeline", "canonicalize,quantize{weights=int8}",
                        "--calibration", calib, "-o", g_int8], check=True, capture_output=True)
        ort_models = {"float": onnx_path}
        for v, (fmt, act) in ORT_VARIANTS.items():
            path = os.path.join(work, f"ort-{v}.onnx")
            quantize_static(onnx_path, path, Reader(onnx_path, samples), quant_format=fmt, per_channel=True,
                            activation_type=act, weight_type=QuantType.QInt8,
                            calibrate_method=CalibrationMethod.MinMax)
            ort_models[v] = path
        input_args = []
        for f in sorted(os.listdir(os.path.join(mdir, "inputs"))):
            if f.endswith(".npy"):
                input_args += ["--input", f"{f[:-4]}={os.path.join(mdir, 'inputs', f)}"]
        times = {}  # (threads, side) -> [per-round medians]
        for r in range(args.rounds):
            for t in threads:
                print(f"{name}: round {r + 1}/{args.rounds}, threads {t}", file=sys.stderr)
                for side, gcb in (("graphc-float", g_float), ("graphc-int8", g_int8)):
                    j = run_json([graphc, "bench", gcb, "--threads", str(t), "--warmup", "3", "--runs", str(args.runs),
                                  "--json"] + input_args)
                    times.setdefault((t, side), []).append(j["median_ms"])
                for v, path in ort_models.items():
                    j = run_json([sys.executable, os.path.join(ROOT, "scripts/ort_bench.py"), path, "--inputs",
                                  os.path.join(mdir, "inputs"), "--threads", str(t), "--warmup", "3", "--runs",
                                  str(args.runs), "--json"])
                    times.setdefault((t, "ort-" + v), []).append(j["median_ms"])
        for t in threads:
            med = {side: statistics.median(v) for (tt, side), v in times.items() if tt == t}
            best = min(ORT_VARIANTS, key=lambda v: med["ort-" + v])
            rows.append((name, t, med["graphc-float"], med["graphc-int8"], med["ort-float"], med["ort-" + best], best,
                         {v: med["ort-" + v] for v in ORT_VARIANTS}))
    print("| model | threads | graphc f32 ms | graphc int8 ms | ORT f32 ms | ORT int8 ms (fastest) "
          "| graphc int8 / graphc f32 | graphc int8 / ORT int8 | ORT variants ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, t, gf, gi, of, oi, best, variants in rows:
        vs = ", ".join(f"{v} {ms:.3f}" for v, ms in variants.items())
        print(f"| {name} | {t} | {gf:.3f} | {gi:.3f} | {of:.3f} | {oi:.3f} ({best}) | {gi / gf:.2f}x | {gi / oi:.2f}x | {vs} |")
    print(f"\ncommand: python3 scripts/bench_quant.py --threads {args.threads} --rounds {args.rounds} "
          f"--runs {args.runs} --samples {args.samples} {' '.join(args.models)}")


if __name__ == "__main__":
    main()
