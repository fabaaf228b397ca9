#!/usr/bin/env python3
"""Drives the deployed probe with the AWS CLI: `make invoke` and `make tune` call this.

    scripts/aws.py invoke PAYLOAD [--arch arm64|x86_64] [--memory MB]
    scripts/aws.py tune EXPERIMENT [--arch arm64|x86_64] [--wait-s N] [--poll-s N]
    scripts/aws.py outputs

PAYLOAD is a file or a name in bench-payloads/ (pbkdf2-single); EXPERIMENT a file or a name in
bench-payloads/power-tuning/. The function and the state machine come from the stack's outputs:
the stack is $STACK, else `stack_name` in samconfig.toml, else lambda-probe; the region is the
CLI's own (AWS_REGION, the profile), else samconfig.toml's. Every AWS call is an `aws` CLI
command (v1 or v2; $AWS_CLI picks another binary), so the usual endpoint, profile and credential
settings apply. Results are written to out/ ($PROBE_OUT_DIR).
"""

import argparse
import base64
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# $PROBE_OUT_DIR moves the results elsewhere (the tests do).
OUT = Path(os.environ.get("PROBE_OUT_DIR") or REPO / "out")
PAYLOADS = REPO / "bench-payloads"
EXPERIMENTS = PAYLOADS / "power-tuning"
ARN_PLACEHOLDER = "{{ProbeFunctionArn}}"
DEFAULT_STACK = "lambda-probe"
# The stack's outputs (template.yaml); tests/template.rs checks they exist.
OUTPUT_NAME = {"arm64": "Arm64FunctionName", "x86_64": "X86FunctionName"}
OUTPUT_ARN = {"arm64": "Arm64FunctionArn", "x86_64": "X86FunctionArn"}
OUTPUT_STATE_MACHINE = "PowerTuningStateMachineArn"
MIN_MB, MAX_MB = 128, 10240
# Lambda runs up to 900 s; the CLI's default 60 s read timeout would cut a long invocation short
# and retry it, running the payload twice.
INVOKE_READ_TIMEOUT_S = 960


class Failure(Exception):
    """A problem the user can act on: printed without a traceback."""


# ------------------------------------------------------------------ the AWS CLI


def aws_binary():
    return os.environ.get("AWS_CLI", "aws")


def cli_major_version():
    """1 or 2, from `aws --version` (v1 printed it on stderr, v2 on stdout)."""
    try:
        out = subprocess.run([aws_binary(), "--version"], capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise Failure(f"{aws_binary()}: not found; install the AWS CLI (make setup puts v1 in .venv)")
    m = re.search(r"aws-cli/(\d+)\.", out.stdout + out.stderr)
    if not m:
        raise Failure(f"cannot tell the AWS CLI's version from: {(out.stdout + out.stderr).strip()!r}")
    return int(m.group(1))


def region_args():
    """--region from samconfig.toml, unless the environment names one."""
    if os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"):
        return []
    region = samconfig().get("region")
    return ["--region", region] if region else []


def aws(*args, expect_json=True, extra_env=None):
    cmd = [aws_binary(), *args, *region_args()]
    if expect_json:
        cmd += ["--output", "json"]
    # No pager (CLI v2 pipes output through one by default).
    env = dict(os.environ, AWS_PAGER="", **(extra_env or {}))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise Failure(f"`aws {' '.join(args[:2])}` failed:\n{proc.stderr.strip()}")
    if not expect_json:
        return proc.stdout
    return json.loads(proc.stdout) if proc.stdout.strip() else {}


def samconfig():
    """[default.deploy.parameters] of samconfig.toml (written by `sam deploy --guided`)."""
    path = REPO / "samconfig.toml"
    if not path.exists():
        return {}
    try:
        import tomllib
    except ImportError:  # Python < 3.11: read the two keys we need by hand
        text = path.read_text()
        return {k: v for k, v in re.findall(r'^\s*(stack_name|region)\s*=\s*"([^"]*)"', text, re.M)}
    with path.open("rb") as f:
        return tomllib.load(f).get("default", {}).get("deploy", {}).get("parameters", {})


def stack_name():
    return os.environ.get("STACK") or samconfig().get("stack_name") or DEFAULT_STACK


def stack_outputs():
    name = stack_name()
    try:
        stacks = aws("cloudformation", "describe-stacks", "--stack-name", name)["Stacks"]
    except Failure as e:
        raise Failure(f"{e}\nIs the stack {name!r} deployed? Run `make deploy` (or set STACK=<name>).")
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def output(outputs, key, hint):
    if key not in outputs:
        raise Failure(f"the stack {stack_name()!r} has no output {key}: {hint}")
    return outputs[key]


# ------------------------------------------------------------------ files


def resolve(arg, folder, kind):
    """A path, or a name in `folder` (with or without .json)."""
    for candidate in (Path(arg), folder / arg, folder / f"{arg}.json"):
        if candidate.is_file():
            return candidate.resolve()
    names = sorted(p.stem for p in folder.glob("*.json"))
    raise Failure(f"no {kind} {arg!r}; choose one of: {', '.join(names)}")


def write_json(path, value):
    OUT.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2) + "\n")
    return path


