#!/usr/bin/env python3
"""Drives the deployed probe with boto3: `make invoke`, `make tune`, `make tune-both`,
`make outputs`, `make fetch-logs` and `make insights` call this.

    scripts/aws.py invoke PAYLOAD [--arch arm64|x86_64] [--memory MB] [--function NAME]
    scripts/aws.py lmi EXPERIMENT [--arch arm64|x86_64] [--function NAME]
    scripts/aws.py tune EXPERIMENT [--arch arm64|x86_64] [--wait-s N] [--poll-s N]
    scripts/aws.py tune-both EXPERIMENT [--wait-s N] [--poll-s N]
    scripts/aws.py outputs
    scripts/aws.py fetch-logs [--fn both|arm64|x86_64|NAME] [--since 3h] [--until TIME]
    scripts/aws.py insights QUERY [--fn both|arm64|x86_64|NAME] [--since 3h] [--until TIME]

PAYLOAD is a file or a name in bench-payloads/ (pbkdf2-single); EXPERIMENT a file or a name in
bench-payloads/power-tuning/ (tune) or bench-payloads/lmi/ (lmi); QUERY a file or a name in queries/ (report-by-memory). The
functions, their log groups and the state machine come from the stack's outputs: the stack is
$STACK, else `stack_name` in samconfig.toml, else lambda-probe. Credentials, profile and
endpoints are boto3's own (AWS_PROFILE, AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL_<SERVICE>, ...); the
region is AWS_REGION / AWS_DEFAULT_REGION, else samconfig.toml's, else the profile's. Results are
written to out/ ($PROBE_OUT_DIR).
"""

import argparse
import base64
import concurrent.futures
import datetime
import json
import os
import re
import sys
import time
from pathlib import Path

import boto3
import botocore.exceptions
from botocore.config import Config

REPO = Path(__file__).resolve().parent.parent
# $PROBE_OUT_DIR moves the results elsewhere (the tests do).
OUT = Path(os.environ.get("PROBE_OUT_DIR") or REPO / "out")
PAYLOADS = REPO / "bench-payloads"
EXPERIMENTS = PAYLOADS / "power-tuning"
LMI_EXPERIMENTS = PAYLOADS / "lmi"
QUERIES = REPO / "queries"
ARN_PLACEHOLDER = "{{ProbeFunctionArn}}"
DEFAULT_STACK = "lambda-probe"
ARCHES = ("arm64", "x86_64")
# The stack's outputs (template.yaml); tests/template.rs checks they exist.
OUTPUT_NAME = {"arm64": "Arm64FunctionName", "x86_64": "X86FunctionName"}
OUTPUT_ARN = {"arm64": "Arm64FunctionArn", "x86_64": "X86FunctionArn"}
OUTPUT_LOG_GROUP = {"arm64": "Arm64LogGroupName", "x86_64": "X86LogGroupName"}
OUTPUT_LMI_NAME = {"arm64": "Arm64LmiFunctionName", "x86_64": "X86LmiFunctionName"}
# An LMI experiment's keys (bench-payloads/README.md, "Lambda Managed Instances experiments") and
# its bounds: LMI's per-environment concurrency range, and invocations per experiment.
LMI_KEYS = {"about", "payload", "vcpus", "concurrency", "rounds"}
LMI_MAX_CONCURRENCY = 1600
LMI_MAX_ROUNDS = 20
LMI_MAX_INVOCATIONS = 1000
OUTPUT_STATE_MACHINE = "PowerTuningStateMachineArn"
MIN_MB, MAX_MB = 128, 10240
# Lambda runs up to 900 s; a shorter read timeout would cut a long invocation short.
INVOKE_READ_TIMEOUT_S = 960
# The probe's full-result lines and Lambda's REPORT lines (README, "The response").
RESULT_TYPE = "lambda-probe.result"
REPORT_PREFIX = "REPORT RequestId:"
# CloudWatch Logs filter patterns, one call each: quoted terms match the exact phrase.
LOG_FILTERS = ('"lambda-probe.result"', '"REPORT RequestId"')
# Bounds on one fetch: pages per log group and filter, and time for the whole fetch.
MAX_LOG_PAGES = 10_000
MAX_FETCH_S = 1800
# Logs Insights returns at most 10,000 rows per query.
INSIGHTS_MAX_ROWS = 10_000
INSIGHTS_DONE = ("Complete", "Failed", "Cancelled", "Timeout", "Unknown")


