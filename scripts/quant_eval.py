#!/usr/bin/env python3
"""Quantization accuracy of graphc vs onnxruntime's quantize_static (issue 6), vs the float model.

    python3 scripts/quant_eval.py --graphc BIN [--lm MODEL.onnx] [--cnn MODEL.onnx ...]
        [--calibration-samples 32] [--heldout-samples 64] [--seq 256]
        [--variant NAME=PIPELINE ...] [--no-ort] [--json] [--json-out FILE] [--keep DIR]

For each model this
1. makes a calibration split and a held-out split of inputs:
   - the language model (`--lm`, default fixtures/models/attention-lm/model.onnx): windows of
     `--seq` tokens from the corpus it was trained on (fixtures/make_fixtures.py,
     `attention_lm_tokens`): calibration from the training 90%, held-out from the last 10%;
   - the CNNs (`--cnn`, default the resnet and mobilenetv2 fixtures): their weights are random,
     so there is no real data set; the inputs are deterministic smooth random fields (`smooth_image`:
     white noise at 4, 16 and 64 cells per side, bilinearly upsampled, weighted 1, 1/2, 1/4, then
     normalized per channel to mean 0 and std 1, as a normalized natural image roughly is);
   and writes the calibration split in graphc's `--calibration DIR` layout (DIR/sNNNN/<input>.npy);
2. compiles each graphc variant with `graphc optimize --pipeline ... --calibration DIR --json`
   (a variant whose pipeline names a pass that `graphc passes --json` does not list is skipped
   and reported as pending) and runs it with `graphc run` on every held-out sample;
3. quantizes the model with `onnxruntime.quantization.quantize_static` (QDQ, per-channel, MinMax,
   int8 weights and activations, the same calibration samples through a CalibrationDataReader)
   and runs it in onnxruntime (default optimization level, which fuses QDQ into integer ops);
4. compares every variant's output on the held-out split with the float model run by
   onnxruntime (ORT_DISABLE_ALL): mean and minimum per-sample cosine similarity, max abs error,
   top-1 agreement (argmax over the last axis, over every position), the centered cosine (both
   outputs minus the float outputs' mean over the held-out split: the random-weight CNNs give
   nearly the same logits for every input, which plain cosine and top-1 hide or exaggerate; this
   measures whether the input-dependent part survives), and for the language model
   the next-token loss (mean cross-entropy in nats) against the real next tokens; plus the
   compiled model's size, its weight bytes and how many layers were quantized.

A variant is NAME=PIPELINE, where `{default}` in PIPELINE stands for the default preset's
pipeline, or NAME=preset:PRESET. `--variant` replaces the built-in list (DEFAULT_VARIANTS).
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "fixtures"))

# Layout only, then + attention temperature matching (ATM), then + output head balancing (OHB),
# for W8A8 and W4A8; the presets that run the whole chain; graphc float as a harness check.
DEFAULT_VARIANTS = [
    ("graphc float", "{default}"),
    ("graphc W8A8", "{default},quantize{weights=int8}"),
    ("graphc W8A8 +ATM", "{default},quantize{weights=int8},match-attention-temperature"),
    ("graphc W8A8 +ATM+OHB", "{default},quantize{weights=int8},match-attention-temperature,balance-output-heads"),
    ("graphc W8A8 all layers", "{default},quantize{weights=int8,keep-float=}"),
    ("graphc W4A8", "{default},quantize{weights=int4}"),
    ("graphc W4A8 +ATM", "{default},quantize{weights=int4},match-attention-temperature"),
    ("graphc W4A8 +ATM+OHB", "{default},quantize{weights=int4},match-attention-temperature,balance-output-heads"),
    # Every projection quantized (int4 q/k too): where quantization can move attention temperature.
    ("graphc W4A8 all layers", "{default},quantize{weights=int4,keep-float=}"),
    ("graphc W4A8 all +ATM", "{default},quantize{weights=int4,keep-float=},match-attention-temperature"),
    ("graphc W4A8 all +ATM+OHB",
     "{default},quantize{weights=int4,keep-float=},match-attention-temperature,balance-output-heads"),
    ("graphc npu-int8", "preset:npu-int8"),
    ("graphc npu-int4", "preset:npu-int4"),
]

# Float linear layers left after compiling (DepthwisePointwise counts once, though it is two convs).
FLOAT_LAYER_OPS = ["onnx.Conv", "onnx.MatMul", "onnx.Gemm", "graphc.FusedConv", "graphc.DepthwisePointwise"]

# onnxruntime variants: name -> quantize_static keyword arguments beyond the fixed ones.
ORT_VARIANTS = [
    ("ort W8A8 QDQ", {}),
    ("ort W8A8 QDQ conv/matmul only", {"op_types_to_quantize": ["Conv", "MatMul", "Gemm"]}),
]


# ---------------------------------------------------------------------------------------------
# Inputs


def input_file_name(name):
    """graphc's sanitizedFileName: characters outside [A-Za-z0-9_.-] become `_`."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def upsample(field, size):
    """Bilinear resize of [C, h, w] to [C, size, size] (align-corners), numpy only."""
    c, h, w = field.shape
    ys, xs = np.linspace(0, h - 1, size), np.linspace(0, w - 1, size)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy, fx = (ys - y0)[None, :, None], (xs - x0)[None, None, :]
    top = field[:, y0][:, :, x0] * (1 - fx) + field[:, y0][:, :, x1] * fx
    bottom = field[:, y1][:, :, x0] * (1 - fx) + field[:, y1][:, :, x1] * fx
    return top * (1 - fy) + bottom * fy


