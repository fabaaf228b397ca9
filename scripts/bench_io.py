#!/usr/bin/env python3
"""io benchmark: the probe's client-side CPU per PutItem against boto3's, same items, same local
endpoint, same run; and the probe's sequential against concurrent wall time.

Starts moto_server on a free 127.0.0.1 port, creates the table, then alternates rounds of
  - the probe (`lambda-probe run`, concurrency [1, 1]: the first level warms the connection and
    the client, the second is measured): process CPU of the level ÷ calls;
  - boto3 in this process, after one warm-up call: process CPU (time.process_time) around the
    same number of put_item calls with the same attributes ÷ calls.
Neither side counts moto's CPU (another process). Medians over the rounds are compared with the
target: the probe at most 0.25 x boto3's CPU per call. Exit status 1 when the target is missed.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time

from local_dynamodb import LocalDynamoDB

TARGET_RATIO = 0.25


def run_probe(probe, env, payload):
    out = subprocess.run(
        [probe, "run", "-", "--timeout-ms", "600000"],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    if out.returncode != 0:
        sys.exit(f"bench_io: the probe failed: {out.stdout}{out.stderr}")
    r = json.loads(out.stdout)
    if r["summary"]["errors"]:
        sys.exit(f"bench_io: the probe saw errors: {r['summary']['levels']}")
    return r


def boto3_cpu_us_per_call(client, table, items, item_bytes, round_no):
    """Writes `items` items like the probe's (same attributes and sizes); CPU µs per call."""
    payload = bytes(ord("a") + i % 26 for i in range(item_bytes))
    expires_at = str(int(time.time()) + 86_400)

    def put(key, i):
        client.put_item(
            TableName=table,
            Item={
                "pk": {"S": key},
                "expires_at": {"N": expires_at},
                "payload": {"B": payload},
                "concurrency": {"N": "1"},
                "item": {"N": str(i)},
            },
        )

    put(f"boto3/{round_no}/warm-up", 0)  # the model load and the connection, not counted
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i in range(items):
        put(f"boto3/{round_no}/{i}", i)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return cpu * 1e6 / items, wall * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--probe", default="target/release/lambda-probe")
    ap.add_argument("--items", type=int, default=300, help="calls per measured level")
    ap.add_argument("--item-bytes", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--concurrency", type=int, default=10, help="the concurrent level")
    args = ap.parse_args()

    with LocalDynamoDB() as db:
        client = db.client()
        probe_cpu, boto_cpu, probe_wall, boto_wall = [], [], [], []
        for n in range(args.rounds):
            r = run_probe(
                args.probe,
                db.env,
                {"workload": "io", "items": args.items, "concurrency": [1, 1],
                 "item_bytes": args.item_bytes},
            )
            measured = r["summary"]["levels"][1]
            probe_cpu.append(measured["cpu_us_per_call"])
            probe_wall.append(measured["wall_ms"])
            cpu, wall = boto3_cpu_us_per_call(client, db.table, args.items, args.item_bytes, n)
            boto_cpu.append(cpu)
            boto_wall.append(wall)

        seq_conc = run_probe(
            args.probe,
            db.env,
            {"workload": "io", "items": args.items, "concurrency": [1, args.concurrency],
             "item_bytes": args.item_bytes},
        )

    p, b = statistics.median(probe_cpu), statistics.median(boto_cpu)
    ratio = p / b
    print(f"io: client CPU per PutItem, {args.items} items x {args.rounds} rounds, "
          f"item_bytes {args.item_bytes}, local moto endpoint (medians)")
    print(f"  probe (aws-sdk-dynamodb) {p:8.1f} us/call   rounds: "
          + ", ".join(f"{x:.1f}" for x in probe_cpu))
    print(f"  boto3                    {b:8.1f} us/call   rounds: "
          + ", ".join(f"{x:.1f}" for x in boto_cpu))
    verdict = "PASS" if ratio <= TARGET_RATIO else "FAIL"
    print(f"  ratio probe/boto3        {ratio:8.3f}   (target <= {TARGET_RATIO}) {verdict}")
    print(f"  sequential wall: probe {statistics.median(probe_wall):.1f} ms, "
          f"boto3 {statistics.median(boto_wall):.1f} ms for {args.items} items")
    lv = seq_conc["summary"]["levels"]
    print(f"io: sequential vs concurrent wall time, {args.items} items")
    for level in lv:
        print(f"  concurrency {level['concurrency']:>2}: {level['wall_ms']:9.1f} ms wall, "
              f"{level['cpu_ms']:8.1f} ms cpu, p50 {level['latency_p50_us']} us, "
              f"p99 {level['latency_p99_us']} us, {level['items_per_s']} items/s, "
              f"max in flight {level['max_in_flight']}, speedup {level['speedup']}")
    sys.exit(0 if ratio <= TARGET_RATIO else 1)


if __name__ == "__main__":
    main()