class Failure(Exception):
    """A problem the user can act on: printed without a traceback."""


# ------------------------------------------------------------------ AWS


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


_SESSION = None


def session():
    global _SESSION
    if _SESSION is None:
        region = None
        if not (os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")):
            region = samconfig().get("region")
        _SESSION = boto3.session.Session(region_name=region)
    return _SESSION


def client(service, **config):
    """A boto3 client; `config` adds botocore Config settings (timeouts, retries)."""
    defaults = {"connect_timeout": 10, "read_timeout": 60, "retries": {"mode": "standard"}}
    try:
        return session().client(service, config=Config(**{**defaults, **config}))
    except botocore.exceptions.NoRegionError:
        raise Failure("no AWS region: set AWS_REGION, or deploy first (make deploy saves it in samconfig.toml)")


def call(what, fn, **params):
    """One AWS call; what went wrong becomes a Failure that names the call."""
    try:
        return fn(**params)
    except botocore.exceptions.NoCredentialsError:
        raise Failure(f"{what}: no AWS credentials (aws configure, a profile, or AWS_* variables)")
    except botocore.exceptions.ClientError as e:
        err = e.response.get("Error", {})
        raise Failure(f"{what} failed: {err.get('Code')}: {err.get('Message')}")
    except botocore.exceptions.BotoCoreError as e:
        raise Failure(f"{what} failed: {e}")


def stack_name():
    return os.environ.get("STACK") or samconfig().get("stack_name") or DEFAULT_STACK


def stack_outputs():
    name = stack_name()
    cfn = client("cloudformation")
    try:
        stacks = call("cloudformation describe-stacks", cfn.describe_stacks, StackName=name)["Stacks"]
    except Failure as e:
        raise Failure(f"{e}\nIs the stack {name!r} deployed? Run `make deploy` (or set STACK=<name>).")
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def output(outputs, key, hint):
    if key not in outputs:
        raise Failure(f"the stack {stack_name()!r} has no output {key}: {hint}")
    return outputs[key]


# ------------------------------------------------------------------ files


def resolve(arg, folder, kind, ext=".json"):
    """A path, or a name in `folder` (with or without its extension)."""
    for candidate in (Path(arg), folder / arg, folder / f"{arg}{ext}"):
        if candidate.is_file():
            return candidate.resolve()
    names = sorted(p.stem for p in folder.glob(f"*{ext}"))
    raise Failure(f"no {kind} {arg!r}; choose one of: {', '.join(names)}")


def write_json(path, value):
    OUT.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2, default=str) + "\n")
    return path


def rel(path):
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def fmt(v):
    if isinstance(v, float):
        return f"{v:.4g}"
    return json.dumps(v) if isinstance(v, (dict, list)) else str(v)


# ------------------------------------------------------------------ invoke


def log_tail(log_result_b64):
    """The base64 log tail (the last 4 KB of the invocation's log) as text, or None."""
    if not log_result_b64:
        return None
    return base64.b64decode(log_result_b64).decode("utf-8", "replace")


def report_line(tail):
    """Lambda's REPORT line from the log tail, tabs made readable."""
    lines = [l for l in (tail or "").splitlines() if l.startswith("REPORT ")]
    return re.sub(r"\t+", "  ", lines[-1]).strip() if lines else None


def tail_events(tail):
    """The tail's lines as log events; X-Ray's line stays with the REPORT line it ends, as in
    CloudWatch Logs. The first line may be cut: the tail is the last 4 KB."""
    messages = []
    for line in tail.splitlines():
        if line.startswith("XRAY ") and messages and messages[-1].startswith("REPORT "):
            messages[-1] += "\n" + line
        elif line.strip():
            messages.append(line)
    return [{"message": m} for m in messages]


# Lambda's names for the kernel's architecture names (environment.arch).
LAMBDA_ARCH = {"aarch64": "arm64", "arm64": "arm64", "x86_64": "x86_64"}