def smooth_image(rng, channels, size):
    """A natural-ish normalized image [1, C, size, size]: multi-octave smooth noise (see above)."""
    img = np.zeros((channels, size, size))
    for cells, weight in ((4, 1.0), (16, 0.5), (64, 0.25)):
        img += weight * upsample(rng.standard_normal((channels, cells + 1, cells + 1)), size)
    img -= img.mean(axis=(1, 2), keepdims=True)
    img /= img.std(axis=(1, 2), keepdims=True)
    return img[None].astype(np.float32)


def inp_dims(model):
    """The first input's dims, 0 where symbolic."""
    return [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]


def make_splits(kind, model, args):
    """(input name, calibration samples, held-out samples), each sample an array."""
    inp = model.graph.input[0]
    if kind == "lm":
        from make_fixtures import attention_lm_tokens
        cal = attention_lm_tokens("train", args.seq, args.calibration_samples, 101)
        held = attention_lm_tokens("held", args.seq + 1, args.heldout_samples, 103)
        return inp.name, cal, held
    dims = inp_dims(model)
    if len(dims) != 4 or dims[2] != dims[3] or dims[0] != 1:
        sys.exit(f"quant_eval: {inp.name} must be [1, C, S, S], not {dims}")
    cal_rng, held_rng = np.random.default_rng(201), np.random.default_rng(203)
    cal = [smooth_image(cal_rng, dims[1], dims[2]) for _ in range(args.calibration_samples)]
    held = [smooth_image(held_rng, dims[1], dims[2]) for _ in range(args.heldout_samples)]
    return inp.name, cal, held


def write_samples(folder, name, samples):
    """Writes FOLDER/sNNNN/<input>.npy (graphc's --calibration layout); returns the file paths."""
    paths = []
    for i, s in enumerate(samples):
        os.makedirs(os.path.join(folder, f"s{i:04d}"), exist_ok=True)
        paths.append(os.path.join(folder, f"s{i:04d}", input_file_name(name) + ".npy"))
        np.save(paths[-1], s)
    return paths


# ---------------------------------------------------------------------------------------------
# Metrics


def cosine(a, b):
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-30))


def compare(ref, out, targets=None):
    """Metrics of the outputs `out` vs the reference `ref` (lists of arrays, one per sample)."""
    cos, ccos, top1, n, max_abs = [], [], 0, 0, 0.0
    nll = []
    mean = np.mean([r.astype(np.float64) for r in ref], axis=0).ravel()
    for r, o, t in zip(ref, out, targets or [None] * len(ref)):
        r64, o64 = r.astype(np.float64).ravel(), o.astype(np.float64).ravel()
        cos.append(cosine(r64, o64))
        ccos.append(cosine(r64 - mean, o64 - mean))
        max_abs = max(max_abs, float(np.abs(r64 - o64).max()))
        top1 += int((r.argmax(-1) == o.argmax(-1)).sum())
        n += r.argmax(-1).size
        if t is not None:
            logits = o.reshape(-1, o.shape[-1]).astype(np.float64)
            logz = np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1)) + logits.max(-1)
            nll.append(float((logz - logits[np.arange(len(t)), t]).mean()))
    m = {"cos_mean": float(np.mean(cos)), "cos_min": float(np.min(cos)),
         "centered_cos_mean": float(np.mean(ccos)), "max_abs": max_abs, "top1": top1 / n}
    if nll:
        m["nll"] = float(np.mean(nll))
    return m