def rel(path):
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return str(path)


# ------------------------------------------------------------------ invoke


def report_line(log_result_b64):
    """Lambda's REPORT line from the base64 log tail (the last 4 KB of the invocation's log)."""
    if not log_result_b64:
        return None
    text = base64.b64decode(log_result_b64).decode("utf-8", "replace")
    lines = [l for l in text.splitlines() if l.startswith("REPORT ")]
    return re.sub(r"\t+", "  ", lines[-1]).strip() if lines else None


def fmt(v):
    if isinstance(v, float):
        return f"{v:.4g}"
    return json.dumps(v) if isinstance(v, (dict, list)) else str(v)


def summarize(response):
    """A few lines from the probe's response: where it ran and the summary's figures."""
    env = response.get("environment", {})
    lines = [
        "{} · arch {} · {} MB · {} visible cores · {} (invocation {} in this sandbox)".format(
            response.get("workload"),
            env.get("arch"),
            env.get("memory_mb"),
            env.get("visible_cores"),
            "cold start" if env.get("cold_start") else "warm",
            env.get("invocation_index"),
        )
    ]
    summary = response.get("summary", {})
    scalars = {k: v for k, v in summary.items() if not isinstance(v, (dict, list))}
    if scalars:
        lines.append("summary: " + ", ".join(f"{k}={fmt(v)}" for k, v in scalars.items()))
    for key, value in summary.items():
        if isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
            for row in value:
                cells = {k: v for k, v in row.items() if not isinstance(v, (dict, list))}
                lines.append(f"  {key}: " + ", ".join(f"{k}={fmt(v)}" for k, v in cells.items()))
    if response.get("truncated"):
        lines.append(f"TRUNCATED: {response.get('truncated_reason')}")
    return "\n".join(lines)


def set_memory(function, memory_mb):
    current = aws("lambda", "get-function-configuration", "--function-name", function)
    if current.get("MemorySize") == memory_mb:
        print(f"{function}: already {memory_mb} MB")
        return
    print(f"{function}: memory {current.get('MemorySize')} -> {memory_mb} MB")
    aws("lambda", "update-function-configuration", "--function-name", function,
        "--memory-size", str(memory_mb))
    # Bounded: the waiter polls every 5 s, 60 times at most.
    aws("lambda", "wait", "function-updated", "--function-name", function, expect_json=False)


def invoke(args):
    payload = resolve(args.payload, PAYLOADS, "payload")
    json.loads(payload.read_text())  # a broken file fails here, not as a CLI error
    if args.memory is not None and not MIN_MB <= args.memory <= MAX_MB:
        raise Failure(f"MEMORY={args.memory}: Lambda allows {MIN_MB}..{MAX_MB} MB")
    function = args.function or output(
        stack_outputs(), OUTPUT_NAME[args.arch], f"the {args.arch} function is switched off")
    if args.memory is not None:
        set_memory(function, args.memory)

    suffix = f"-{args.memory}mb" if args.memory is not None else ""
    response_path = OUT / f"invoke-{payload.stem}-{args.arch}{suffix}.json"
    OUT.mkdir(parents=True, exist_ok=True)
    cmd = ["lambda", "invoke", "--function-name", function]
    if cli_major_version() >= 2:
        # v2 reads blobs as base64 unless told otherwise; v1 does not know the option.
        cmd += ["--cli-binary-format", "raw-in-base64-out"]
    cmd += ["--payload", f"file://{payload}", "--log-type", "Tail",
            "--cli-read-timeout", str(INVOKE_READ_TIMEOUT_S), str(response_path)]
    print(f"invoking {function} with {rel(payload)}")
    # No retries: a retried invocation would run the payload again.
    meta = aws(*cmd, extra_env={"AWS_MAX_ATTEMPTS": "1"})

    report = report_line(meta.get("LogResult"))
    try:
        response = json.loads(response_path.read_text())
    except (OSError, ValueError) as e:
        raise Failure(f"the function's answer in {rel(response_path)} is not JSON: {e}")
    print(f"response: {rel(response_path)} (HTTP {meta.get('StatusCode')})")
    if meta.get("FunctionError") or "errorType" in response:
        print(f"function error {response.get('errorType')}: {response.get('errorMessage')}")
    else:
        print(summarize(response))
    print(report or "REPORT: no log tail in the answer (a local emulator sends none)")
    return 1 if meta.get("FunctionError") or "errorType" in response else 0


# ------------------------------------------------------------------ tune