def save_tail(path, tail, function, request_id, response, stack_arch):
    """The log tail as `make report` reads it (filter-log-events' shape): the REPORT line's
    architecture and workload are the response's (the same invocation), else the stack's
    function's architecture, else left out."""
    doc = {"source": "LogResult of lambda invoke (LogType Tail): the last 4 KB of the invocation's log",
           "functionName": function, "requestId": request_id}
    env_arch = LAMBDA_ARCH.get(((response or {}).get("environment") or {}).get("arch"))
    if env_arch:
        doc.update(architecture=env_arch, architectureFrom="the response's environment.arch")
    elif stack_arch:
        doc.update(architecture=stack_arch, architectureFrom="the stack's function for this architecture")
    if response and response.get("workload"):
        doc["workload"] = response["workload"]
    doc["events"] = tail_events(tail)
    return write_json(path, doc)


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


def set_memory(lam, function, memory_mb):
    current = call("lambda get-function-configuration", lam.get_function_configuration,
                   FunctionName=function)
    if current.get("MemorySize") == memory_mb:
        print(f"{function}: already {memory_mb} MB")
        return
    print(f"{function}: memory {current.get('MemorySize')} -> {memory_mb} MB")
    call("lambda update-function-configuration", lam.update_function_configuration,
         FunctionName=function, MemorySize=memory_mb)
    # Bounded: every 5 s, 60 times at most.
    waiter = lam.get_waiter("function_updated")
    try:
        waiter.wait(FunctionName=function, WaiterConfig={"Delay": 5, "MaxAttempts": 60})
    except botocore.exceptions.WaiterError as e:
        raise Failure(f"{function} did not finish updating: {e}")


def invoke(args):
    payload = resolve(args.payload, PAYLOADS, "payload")
    body = payload.read_bytes()
    try:
        json.loads(body)  # a broken file fails here, not at the function
    except ValueError as e:
        raise Failure(f"{rel(payload)} is not JSON: {e}")
    if args.memory is not None and not MIN_MB <= args.memory <= MAX_MB:
        raise Failure(f"MEMORY={args.memory}: Lambda allows {MIN_MB}..{MAX_MB} MB")
    function = args.function or output(
        stack_outputs(), OUTPUT_NAME[args.arch], f"the {args.arch} function is switched off")
    lam = client("lambda")
    if args.memory is not None:
        set_memory(lam, function, args.memory)

    suffix = f"-{args.memory}mb" if args.memory is not None else ""
    response_path = OUT / f"invoke-{payload.stem}-{args.arch}{suffix}.json"
    print(f"invoking {function} with {rel(payload)}")
    # One attempt: a retried invocation would run the payload again.
    runner = client("lambda", read_timeout=INVOKE_READ_TIMEOUT_S, retries={"total_max_attempts": 1})
    meta = call("lambda invoke", runner.invoke, FunctionName=function, Payload=body, LogType="Tail")
    answer = meta["Payload"].read()
    OUT.mkdir(parents=True, exist_ok=True)
    response_path.write_bytes(answer)

    tail = log_tail(meta.get("LogResult"))
    try:
        response = json.loads(answer)
    except ValueError as e:
        response, not_json = None, e
    failed = meta.get("FunctionError") or not isinstance(response, dict) or "errorType" in response
    tail_path = OUT / f"invoke-{payload.stem}-{args.arch}{suffix}-tail.json"
    if tail is None:
        tail_path.unlink(missing_ok=True)  # an older invocation's tail is not this one's
    else:
        save_tail(tail_path, tail, function, meta.get("ResponseMetadata", {}).get("RequestId"),
                  None if failed else response, None if args.function else args.arch)
    if response is None:
        raise Failure(f"the function's answer in {rel(response_path)} is not JSON: {not_json}")
    print(f"response: {rel(response_path)} (HTTP {meta.get('StatusCode')})")
    if failed and isinstance(response, dict):
        print(f"function error {response.get('errorType')}: {response.get('errorMessage')}")
    elif failed:
        print(f"function error: the answer is not a JSON object: {answer[:200]!r}")
    else:
        print(summarize(response))
    if tail is None:
        print("REPORT: no log tail in the answer (a local emulator sends none)")
    else:
        print(report_line(tail) or "REPORT: none in the log tail")
        print(f"log tail: {rel(tail_path)}")
    return 1 if failed else 0


