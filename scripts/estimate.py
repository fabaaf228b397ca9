#!/usr/bin/env python3
"""Projects each bench payload's run time onto Lambda memory sizes, and what a Power Tuning sweep
of each experiment costs at list prices, from runs measured here.

    scripts/estimate.py [--probe target/release/lambda-probe] [--runs 3]

How: every payload in bench-payloads/ runs locally (`lambda-probe run`), `--runs` times; the
run with the least CPU time counts (CPU time, unlike wall time, does not grow when other work
shares the machine). The CPU time each phase used is taken from the response (per thread-count
level where the workload reports levels, else the whole run with its measured parallelism), and
Lambda's documented CPU model turns it into wall time at M MB: a phase that keeps `t` threads
busy gets min(M / 1769, cores(M), t) vCPU, with cores(M) = 2 up to 3,008 MB, then 3 / 4 / 5 / 6
from 3,009 / 5,308 / 7,077 / 8,846 MB. So t(M) = sum over phases of cpu_s / vCPU(M, threads).

This machine's CPU is not Lambda's (Graviton for arm64, various x86 for x86_64): the figures are
projections to check a deployment against, not measurements of Lambda. Work that waits on the
network (io) cannot be projected this way: its rows say so.
"""

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PAYLOADS = REPO / "bench-payloads"
EXPERIMENTS = PAYLOADS / "power-tuning"

VCPU_MB = 1769
# Visible cores by memory size, as measured from inside Lambda.
CORE_STEPS = [(8846, 6), (7077, 5), (5308, 4), (3009, 3), (0, 2)]
SIZES_MB = [128, 1769, 10240]
# List prices (us-east-1): per GB-second, and per request.
PRICE_GB_S = {"arm64": 0.0000133334, "x86_64": 0.0000166667}
PRICE_REQUEST = 0.20 / 1_000_000
# Power Tuning's own costs: its executor function (Node.js, x86_64, 128 MB) waits for every
# invocation of one memory size in series; Step Functions standard workflows bill transitions.
EXECUTOR_GB = 128 / 1024
PRICE_TRANSITION = 0.025 / 1000
# Template defaults (template.yaml): function timeout and Power Tuning's totalExecutionTimeout.
FUNCTION_TIMEOUT_S = 900
POWER_TUNING_TIMEOUT_S = 900


def cores(memory_mb):
    return next(c for lo, c in CORE_STEPS if memory_mb >= lo)


def vcpu(memory_mb, threads):
    return min(memory_mb / VCPU_MB, cores(memory_mb), threads)


def phases(response):
    """[(cpu_s, threads)] for one response."""
    summary = response.get("summary", {})
    levels = summary.get("levels")
    if isinstance(levels, list) and levels and all("cpu_ms" in l and "threads" in l for l in levels):
        return [(l["cpu_ms"] / 1000, max(1, int(l["threads"]))) for l in levels]
    cpu_s = (summary.get("cpu_ms") or 0) / 1000
    parallel = summary.get("effective_vcpu") or 1
    return [(cpu_s, max(1, round(parallel)))]


def projected_s(ph, memory_mb):
    return sum(cpu_s / vcpu(memory_mb, threads) for cpu_s, threads in ph)


def measure(probe, path, runs):
    """The run that used the least CPU of `runs` local runs (CPU time, unlike wall time, does not
    grow when other work shares the machine): (response, cpu_s) or (None, error text)."""
    best = None
    for _ in range(runs):
        proc = subprocess.run([str(probe), "run", str(path)], capture_output=True, text=True)
        try:
            response = json.loads(proc.stdout)
        except ValueError:
            return None, (proc.stderr or proc.stdout).strip()[:200]
        if "errorType" in response:
            return None, f"{response['errorType']}: {response.get('errorMessage', '')[:160]}"
        cpu_s = response["summary"]["cpu_ms"] / 1000
        if best is None or cpu_s < best[1]:
            best = (response, cpu_s)
    return best


