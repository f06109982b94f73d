#!/usr/bin/env python3
"""The attention benchmark of issue 5 (run it through scripts/bench-attention).

    python3 scripts/attention_bench.py --graphc BIN [--lengths 1024,4096,8192] [--threads 1]
                                       [--rounds 3] [--samples 2]

Part 1, dense kernel vs onnxruntime: one ONNX `Attention` (opset 23, is_causal=1, 4 heads of
16, the trained model's shape) at each length; graphc runs it as graphc.Attention (default
preset), onnxruntime as its own Attention kernel (scripts/ort_bench.py); alternating rounds,
median of the per-round medians, ratio graphc / onnxruntime.

Part 2, sparse vs dense on the trained model (fixtures/models/attention-lm, made by
`python3 fixtures/make_fixtures.py attention-lm`):
- the full model is compiled dense (default preset) and sparse (`canonicalize,fuse-attention,
  assign-sparse-attention` calibrated on its stored samples (4096 tokens)); the per-head choice is
  `graphc inspect`'s table;
- held-out inputs of each length come from the corpus (`attention_lm_tokens`), generated here;
- accuracy: relative error of each layer's attention output and of the logits, and top-1
  token agreement, sparse vs dense, over all positions of `--samples` held-out inputs;
- speed: each layer's attention alone, as a single-Attention model fed the layer's real Q/K/V
  (captured with onnxruntime), compiled dense and sparse (the same pass, calibrated on the same
  layer's Q/K/V of the stored samples); alternating rounds of `graphc bench`, index building
  included. The whole model's time is reported too.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "fixtures"))
import make_fixtures as fx  # noqa: E402

MODEL = os.path.join(ROOT, "fixtures", "models", "attention-lm", "model.onnx")
CALIBRATION = os.path.join(ROOT, "fixtures", "models", "attention-lm", "calibration")
SPARSE_PIPELINE = "canonicalize,fuse-attention,assign-sparse-attention"


def sh(args):
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{r.stderr}")
    return r


def save(dirname, arrays):
    os.makedirs(dirname, exist_ok=True)
    for k, v in arrays.items():
        np.save(os.path.join(dirname, k + ".npy"), np.ascontiguousarray(v, dtype=np.float32))


def attention_model(path):
    """One causal ONNX Attention over 4-D q, k, v [1, 4, S, 16]."""
    shape = [1, fx.ALM_HEADS, "S", fx.ALM_HEAD]
    node = helper.make_node("Attention", ["q", "k", "v"], ["y"], is_causal=1, scale=float(1 / np.sqrt(fx.ALM_HEAD)))
    graph = helper.make_graph([node], "attention", [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n in "qkv"],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 23)])
    model.ir_version = 10
    onnx.save(model, path)


class Capture:
    """The trained model in onnxruntime with every Attention's q, k, v as extra outputs."""

    def __init__(self):
        model = onnx.load(MODEL)
        self.names = []
        for n in model.graph.node:
            if n.op_type == "Attention":
                self.names.append(list(n.input[:3]))
                for x in n.input[:3]:
                    model.graph.output.append(helper.make_tensor_value_info(x, TensorProto.FLOAT, None))
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        self.session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])

    def layers(self, tokens):
        """Per layer: {"q", "k", "v"} for this input."""
        flat = [x for names in self.names for x in names]
        out = dict(zip(flat, self.session.run(flat, {"tokens": tokens})))
        return [{k: out[x] for k, x in zip("qkv", names)} for names in self.names]


def bench(graphc, model, inputs, threads, runs):
    args = [graphc, "bench", model, "--threads", str(threads), "--warmup", "1", "--runs", str(runs), "--json"]
    for k, v in inputs.items():
        args += ["--input", f"{k}={v}"]
    return json.loads(sh(args).stdout)["median_ms"]


def ort_bench(model, inputs_dir, threads, runs):
    r = sh([sys.executable, os.path.join(ROOT, "scripts", "ort_bench.py"), model, "--inputs", inputs_dir,
            "--threads", str(threads), "--warmup", "1", "--runs", str(runs), "--json"])
    return json.loads(r.stdout)["median_ms"]