# ------------------------------------------------------------------ Lambda Managed Instances


def lmi_payload(path, e):
    """The payload an experiment names: a file of the bench-payloads folder holding its lmi/."""
    return path.parent.parent / e["payload"]


def load_lmi_experiment(path):
    """An LMI experiment file, checked: what is wrong says which key and why."""
    try:
        e = json.loads(path.read_text())
    except ValueError as err:
        raise Failure(f"{rel(path)} is not JSON: {err}")
    if not isinstance(e, dict) or set(e) != LMI_KEYS:
        raise Failure(f"{rel(path)}: an LMI experiment has exactly the keys {sorted(LMI_KEYS)}")
    levels = e["concurrency"]
    if (not isinstance(levels, list) or not levels
            or not all(isinstance(k, int) and 1 <= k <= LMI_MAX_CONCURRENCY for k in levels)):
        raise Failure(f"{rel(path)}: `concurrency` lists 1..{LMI_MAX_CONCURRENCY} invocations at once")
    if not isinstance(e["rounds"], int) or not 1 <= e["rounds"] <= LMI_MAX_ROUNDS:
        raise Failure(f"{rel(path)}: `rounds` is 1..{LMI_MAX_ROUNDS}")
    if sum(levels) * e["rounds"] > LMI_MAX_INVOCATIONS:
        raise Failure(f"{rel(path)}: more than {LMI_MAX_INVOCATIONS} invocations in all")
    if not isinstance(e["payload"], str) or not lmi_payload(path, e).is_file():
        raise Failure(f"{rel(path)}: `payload` names the event of one invocation, a file in bench-payloads/")
    return e


def lmi(args):
    """Sends the experiment's payload K at a time for each K, `rounds` times each, and saves
    every answer as one JSON line: each response says in `overlap` how many invocations really
    shared its process (Lambda may spread K invocations over several execution environments)."""
    path = resolve(args.experiment, LMI_EXPERIMENTS, "LMI experiment")
    e = load_lmi_experiment(path)
    function = args.function or output(
        stack_outputs(), OUTPUT_LMI_NAME[args.arch],
        f"deploy with DeployManagedInstances=true (docs/managed-instances.md); the {args.arch} "
        "LMI function may be switched off")
    body = lmi_payload(path, e).read_bytes()
    try:
        json.loads(body)  # a broken file fails here, not at the function
    except ValueError as err:
        raise Failure(f"bench-payloads/{e['payload']} is not JSON: {err}")
    # One attempt each: a retried invocation would run the payload again. botocore clients are
    # thread-safe; one serves every thread.
    runner = client("lambda", read_timeout=INVOKE_READ_TIMEOUT_S, retries={"total_max_attempts": 1},
                    max_pool_connections=max(e["concurrency"]))

    def one(_):
        """One invocation: the function's answer, or the call's failure in the same shape
        (a refused invocation, e.g. every worker busy, is a line too), and the client's time."""
        start = time.monotonic()
        try:
            meta = call("lambda invoke", runner.invoke, FunctionName=function, Payload=body)
            answer = meta["Payload"].read()
            value = json.loads(answer)
        except Failure as err:
            value = {"errorType": "InvokeFailed", "errorMessage": str(err)}
        except ValueError:
            value = {"errorType": "NotJson", "errorMessage": answer[:200].decode("utf-8", "replace")}
        return value, (time.monotonic() - start) * 1000.0

    out_path = OUT / f"lmi-{path.stem}-{args.arch}.jsonl"
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"{function} with bench-payloads/{e['payload']}: {e['about']}")
    print(f"{'at once':>7} {'answers':>7} {'errors':>6} {'processes':>9} {'most in one process':>19} "
          f"{'median wall_ms':>14} {'median client ms':>16}")
    failed = False
    with out_path.open("w") as out:
        for k in e["concurrency"]:
            answers = []
            for _ in range(e["rounds"]):
                # K invocations at once; the next round starts when all K have answered.
                with concurrent.futures.ThreadPoolExecutor(max_workers=k) as pool:
                    answers.extend(pool.map(one, range(k)))
            ok = [a for a, _ in answers if "errorType" not in a]
            failed = failed or len(ok) < len(answers)
            for a, _ in answers:
                out.write(json.dumps(a) + "\n")
            walls = sorted(a["summary"]["wall_ms"] for a in ok)
            client_ms = sorted(ms for _, ms in answers)
            most = max((a["overlap"]["others_max"] + 1 for a in ok), default=0)
            sandboxes = {a["environment"]["sandbox_id"] for a in ok}
            print(f"{k:>7} {len(answers):>7} {len(answers) - len(ok):>6} {len(sandboxes):>9} {most:>19} "
                  f"{fmt(walls[len(walls) // 2]) if walls else '-':>14} {fmt(client_ms[len(client_ms) // 2]):>16}")
    print(f"responses: {rel(out_path)} (one JSON line each; report reads them)")
    return 1 if failed else 0


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