def sweep_cost(ph, experiment, arch):
    values = experiment["powerValues"]
    num = experiment["num"]
    lambda_cost = 0.0
    executor_s = 0.0
    for m in values:
        t = projected_s(ph, m)
        lambda_cost += num * (m / 1024 * t * PRICE_GB_S[arch] + PRICE_REQUEST)
        executor_s += num * t
    executor_cost = executor_s * EXECUTOR_GB * PRICE_GB_S["x86_64"] + len(values) * PRICE_REQUEST
    return lambda_cost, executor_cost, transitions(experiment) * PRICE_TRANSITION


def transitions(experiment):
    """State transitions of one run, as Power Tuning counts them (lambda/utils.js
    stepFunctionsCost): 6 + 3 per size, or with onlyColdStarts 6 + per size 1 + 2 × num."""
    n = len(experiment["powerValues"])
    if experiment.get("onlyColdStarts"):
        return 6 + n + 2 * n * experiment["num"]
    return 6 + 3 * n


def key(payload):
    return json.dumps(payload, sort_keys=True)


def phases_of(probe, payload, measured, runs):
    """The measured phases of a Power Tuning input's payload: a bench payload's, or its own run
    (an input may run one phase of a bench payload)."""
    if key(payload) not in measured:
        with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
            json.dump(payload, f)
            f.flush()
            result, _ = measure(probe, f.name, runs)
        measured[key(payload)] = phases(result) if result is not None else None
    return measured[key(payload)]


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--probe", default=str(REPO / "target/release/lambda-probe"))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    probe = Path(args.probe)
    if not probe.exists():
        print(f"{probe}: build it first (cargo build --release)", file=sys.stderr)
        return 2

    print(f"Measured on {platform.machine()} ({cpu_model()}), the run with the least CPU time of {args.runs} each.\n")
    print("| payload | CPU s measured (threads) | 128 MB | 1,769 MB | 10,240 MB | notes |")
    print("|---|---|---|---|---|---|")
    measured = {}
    for path in sorted(PAYLOADS.glob("*.json")):
        result, extra = measure(probe, path, args.runs)
        if result is None:
            print(f"| {path.stem} | to be measured | | | | not measurable here: {extra} |")
            continue
        ph = phases(result)
        measured[key(json.loads(path.read_text()))] = ph
        cells = [fmt_s(projected_s(ph, m)) for m in SIZES_MB]
        notes = []
        if projected_s(ph, 128) > FUNCTION_TIMEOUT_S:
            notes.append(f"over the {FUNCTION_TIMEOUT_S} s timeout at 128 MB")
        work = " + ".join(f"{c:.2f} ({t})" for c, t in ph)
        print(f"| {path.stem} | {work} | {' | '.join(cells)} | {'; '.join(notes)} |")

    print("\nA full Power Tuning sweep (every powerValue × num invocations), list prices:\n")
    print("| experiment | invocations | arm64 | x86_64 | executor | Step Functions | "
          "slowest executor (num × t(128 MB)) |")
    print("|---|---|---|---|---|---|---|")
    for path in sorted(EXPERIMENTS.glob("*.json")):
        experiment = json.loads(path.read_text())
        n = experiment["num"] * len(experiment["powerValues"])
        sfn = f"${transitions(experiment) * PRICE_TRANSITION:.4f}"
        if experiment.get("onlyColdStarts"):
            # Every invocation is a cold start: its billed time is the init, not projectable here.
            print(f"| {path.stem} | {n} | to be measured (cold starts) | | | {sfn} | |")
            continue
        ph = phases_of(probe, experiment["payload"], measured, args.runs)
        if ph is None:
            print(f"| {path.stem} | {n} | to be measured | | | {sfn} | |")
            continue
        arm, executor, sfn = sweep_cost(ph, experiment, "arm64")
        x86, _, _ = sweep_cost(ph, experiment, "x86_64")
        slowest = experiment["num"] * projected_s(ph, 128)
        if experiment.get("parallelInvocation"):
            slowest = projected_s(ph, 128)
        flag = " (over totalExecutionTimeout)" if slowest > POWER_TUNING_TIMEOUT_S else ""
        print(f"| {path.stem} | {n} | ${arm:.4f} | ${x86:.4f} | ${executor:.4f} | ${sfn:.4f} | "
              f"{fmt_s(slowest)}{flag} |")
    return 0


def fmt_s(s):
    if s < 0.001:
        return "< 1 ms"
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.1f} s"


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