def find_key(value, key):
    """The first value of `key` anywhere in a JSON document."""
    if isinstance(value, dict):
        if key in value:
            return value[key]
        value = list(value.values())
    if isinstance(value, list):
        for v in value:
            found = find_key(v, key)
            if found is not None:
                return found
    return None


def first_failure(execution_arn):
    """The error and cause that ended (or aborted) a Power Tuning run, from its history."""
    events = aws("stepfunctions", "get-execution-history", "--execution-arn", execution_arn,
                 "--reverse-order").get("events", [])
    for e in events:
        for key, details in e.items():
            if key.endswith("FailedEventDetails") or key.endswith("TimedOutEventDetails"):
                return f"{e['type']}: {details.get('error')}: {details.get('cause', '')}"
        # Power Tuning's CleanUpOnError step gets the error as its input and then ends the run
        # as SUCCEEDED with no output.
        entered = e.get("stateEnteredEventDetails", {})
        if entered.get("name") == "CleanUpOnError":
            err = json.loads(entered.get("input") or "{}").get("error", {})
            return f"aborted: {err.get('Error')}: {err.get('Cause', '')}"
    return "no failure event in the execution history"


def tune(args):
    path = resolve(args.experiment, EXPERIMENTS, "Power Tuning input")
    experiment = json.loads(path.read_text())
    if experiment.get("lambdaARN") != ARN_PLACEHOLDER:
        raise Failure(f"{rel(path)}: lambdaARN must be the placeholder {ARN_PLACEHOLDER}")
    outputs = stack_outputs()
    state_machine = output(outputs, OUTPUT_STATE_MACHINE,
                           "deploy with Power Tuning: make deploy PARAMS='DeployPowerTuning=true'")
    experiment["lambdaARN"] = output(outputs, OUTPUT_ARN[args.arch],
                                     f"the {args.arch} function is switched off")
    input_path = write_json(OUT / f"tune-{path.stem}-{args.arch}-input.json", experiment)

    name = f"{path.stem}-{args.arch}-{time.strftime('%Y%m%dT%H%M%S')}"[:80]
    started = aws("stepfunctions", "start-execution", "--state-machine-arn", state_machine,
                  "--name", name, "--input", f"file://{input_path}")
    execution = started["executionArn"]
    print(f"started {execution}\ninput: {rel(input_path)}")

    began = time.monotonic()
    while True:
        described = aws("stepfunctions", "describe-execution", "--execution-arn", execution)
        status = described.get("status")
        elapsed = time.monotonic() - began
        if status != "RUNNING":
            break
        if elapsed >= args.wait_s:
            print(f"still RUNNING after {elapsed:.0f} s (WAIT_S={args.wait_s}); follow it with:\n"
                  f"  aws stepfunctions describe-execution --execution-arn {execution}")
            return 3
        print(f"  {elapsed:5.0f} s  {status}", flush=True)
        time.sleep(min(args.poll_s, max(args.wait_s - elapsed, 0.1)))

    result = json.loads(described.get("output") or "null")
    result_path = write_json(OUT / f"tune-{path.stem}-{args.arch}.json", result)
    visualization = find_key(result, "visualization")
    if status != "SUCCEEDED" or not visualization:
        print(f"Power Tuning run {status}, without results: {first_failure(execution)}")
        return 1

    print(f"finished in {elapsed:.0f} s; output: {rel(result_path)}")
    print(f"recommended ({experiment.get('strategy', 'cost')}): {result.get('power')} MB, "
          f"{fmt(result.get('duration'))} ms, ${fmt(result.get('cost'))} per invocation")
    for row in result.get("stats") or []:
        print(f"  {row.get('value'):>6} MB  {fmt(row.get('averageDuration')):>10} ms  "
              f"${fmt(row.get('averagePrice'))}")
    print(f"visualization: {visualization}")
    return 0


# ------------------------------------------------------------------ main


def main(argv):
    parser = argparse.ArgumentParser(prog="scripts/aws.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("invoke", help="invoke a function with a bench payload")
    p.add_argument("payload")
    p.add_argument("--arch", choices=sorted(OUTPUT_NAME), default="arm64")
    p.add_argument("--memory", type=int, help="set the function's memory (MB) first")
    p.add_argument("--function", help="a function name instead of the stack's output")
    p = sub.add_parser("tune", help="run Power Tuning with an input from bench-payloads/power-tuning")
    p.add_argument("experiment")
    p.add_argument("--arch", choices=sorted(OUTPUT_ARN), default="arm64")
    p.add_argument("--wait-s", type=float, default=3600, help="stop waiting after this long")
    p.add_argument("--poll-s", type=float, default=15, help="seconds between status checks")
    sub.add_parser("outputs", help="print the stack's outputs")
    args = parser.parse_args(argv)
    try:
        if args.command == "invoke":
            return invoke(args)
        if args.command == "tune":
            return tune(args)
        for k, v in sorted(stack_outputs().items()):
            print(f"{k:28} {v}")
        return 0
    except Failure as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