def first_failure(sfn, execution_arn):
    """The error and cause that ended (or aborted) a Power Tuning run, from its history."""
    pages = sfn.get_paginator("get_execution_history").paginate(
        executionArn=execution_arn, reverseOrder=True, PaginationConfig={"MaxItems": 5000})
    events = call("stepfunctions get-execution-history", lambda: [e for p in pages for e in p["events"]])
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


class Run:
    """One Power Tuning execution: its input, where it is saved, and how it ended."""

    def __init__(self, path, arch):
        self.path, self.arch = path, arch
        self.experiment = json.loads(path.read_text())
        if self.experiment.get("lambdaARN") != ARN_PLACEHOLDER:
            raise Failure(f"{rel(path)}: lambdaARN must be the placeholder {ARN_PLACEHOLDER}")
        self.status, self.result, self.execution = None, None, None

    def start(self, sfn, outputs):
        state_machine = output(outputs, OUTPUT_STATE_MACHINE,
                               "deploy with Power Tuning: make deploy PARAMS='DeployPowerTuning=true'")
        self.experiment["lambdaARN"] = output(outputs, OUTPUT_ARN[self.arch],
                                              f"the {self.arch} function is switched off")
        input_path = write_json(OUT / f"tune-{self.path.stem}-{self.arch}-input.json", self.experiment)
        name = f"{self.path.stem}-{self.arch}-{time.strftime('%Y%m%dT%H%M%S')}"[:80]
        started = call("stepfunctions start-execution", sfn.start_execution,
                       stateMachineArn=state_machine, name=name, input=json.dumps(self.experiment))
        self.execution = started["executionArn"]
        print(f"started {self.execution}\ninput: {rel(input_path)}")

    def finish(self, described):
        self.status = described.get("status")
        self.result = json.loads(described.get("output") or "null")
        self.result_path = write_json(OUT / f"tune-{self.path.stem}-{self.arch}.json", self.result)

    def ok(self):
        return self.status == "SUCCEEDED" and bool(find_key(self.result, "visualization"))


def follow(sfn, runs, wait_s, poll_s):
    """Polls every run until it ends, at most `wait_s`; True when all ended."""
    began = time.monotonic()
    pending = list(runs)
    while True:
        for run in list(pending):
            described = call("stepfunctions describe-execution", sfn.describe_execution,
                             executionArn=run.execution)
            if described.get("status") != "RUNNING":
                run.finish(described)
                pending.remove(run)
        elapsed = time.monotonic() - began
        if not pending:
            return elapsed
        if elapsed >= wait_s:
            for run in pending:
                print(f"still RUNNING after {elapsed:.0f} s (WAIT_S={wait_s}); follow it with:\n"
                      f"  aws stepfunctions describe-execution --execution-arn {run.execution}")
            return None
        print(f"  {elapsed:5.0f} s  RUNNING: {', '.join(r.arch for r in pending)}", flush=True)
        time.sleep(min(poll_s, max(wait_s - elapsed, 0.1)))