# ---------------------------------------------------------------------------------------------
# onnxruntime


def ort_session(path, optimize, disabled=()):
    opts = ort.SessionOptions()
    if not optimize:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.intra_op_num_threads = 2
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"],
                                disabled_optimizers=list(disabled))


def ort_run(path, name, samples, optimize):
    """The first output for each sample, and a note when a workaround was needed.

    onnxruntime 1.32's QDQ propagation can make an invalid QuantizeLinear (int8 output type,
    uint8 zero point) when only some ops are quantized; the model then runs with that one
    transformer disabled."""
    note = None
    try:
        sess = ort_session(path, optimize)
    except Exception as e:  # onnxruntime raises its own Fail type
        if "TypeInferenceError" not in str(e):
            raise
        sess = ort_session(path, optimize, disabled=["QDQPropagationTransformer"])
        note = "run with QDQPropagationTransformer disabled (onnxruntime type error otherwise)"
    out = sess.get_outputs()[0].name
    return [sess.run([out], {name: s})[0] for s in samples], note


def initializer_bytes(model):
    return sum(numpy_helper.to_array(t).nbytes for t in model.graph.initializer)


def ort_quantize(src, dst, name, cal, extra, tmp):
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                          QuantType, quantize_static)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(cal)

        def get_next(self):
            s = next(self.it, None)
            return None if s is None else {name: s}

    # quantize_static writes its augmented calibration model next to the working directory.
    src, dst, cwd = os.path.abspath(src), os.path.abspath(dst), os.getcwd()
    os.chdir(tmp)
    try:
        quantize_static(src, dst, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        calibrate_method=CalibrationMethod.MinMax, activation_type=QuantType.QInt8,
                        weight_type=QuantType.QInt8, **extra)
    finally:
        os.chdir(cwd)
    model = onnx.load(dst)
    producers = {o: n.op_type for n in model.graph.node for o in n.output}
    layers = [n for n in model.graph.node if n.op_type in ("Conv", "MatMul", "Gemm")]
    quantized = sum(1 for n in layers if producers.get(n.input[1]) == "DequantizeLinear")
    return {"model_bytes": os.path.getsize(dst), "weight_bytes": initializer_bytes(model),
            "layers_quantized": quantized, "layers_float": len(layers) - quantized}


# ---------------------------------------------------------------------------------------------
# graphc


def graphc_catalog(graphc):
    """(registered pass names, preset name -> pipeline text) from `graphc passes --json`."""
    r = subprocess.run([graphc, "passes", "--json"], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"quant_eval: `{graphc} passes --json` failed (a graphc from before the flag?): {r.stderr.strip()}")
    data = json.loads(r.stdout)
    return {p["name"] for p in data["passes"]}, {p["name"]: p["pipeline"] for p in data["presets"]}


def pipeline_passes(text):
    """The pass names a pipeline text uses (options and fixpoint groups stripped)."""
    text = re.sub(r"\{[^}]*\}", "", text)
    names = [t.strip() for t in re.split(r"[,()]", text)]
    return [t for t in names if t and t != "fixpoint"]


def resolve_variant(spec, passes, presets):
    """(optimize arguments, None) or (None, why it is skipped)."""
    if spec.startswith("preset:"):
        preset = spec[len("preset:"):]
        if preset not in presets:
            return None, f"preset {preset} not registered"
        return ["--preset", preset], None
    text = spec.replace("{default}", presets.get("default", ""))
    missing = [p for p in pipeline_passes(text) if p not in passes]
    if missing:
        return None, "pass " + ", ".join(dict.fromkeys(missing)) + " not registered"
    return ["--pipeline", text], None


def graphc_compile(graphc, model, args_, calibration, out):
    cmd = [graphc, "optimize", model, *args_, "--calibration", calibration, "--json", "-o", out]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"graphc optimize failed: {r.stderr.strip() or r.stdout.strip()}")
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    stats = {}
    for p in summary["passes"]:
        for k, v in p["statistics"].items():
            stats[k] = stats.get(k, 0) + v
    return summary, stats


