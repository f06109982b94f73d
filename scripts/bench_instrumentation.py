#!/usr/bin/env python3
"""Wall time of `graphc optimize` with the instruments off and on (issue 3: instrumentation costs
nothing when off). Alternates the variants round by round and prints medians and ratios.

    python3 scripts/bench_instrumentation.py --graphc .build/release/graphc --rounds 15 MODEL.onnx...
"""
import argparse, os, statistics, subprocess, tempfile, time

VARIANTS = {
    "off": [],
    "verify-each": ["--verify-each"],
    "timing+report": ["--timing", "--report", "{tmp}/report.json"],
    "all on": ["--verify-each", "--timing", "--report", "{tmp}/report.json", "--print-ir-after-all"],
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--graphc", required=True)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("models", nargs="+")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            times = {v: [] for v in VARIANTS}
            for _ in range(args.rounds):
                for name, flags in VARIANTS.items():
                    cmd = [args.graphc, "optimize", model, "-o", os.path.join(tmp, "out.gcb")]
                    cmd += [f.format(tmp=tmp) for f in flags]
                    start = time.perf_counter()
                    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    times[name].append(time.perf_counter() - start)
            base = statistics.median(times["off"])
            print(f"{model} (median of {args.rounds} alternating rounds)")
            for name in VARIANTS:
                m = statistics.median(times[name])
                print(f"  {name:14s} {m * 1000:8.1f} ms  {m / base:5.2f}x off")


if __name__ == "__main__":
    main()
