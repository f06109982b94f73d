#!/usr/bin/env python3
"""Time one ONNX model in onnxruntime, for scripts/bench to compare against `graphc bench`.

    python3 scripts/ort_bench.py MODEL.onnx --inputs DIR --threads N --warmup W --runs R --json

Loads every model input from DIR/<input name>.npy (characters outside [A-Za-z0-9_.-] in the name
are replaced by `_`), creates a CPU InferenceSession (intra-op threads N, inter-op threads 1,
sequential execution, default optimization level ORT_ENABLE_ALL), runs W untimed warm-up runs
and R timed runs, and prints one JSON object on stdout:

    {"median_ms", "min_ms", "max_ms", "runs", "threads", "load_ms", "peak_rss_bytes"}

`load_ms` is the session creation time (reading and optimizing the model included).
"""

import argparse
import json
import os
import re
import resource
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort


def input_file_name(name):
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".npy"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="path to the .onnx model")
    parser.add_argument("--inputs", required=True, help="folder holding <input name>.npy files")
    parser.add_argument("--threads", type=int, default=1, help="intra-op thread count")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs before timing")
    parser.add_argument("--runs", type=int, default=20, help="timed runs")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object (the only output format; accepted for "
                             "symmetry with `graphc bench --json`)")
    args = parser.parse_args()
    if args.runs < 1 or args.warmup < 0 or args.threads < 1:
        parser.error("--runs and --threads must be at least 1, --warmup at least 0")

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL

    start = time.perf_counter_ns()
    session = ort.InferenceSession(args.model, opts, providers=["CPUExecutionProvider"])
    load_ns = time.perf_counter_ns() - start

    feeds = {}
    for model_input in session.get_inputs():
        path = os.path.join(args.inputs, input_file_name(model_input.name))
        if not os.path.isfile(path):
            sys.exit(f"ort_bench: no input file {path} for model input '{model_input.name}'")
        feeds[model_input.name] = np.load(path, allow_pickle=False)
    output_names = [o.name for o in session.get_outputs()]

    for _ in range(args.warmup):
        session.run(output_names, feeds)
    times_ns = []
    for _ in range(args.runs):
        start = time.perf_counter_ns()
        session.run(output_names, feeds)
        times_ns.append(time.perf_counter_ns() - start)

    result = {
        "median_ms": statistics.median(times_ns) / 1e6,
        "min_ms": min(times_ns) / 1e6,
        "max_ms": max(times_ns) / 1e6,
        "runs": args.runs,
        "threads": args.threads,
        "load_ms": load_ns / 1e6,
        # The whole process, Python included, as graphc bench reports its whole process.
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