def graphc_run(graphc, gcb, name, inputs, out_dir):
    """The first output of `graphc run` on each held-out input file."""
    outs = []
    for i, src in enumerate(inputs):
        shutil.rmtree(out_dir, ignore_errors=True)
        r = subprocess.run([graphc, "run", gcb, "--input", f"{name}={src}", "--output-dir", out_dir,
                            "--show", "0"], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"graphc run failed on held-out sample {i}: {r.stderr.strip()}")
        files = sorted(os.listdir(out_dir))
        outs.append(np.load(os.path.join(out_dir, files[0])))
    return outs


# ---------------------------------------------------------------------------------------------
# Driver


def evaluate(kind, path, args, variants, catalog, work):
    """One model's result: its splits, then one row per variant (the float reference first)."""
    label = os.path.basename(os.path.dirname(os.path.abspath(path)))
    model = onnx.load(path)
    name, cal, held = make_splits(kind, model, args)
    targets = None
    if kind == "lm":
        targets = [h[0, 1:].astype(np.int64) for h in held]
        held = [h[:, :-1] for h in held]
    folder = os.path.join(work, label)
    cal_dir = os.path.join(folder, "calibration")
    write_samples(cal_dir, name, cal)
    held_files = write_samples(os.path.join(folder, "heldout"), name, held)
    log(f"{label}: {len(cal)} calibration / {len(held)} held-out samples of {list(held[0].shape)}")

    t0 = time.time()
    ref, _ = ort_run(path, name, held, optimize=False)
    rows = [dict(variant="float (onnxruntime)", status="reference", model_bytes=os.path.getsize(path),
                 weight_bytes=initializer_bytes(model), **compare(ref, ref, targets))]
    log(f"{label}: float reference in {time.time() - t0:.1f} s")

    # Symbolic inputs (the language model's sequence length) are fixed to the held-out shape,
    # which every sample here shares: a static graph gets a planned arena. (It was also needed
    # for graphc builds before the fix that keeps a QLinear's result quantization at run time.)
    dims = inp_dims(model)
    shape_args = [] if all(d > 0 for d in dims) else \
        ["--shape", f"{name}=" + "x".join(str(d) for d in held[0].shape)]

    passes, presets = catalog
    for vname, spec in variants:
        row = {"variant": vname, "spec": spec}
        rows.append(row)
        opt_args, why = resolve_variant(spec, passes, presets)
        if why:
            row["status"] = f"pending: {why}"
            continue
        t0 = time.time()
        gcb = os.path.join(folder, re.sub(r"[^A-Za-z0-9]+", "-", vname) + ".gcb")
        try:
            summary, stats = graphc_compile(args.graphc, path, opt_args + shape_args, cal_dir, gcb)
            out = graphc_run(args.graphc, gcb, name, held_files, os.path.join(folder, "out"))
        except RuntimeError as e:
            row["status"] = f"failed: {e}"
            log(f"{label}: {vname}: {row['status']}")
            continue
        row.update(status="ok", pipeline=summary["pipeline"], model_bytes=summary["bytes"],
                   layers_quantized=stats.get("layers-quantized", 0),
                   layers_float=sum(summary["ops_after"].get(op, 0) for op in FLOAT_LAYER_OPS),
                   weight_bytes_before=stats.get("weight-bytes-before"),
                   weight_bytes_after=stats.get("weight-bytes-after"), **compare(ref, out, targets))
        log(f"{label}: {vname} in {time.time() - t0:.1f} s")

    for vname, extra in ([] if args.no_ort else ORT_VARIANTS):
        row = {"variant": vname}
        rows.append(row)
        t0 = time.time()
        dst = os.path.join(folder, re.sub(r"[^A-Za-z0-9]+", "-", vname) + ".onnx")
        try:
            info = ort_quantize(path, dst, name, cal, extra, folder)
            out, note = ort_run(dst, name, held, optimize=True)
        except Exception as e:  # onnxruntime's quantizer raises anything; report it per row
            row["status"] = f"failed: {type(e).__name__}: {str(e).splitlines()[0][:160]}"
            log(f"{label}: {vname}: {row['status']}")
            continue
        row.update(status="ok", **info, **compare(ref, out, targets))
        if note:
            row["note"] = note
        log(f"{label}: {vname} in {time.time() - t0:.1f} s")
    return {"model": label, "path": path, "kind": kind, "input": name,
            "input_shape": list(held[0].shape), "calibration_samples": len(cal),
            "heldout_samples": len(held), "rows": rows}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def fmt_bytes(n):
    if n is None:
        return "-"
    return f"{n / 1024:.1f}K" if n < 1 << 20 else f"{n / (1 << 20):.2f}M"