def recommendation(run):
    r = run.result
    return (f"{r.get('power')} MB, {fmt(r.get('duration'))} ms, ${fmt(r.get('cost'))} per invocation")


def tune(args):
    run = Run(resolve(args.experiment, EXPERIMENTS, "Power Tuning input"), args.arch)
    outputs = stack_outputs()
    sfn = client("stepfunctions")
    run.start(sfn, outputs)
    elapsed = follow(sfn, [run], args.wait_s, args.poll_s)
    if elapsed is None:
        return 3
    if not run.ok():
        print(f"Power Tuning run {run.status}, without results: {first_failure(sfn, run.execution)}")
        return 1
    print(f"finished in {elapsed:.0f} s; output: {rel(run.result_path)}")
    print(f"recommended ({run.experiment.get('strategy', 'cost')}): {recommendation(run)}")
    for row in run.result.get("stats") or []:
        print(f"  {row.get('value'):>6} MB  {fmt(row.get('averageDuration')):>10} ms  "
              f"${fmt(row.get('averagePrice'))}")
    print(f"visualization: {find_key(run.result, 'visualization')}")
    return 0


def side_by_side(runs):
    """Duration and cost per size of every run, one column pair per architecture."""
    by_arch = {}
    for run in runs:
        rows = (run.result.get("stats") or []) if run.ok() else []
        by_arch[run.arch] = {row.get("value"): row for row in rows}
    sizes = sorted({int(m) for rows in by_arch.values() for m in rows})
    head = "     MB | " + " | ".join(f"{a + ' ms':>12} | {a + ' $':>12}" for a in by_arch)
    lines = [head, "-" * len(head)]
    for m in sizes:
        cells = []
        for arch, rows in by_arch.items():
            row = rows.get(m) or rows.get(str(m)) or {}
            cells.append(f"{fmt(row.get('averageDuration', '-')):>12} | {fmt(row.get('averagePrice', '-')):>12}")
        lines.append(f"{m:>7} | " + " | ".join(cells))
    return "\n".join(lines)


def tune_both(args):
    path = resolve(args.experiment, EXPERIMENTS, "Power Tuning input")
    runs = [Run(path, arch) for arch in ARCHES]
    outputs = stack_outputs()
    sfn = client("stepfunctions")
    for run in runs:
        run.start(sfn, outputs)
    # Both at once: each tunes its own function.
    elapsed = follow(sfn, runs, args.wait_s, args.poll_s)
    if elapsed is None:
        return 3
    strategy = runs[0].experiment.get("strategy", "cost")
    print(f"finished in {elapsed:.0f} s; {path.stem}, {runs[0].experiment.get('num')} invocations per size "
          "(duration: Power Tuning's trimmed mean of Duration + Init Duration, ms; "
          "cost: its price of the trimmed mean Billed Duration, $ per invocation)")
    print(side_by_side(runs))
    failed = 0
    for run in runs:
        if run.ok():
            print(f"recommended for {run.arch} ({strategy}): {recommendation(run)}")
            print(f"  visualization: {find_key(run.result, 'visualization')}")
            print(f"  output: {rel(run.result_path)}")
        else:
            failed = 1
            print(f"{run.arch}: Power Tuning run {run.status}, without results: "
                  f"{first_failure(sfn, run.execution)}")
    return failed


# ------------------------------------------------------------------ CloudWatch Logs