def run(graphc, model, inputs, out_dir, threads):
    args = [graphc, "run", model, "--threads", str(threads), "--output-dir", out_dir, "--show", "0"]
    for k, v in inputs.items():
        args += ["--input", f"{k}={v}"]
    sh(args)


def rel(a, b):
    return float(np.linalg.norm((a - b).ravel()) / max(np.linalg.norm(b.ravel()), 1e-30))


def runs_for(length):
    return 3 if length >= 8192 else 5 if length >= 4096 else 10


def part1(args, tmp):
    print("## Dense attention kernel vs onnxruntime (1 x 4 heads x S x 16, causal)\n")
    print(f"threads {args.threads}, {args.rounds} alternating rounds, median of per-round medians\n")
    print("| S | graphc ms | onnxruntime ms | ratio |")
    print("|---|---|---|---|")
    model = os.path.join(tmp, "attention.onnx")
    attention_model(model)
    gcb = os.path.join(tmp, "attention_dense.gcb")
    sh([args.graphc, "optimize", model, "-o", gcb])
    rng = np.random.default_rng(5)
    for s in args.lengths:
        d = os.path.join(tmp, f"rand{s}")
        save(d, {n: rng.standard_normal((1, fx.ALM_HEADS, s, fx.ALM_HEAD)) for n in "qkv"})
        inputs = {n: os.path.join(d, n + ".npy") for n in "qkv"}
        g, o = [], []
        for _ in range(args.rounds):
            g.append(bench(args.graphc, gcb, inputs, args.threads, runs_for(s)))
            o.append(ort_bench(model, d, args.threads, runs_for(s)))
        gm, om = statistics.median(g), statistics.median(o)
        print(f"| {s} | {gm:.2f} | {om:.2f} | {gm / om:.2f} |", flush=True)
    print()


