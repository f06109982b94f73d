#!/usr/bin/env python3
"""Print scripts/bench's comparison table.

    python3 scripts/bench_table.py RESULTS_DIR COMMAND

RESULTS_DIR holds RESULTS_DIR/<model>/t<threads>/{graphc,ort}.r<round>.json, each one JSON
object as printed by `graphc bench --json` or scripts/ort_bench.py. For each model and thread
count the table gives the median over rounds of each side's per-round median, and the ratio
graphc/onnxruntime (>1 means graphc is slower), and the ratio of each side's fastest run over
all rounds (steadier when other tenants share the machine). Load time (graphc's `load_ms` if it reports one,
onnxruntime's session creation) and graphc's peak RSS are medians over rounds too. COMMAND is
printed under the table.
"""

import json
import os
import re
import statistics
import sys


def load_rounds(folder, tool):
    """The JSON objects of one tool's rounds, in round order."""
    found = []
    for file in os.listdir(folder):
        m = re.fullmatch(re.escape(tool) + r"\.r(\d+)\.json", file)
        if m:
            path = os.path.join(folder, file)
            with open(path) as f:
                try:
                    found.append((int(m.group(1)), json.load(f)))
                except json.JSONDecodeError as e:
                    sys.exit(f"bench_table: {path} is not one JSON object: {e}")
    return [obj for _, obj in sorted(found, key=lambda pair: pair[0])]


def median_of(rounds, key):
    values = [r[key] for r in rounds if isinstance(r.get(key), (int, float))]
    return statistics.median(values) if values else None


def fmt(value, spec):
    return "-" if value is None else format(value, spec)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: bench_table.py RESULTS_DIR COMMAND")
    results, command = sys.argv[1], sys.argv[2]

    header = ["model", "threads", "graphc ms", "ort ms", "graphc/ort", "min graphc/ort",
              "graphc load ms", "ort load ms", "graphc peak RSS MB", "ort peak RSS MB", "rounds"]
    rows = []
    for model in sorted(os.listdir(results)):
        thread_dirs = [d for d in os.listdir(os.path.join(results, model)) if re.fullmatch(r"t\d+", d)]
        for tdir in sorted(thread_dirs, key=lambda d: int(d[1:])):
            folder = os.path.join(results, model, tdir)
            graphc, ort = load_rounds(folder, "graphc"), load_rounds(folder, "ort")
            g_ms, o_ms = median_of(graphc, "median_ms"), median_of(ort, "median_ms")
            ratio = g_ms / o_ms if g_ms is not None and o_ms else None
            g_min = min((r["min_ms"] for r in graphc if "min_ms" in r), default=None)
            o_min = min((r["min_ms"] for r in ort if "min_ms" in r), default=None)
            min_ratio = g_min / o_min if g_min is not None and o_min else None
            rss, ort_rss = median_of(graphc, "peak_rss_bytes"), median_of(ort, "peak_rss_bytes")
            rows.append([
                model, tdir[1:], fmt(g_ms, ".4f"), fmt(o_ms, ".4f"), fmt(ratio, ".2f"), fmt(min_ratio, ".2f"),
                fmt(median_of(graphc, "load_ms"), ".2f"), fmt(median_of(ort, "load_ms"), ".2f"),
                fmt(None if rss is None else rss / 2**20, ".1f"),
                fmt(None if ort_rss is None else ort_rss / 2**20, ".1f"), str(min(len(graphc), len(ort))),
            ])

    widths = [max(len(str(row[i])) for row in [header] + rows) for i in range(len(header))]
    line = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                   for i, (c, w) in enumerate(zip(cells, widths)))
    print(line(header))
    print(line(["-" * w for w in widths]))
    for row in rows:
        print(line(row))
    print()
    print("graphc/ort > 1 means graphc is slower. Times are medians over rounds of each round's "
          "median of BENCH_RUNS runs; min graphc/ort compares each side's fastest run over all rounds, "
          "the steadier figure on a shared machine.")
    print(f"command: {command}")


if __name__ == "__main__":
    main()