def parse_time(text, now):
    """`3h`, `90m`, `2d`, `45s` before `now`, or an ISO 8601 time (UTC unless it says): epoch ms."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text or "")
    if m:
        seconds = float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[m.group(2)]
        return int((now - seconds) * 1000)
    try:
        t = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        raise Failure(f"{text!r}: give a time as 3h / 90m / 2d / 45s ago, or ISO 8601 (2025-12-04T18:00:00Z)")
    if t.tzinfo is None:
        t = t.replace(tzinfo=datetime.timezone.utc)
    return int(t.timestamp() * 1000)


def time_range(args):
    now = time.time()
    start = parse_time(args.since, now)
    end = parse_time(args.until, now) if args.until else int(now * 1000)
    if start >= end:
        raise Failure(f"--since ({args.since}) must come before --until ({args.until or 'now'})")
    return start, end


def log_groups(fn):
    """[(label, log group)] for `fn`: both functions, one architecture, a function name, or a log
    group name (starting with /)."""
    if fn.startswith("/"):
        return [(fn.strip("/").replace("/", "-"), fn)]
    if fn not in ("both", *ARCHES):
        return [(fn, f"/aws/lambda/{fn}")]
    outputs = stack_outputs()
    arches = ARCHES if fn == "both" else (fn,)
    groups = []
    for arch in arches:
        if OUTPUT_LOG_GROUP[arch] in outputs:
            groups.append((arch, outputs[OUTPUT_LOG_GROUP[arch]]))
        elif OUTPUT_NAME[arch] in outputs:
            groups.append((arch, f"/aws/lambda/{outputs[OUTPUT_NAME[arch]]}"))
        elif fn != "both":
            raise Failure(f"the stack {stack_name()!r} has no {arch} function")
    if not groups:
        raise Failure(f"the stack {stack_name()!r} has no function outputs")
    return groups


def is_result_line(message):
    try:
        line = json.loads(message.strip())
    except ValueError:
        return False
    return isinstance(line, dict) and line.get("type") == RESULT_TYPE


def is_report_line(message):
    return message.startswith(REPORT_PREFIX)


def filter_events(logs, group, start_ms, end_ms, pattern, page_size, deadline):
    """Every event of `group` in [start, end] matching `pattern`, pages followed (bounded)."""
    events, token = [], None
    for _ in range(MAX_LOG_PAGES):
        params = {"logGroupName": group, "startTime": start_ms, "endTime": end_ms,
                  "filterPattern": pattern}
        if page_size:
            params["limit"] = page_size
        if token:
            params["nextToken"] = token
        page = call(f"logs filter-log-events ({group})", logs.filter_log_events, **params)
        events.extend(page.get("events", []))
        token = page.get("nextToken")
        if not token:
            return events
        if time.monotonic() > deadline:
            raise Failure(f"{group}: still paging after {MAX_FETCH_S} s; narrow SINCE/UNTIL")
    raise Failure(f"{group}: more than {MAX_LOG_PAGES} pages; narrow SINCE/UNTIL")


def fetch_logs(args):
    start_ms, end_ms = time_range(args)
    groups = log_groups(args.fn)
    logs = client("logs")
    deadline = time.monotonic() + MAX_FETCH_S
    span = (f"{datetime.datetime.fromtimestamp(start_ms / 1000, datetime.timezone.utc):%Y-%m-%dT%H:%M:%SZ}"
            f" .. {datetime.datetime.fromtimestamp(end_ms / 1000, datetime.timezone.utc):%Y-%m-%dT%H:%M:%SZ}")
    for label, group in groups:
        seen = {}
        for pattern in LOG_FILTERS:
            for e in filter_events(logs, group, start_ms, end_ms, pattern, args.page_size, deadline):
                seen.setdefault(e.get("eventId") or (e.get("logStreamName"), e["timestamp"], e["message"]), e)
        # The filter patterns find the lines; their shape decides (a phrase can appear elsewhere).
        kept = sorted((e for e in seen.values() if is_result_line(e["message"]) or is_report_line(e["message"])),
                      key=lambda e: (e["timestamp"], e.get("eventId", "")))
        fields = ("logStreamName", "timestamp", "message", "ingestionTime", "eventId")
        # The group, and for the stack's functions their architecture: a REPORT line says
        # neither, and `make report` needs the architecture.
        doc = {"logGroupName": group}
        if label in ARCHES:
            doc["architecture"] = label
        doc["events"] = [{k: e[k] for k in fields if k in e} for e in kept]
        path = write_json(OUT / f"logs-{label}.json", doc)
        results = sum(1 for e in kept if is_result_line(e["message"]))
        print(f"{group} ({span}): {results} full-result lines, {len(kept) - results} REPORT lines "
              f"-> {rel(path)}")
    print("read them with: make report IN=\"out/logs-*.json\"")
    return 0


def insights(args):
    path = resolve(args.query, QUERIES, "query", ext=".insights")
    query = path.read_text()
    start_ms, end_ms = time_range(args)
    groups = [g for _, g in log_groups(args.fn)]
    logs = client("logs")
    started = call("logs start-query", logs.start_query, logGroupNames=groups,
                   startTime=start_ms // 1000, endTime=end_ms // 1000, queryString=query,
                   limit=INSIGHTS_MAX_ROWS)
    query_id = started["queryId"]
    print(f"query {path.stem} on {', '.join(groups)}: {query_id}")
    began = time.monotonic()
    while True:
        answer = call("logs get-query-results", logs.get_query_results, queryId=query_id)
        status = answer.get("status")
        if status in INSIGHTS_DONE:
            break
        if time.monotonic() - began >= args.wait_s:
            try:
                call("logs stop-query", logs.stop_query, queryId=query_id)
            except Failure as e:
                print(f"could not stop it: {e}", file=sys.stderr)
            raise Failure(f"query {query_id} still {status} after {args.wait_s} s; stopped it")
        time.sleep(args.poll_s)
    answer.pop("ResponseMetadata", None)
    if status != "Complete":
        raise Failure(f"query {query_id} ended {status}")
    out = write_json(OUT / f"insights-{path.stem}.json", answer)
    rows = answer.get("results", [])
    columns = [f["field"] for f in rows[0] if f["field"] != "@ptr"] if rows else []
    print("\t".join(columns))
    for row in rows[:50]:
        cells = {f["field"]: f.get("value", "") for f in row}
        print("\t".join(cells.get(c, "")[:60] for c in columns))
    more = " (first 50 shown)" if len(rows) > 50 else ""
    print(f"{len(rows)} rows{more} -> {rel(out)}")
    return 0


# ------------------------------------------------------------------ main


def main(argv):
    parser = argparse.ArgumentParser(prog="scripts/aws.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("invoke", help="invoke a function with a bench payload")
    p.add_argument("payload")
    p.add_argument("--arch", choices=ARCHES, default="arm64")
    p.add_argument("--memory", type=int, help="set the function's memory (MB) first")
    p.add_argument("--function", help="a function name instead of the stack's output")
    p = sub.add_parser("lmi", help="send an LMI experiment's payload K at a time (bench-payloads/lmi)")
    p.add_argument("experiment")
    p.add_argument("--arch", choices=ARCHES, default="arm64")
    p.add_argument("--function", help="a function name instead of the stack's LMI output")
    for name, help_text in (("tune", "run Power Tuning with an input from bench-payloads/power-tuning"),
                            ("tune-both", "run Power Tuning on both architectures, side by side")):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("experiment")
        if name == "tune":
            p.add_argument("--arch", choices=ARCHES, default="arm64")
        p.add_argument("--wait-s", type=float, default=3600, help="stop waiting after this long")
        p.add_argument("--poll-s", type=float, default=15, help="seconds between status checks")
    sub.add_parser("outputs", help="print the stack's outputs")
    for name, help_text in (("fetch-logs", "save the result lines and REPORT lines of a time range"),
                            ("insights", "run a Logs Insights query from queries/")):
        p = sub.add_parser(name, help=help_text)
        if name == "insights":
            p.add_argument("query")
            p.add_argument("--wait-s", type=float, default=600, help="stop the query after this long")
            p.add_argument("--poll-s", type=float, default=2, help="seconds between status checks")
        else:
            p.add_argument("--page-size", type=int, help="events per page (default: the service's)")
        p.add_argument("--fn", default="both",
                       help="both, arm64, x86_64, a function name or a log group (/aws/lambda/...)")
        p.add_argument("--since", default="3h", help="3h, 90m, 2d ago, or ISO 8601")
        p.add_argument("--until", help="the end of the range (default now)")
    args = parser.parse_args(argv)
    commands = {"invoke": invoke, "lmi": lmi, "tune": tune, "tune-both": tune_both, "fetch-logs": fetch_logs,
                "insights": insights}
    try:
        if args.command in commands:
            return commands[args.command](args)
        for k, v in sorted(stack_outputs().items()):
            print(f"{k:28} {v}")
        return 0
    except Failure as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
