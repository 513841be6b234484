#!/usr/bin/env python3
"""A/B timing of two grokjit builds or settings on one spec, in one window.

Runs `grokjit bench SPEC --fusion on --profile 100 --json` with each of two
command prefixes, alternating which goes first, and prints the medians over
rounds of: the step, the sum of every kernel timed alone, and the kernels
whose names match --kernels (a regular expression). Compare as ratios from
one run: machines are noisy (docs/benchmarks.md).

  python3 bench/ab_profile.py --before /tmp/grokjit-old --after build/lead/grokjit
  python3 bench/ab_profile.py --before build/lead/grokjit \\
      --after "env GROKJIT_RECOMPUTE=on build/lead/grokjit" --threads 1
"""
import argparse
import json
import re
import shlex
import statistics
import subprocess
import sys


def bench(prefix, args):
    cmd = shlex.split(prefix) + ["bench", args.spec, "--fusion", "on", "--threads", str(args.threads),
                                 "--steps", str(args.steps), "--warmup", "3", "--profile", "100", "--json"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"ab_profile: {' '.join(cmd)} failed ({done.returncode}):\n{done.stderr}")
    run = json.loads(done.stdout)["runs"][0]
    kernels = run["kernel_profile"]
    chosen = [k["ms"] for k in kernels if re.search(args.kernels, k["name"])]
    return run["step_ms"]["median"], sum(k["ms"] for k in kernels), sum(chosen), len(chosen)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--before", required=True, help="command prefix of A (a binary, or 'env K=V binary')")
    p.add_argument("--after", required=True, help="command prefix of B")
    p.add_argument("--spec", default="specs/add-adamw.json")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--kernels", default=r"x512x128_.*(silu|rand)",
                   help="regex of kernel names summed separately (default: the FFN epilogue kernels)")
    args = p.parse_args()
    results = {"before": [], "after": []}
    for r in range(args.rounds):
        order = [("before", args.before), ("after", args.after)]
        for name, prefix in (order if r % 2 == 0 else order[::-1]):
            results[name].append(bench(prefix, args))
            step, total, chosen, n = results[name][-1]
            print(f"round {r} {name:6}: step {step:.2f} ms, kernels alone {total:.2f} ms, "
                  f"{n} matching kernels {chosen:.2f} ms", flush=True)
    print(f"\n{args.spec}, {args.threads} thread(s), median of {args.rounds} rounds:")
    for i, what in enumerate(["step median", "sum of kernels alone", f"kernels matching {args.kernels}"]):
        b = statistics.median(x[i] for x in results["before"])
        a = statistics.median(x[i] for x in results["after"])
        print(f"  {what}: before {b:.2f} ms, after {a:.2f} ms, before/after {b / a:.3f}")


if __name__ == "__main__":
    main()