def print_table(results, command):
    for res in results:
        lm = res["kind"] == "lm"
        print(f"\n{res['model']}: input {res['input']}{res['input_shape']}, "
              f"{res['calibration_samples']} calibration / {res['heldout_samples']} held-out samples")
        head = ["variant", "cos mean", "cos min", "centered cos", "max abs", "top-1"] + (["nll"] if lm else []) + \
               ["layers q/f", "weights", "model"]
        lines = [head]
        pending = []
        for r in res["rows"]:
            if r["status"] not in ("ok", "reference"):
                pending.append(f"  {r['variant']}: {r['status']}")
                continue
            q = f"{r['layers_quantized']}/{r['layers_float']}" if "layers_quantized" in r else "-"
            w = r.get("weight_bytes_after")
            weights = (f"{fmt_bytes(r['weight_bytes_before'])}->{fmt_bytes(w)}" if w is not None
                       else fmt_bytes(r.get("weight_bytes")))
            if r.get("note"):
                pending.append(f"  {r['variant']}: {r['note']}")
            lines.append([r["variant"], f"{r['cos_mean']:.6f}", f"{r['cos_min']:.6f}",
                          f"{r['centered_cos_mean']:.4f}", f"{r['max_abs']:.4g}",
                          f"{100 * r['top1']:.2f}%"] + ([f"{r['nll']:.4f}"] if lm else []) +
                         [q, weights, fmt_bytes(r["model_bytes"])])
        widths = [max(len(l[i]) for l in lines) for i in range(len(head))]
        for k, l in enumerate(lines):
            print("| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(l, widths))) + " |")
            if k == 0:
                print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        if pending:
            print("notes:")
            print("\n".join(pending))
    print(f"\ncommand: {command}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--graphc", required=True, help="the graphc binary")
    p.add_argument("--lm", default=os.path.join(ROOT, "fixtures/models/attention-lm/model.onnx"),
                   help="the trained language model ('' to skip)")
    p.add_argument("--cnn", action="append",
                   help="a CNN model (repeatable; default resnet and mobilenetv2; '' alone to skip them)")
    p.add_argument("--calibration-samples", type=int, default=32)
    p.add_argument("--heldout-samples", type=int, default=64)
    p.add_argument("--seq", type=int, default=256, help="tokens per language-model window")
    p.add_argument("--variant", action="append", metavar="NAME=PIPELINE",
                   help="a graphc variant (repeatable; replaces the built-in list)")
    p.add_argument("--no-ort", action="store_true", help="skip onnxruntime's quantize_static")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--json-out", metavar="FILE", help="also write the JSON object to FILE")
    p.add_argument("--keep", metavar="DIR", help="keep the splits and compiled models in DIR")
    p.add_argument("--command", default=None, help="the command line to print under the table")
    args = p.parse_args()
    if args.calibration_samples < 1 or args.heldout_samples < 1 or args.seq < 2:
        sys.exit("quant_eval: sample counts must be positive and --seq at least 2")
    cnns = args.cnn if args.cnn is not None else [
        os.path.join(ROOT, "fixtures/models", m, "model.onnx") for m in ("resnet", "mobilenetv2")]
    cnns = [c for c in cnns if c]
    variants = DEFAULT_VARIANTS
    if args.variant:
        variants = []
        for v in args.variant:
            if "=" not in v:
                sys.exit(f"quant_eval: --variant must be NAME=PIPELINE, not '{v}'")
            variants.append(tuple(v.split("=", 1)))

    catalog = graphc_catalog(args.graphc)
    work = args.keep or tempfile.mkdtemp(prefix="graphc-quant-eval.")
    os.makedirs(work, exist_ok=True)
    try:
        models = ([("lm", args.lm)] if args.lm else []) + [("cnn", c) for c in cnns]
        results = [evaluate(kind, path, args, variants, catalog, work) for kind, path in models]
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    command = args.command or " ".join(sys.argv)
    report = {"command": command, "models": results}
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(report, f, indent=1)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print_table(results, command)


if __name__ == "__main__":
    main()