def part2(args, tmp):
    cap = Capture()
    layers = len(cap.names)
    dense = os.path.join(tmp, "lm_dense.gcb")
    sparse = os.path.join(tmp, "lm_sparse.gcb")
    sh([args.graphc, "optimize", MODEL, "-o", dense])
    opts = "{" + args.pass_options + "}" if args.pass_options else ""
    r = sh([args.graphc, "optimize", MODEL, "-o", sparse, "--pipeline", SPARSE_PIPELINE + opts, "--calibration", CALIBRATION])
    table = sh([args.graphc, "inspect", sparse]).stdout
    length = np.load(os.path.join(CALIBRATION, sorted(os.listdir(CALIBRATION))[0], "tokens.npy")).shape[1]
    print(f"## Trained model: pattern per head (calibrated at {length}; pass options '{args.pass_options}')\n")
    print("```")
    print(table[table.index("attention patterns:"):].split("metadata:")[0].rstrip())
    print("```\n")
    stats = [line.strip() for line in (r.stdout + r.stderr).splitlines() if "assign-sparse-attention" in line and "pass" in line]
    if stats:
        print("`" + stats[0] + "`\n")

    # Per-layer single-attention models, calibrated on the same layer's Q/K/V of the stored samples.
    attn = os.path.join(tmp, "attention.onnx")
    attention_model(attn)
    attn_dense = os.path.join(tmp, "attention_dense.gcb")
    sh([args.graphc, "optimize", attn, "-o", attn_dense])
    attn_sparse = []
    for l in range(layers):
        cal = os.path.join(tmp, f"cal{l}")
        for s in sorted(os.listdir(CALIBRATION)):
            tokens = np.load(os.path.join(CALIBRATION, s, "tokens.npy"))
            save(os.path.join(cal, s), cap.layers(tokens)[l])
        out = os.path.join(tmp, f"attention_sparse{l}.gcb")
        sh([args.graphc, "optimize", attn, "-o", out, "--pipeline", "fuse-attention,assign-sparse-attention" + opts, "--calibration", cal])
        attn_sparse.append(out)

    print("## Trained model: sparse vs dense on held-out inputs\n")
    print(f"{args.samples} held-out samples per length; threads {args.threads}; attention time = both layers' "
          f"single-Attention models on the real Q/K/V, {args.rounds} alternating rounds\n")
    print("| S | attention rel. error (layer 0 / 1) | logits rel. error | top-1 agreement | dense attention ms | sparse attention ms | speed-up | model dense ms | model sparse ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    for s in args.lengths:
        samples = fx.attention_lm_tokens("held", s, args.samples, 100 + s)
        att_err = [[0.0, 0.0] for _ in range(layers)]
        logit_err = [0.0, 0.0]
        agree = total = 0
        for i, tokens in enumerate(samples):
            d = os.path.join(tmp, f"held{s}_{i}")
            save(d, {"tokens": tokens})
            for name, m in (("dense", dense), ("sparse", sparse)):
                run(args.graphc, m, {"tokens": os.path.join(d, "tokens.npy")}, os.path.join(d, name), args.threads)
            a = np.load(os.path.join(d, "dense", "logits.npy"))
            b = np.load(os.path.join(d, "sparse", "logits.npy"))
            logit_err[0] += float(np.sum((a - b) ** 2)); logit_err[1] += float(np.sum(a ** 2))
            agree += int(np.sum(a.argmax(-1) == b.argmax(-1))); total += a.shape[1]
            for l, qkv in enumerate(cap.layers(tokens)):
                ld = os.path.join(d, f"layer{l}")
                save(ld, qkv)
                ins = {n: os.path.join(ld, n + ".npy") for n in "qkv"}
                run(args.graphc, attn_dense, ins, os.path.join(ld, "dense"), args.threads)
                run(args.graphc, attn_sparse[l], ins, os.path.join(ld, "sparse"), args.threads)
                x = np.load(os.path.join(ld, "dense", "y.npy"))
                y = np.load(os.path.join(ld, "sparse", "y.npy"))
                att_err[l][0] += float(np.sum((x - y) ** 2)); att_err[l][1] += float(np.sum(x ** 2))
        # Timing on the first sample.
        d = os.path.join(tmp, f"held{s}_0")
        td, ts, md, ms = [], [], [], []
        for _ in range(args.rounds):
            dsum = ssum = 0.0
            for l in range(layers):
                ins = {n: os.path.join(d, f"layer{l}", n + ".npy") for n in "qkv"}
                dsum += bench(args.graphc, attn_dense, ins, args.threads, runs_for(s))
                ssum += bench(args.graphc, attn_sparse[l], ins, args.threads, runs_for(s))
            td.append(dsum); ts.append(ssum)
            tok = {"tokens": os.path.join(d, "tokens.npy")}
            md.append(bench(args.graphc, dense, tok, args.threads, runs_for(s)))
            ms.append(bench(args.graphc, sparse, tok, args.threads, runs_for(s)))
        errs = " / ".join(f"{np.sqrt(e / n) * 100:.2f}%" for e, n in att_err)
        tdm, tsm = statistics.median(td), statistics.median(ts)
        print(f"| {s} | {errs} | {np.sqrt(logit_err[0] / logit_err[1]) * 100:.2f}% | {agree / total * 100:.2f}% | "
              f"{tdm:.1f} | {tsm:.1f} | {tdm / tsm:.2f}x | {statistics.median(md):.1f} | {statistics.median(ms):.1f} |", flush=True)
    print()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--graphc", required=True)
    p.add_argument("--lengths", default="1024,4096,8192")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--samples", type=int, default=2)
    p.add_argument("--part", choices=["all", "kernel", "model"], default="all")
    p.add_argument("--pass-options", default="", help="options of assign-sparse-attention, e.g. density=0.25,max-error=0.5")
    args = p.parse_args()
    args.lengths = [int(x) for x in args.lengths.split(",")]
    if not os.path.isfile(MODEL):
        sys.exit(f"no {MODEL}: run `python3 fixtures/make_fixtures.py attention-lm` first")
    with tempfile.TemporaryDirectory(prefix="graphc-attention-bench.") as tmp:
        if args.part in ("all", "kernel"):
            part1(args, tmp)
        if args.part in ("all", "model"):
            part2(args, tmp)


if __name__ == "__main__":
    main()
