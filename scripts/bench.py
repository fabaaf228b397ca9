#!/usr/bin/env python3
"""PBKDF2 benchmark: the probe against OpenSSL, measured in the same run on this machine.

Single-thread throughput (iterations/s) of the probe's pbkdf2 workload against OpenSSL's
PKCS5_PBKDF2_HMAC (through Python's hashlib, timed in-process, and the `openssl kdf` CLI) for the
same hash, iterations and passwords; then the probe's multi-thread speedup on the visible cores.
Each figure is the median of --repeats runs. Targets are printed beside the figures.
"""
import argparse
import hashlib
import json
import os
import shutil
import ssl
import statistics
import subprocess
import sys
import time

SALT = b"lambda-probe"  # the probe's salt (src/workloads/pbkdf2.rs)
TARGETS = {"sha256": 1.8, "sha512": 1.3}  # single-thread throughput vs OpenSSL
SPEEDUP_TARGET = 1.90  # on 2 cores


def probe(binary, payload):
    out = subprocess.run([binary, "run", "-"], input=json.dumps(payload), capture_output=True, text=True, check=False)
    if out.returncode != 0:
        sys.exit(f"probe failed: {out.stdout}{out.stderr}")
    return json.loads(out.stdout)


def probe_rate(binary, hash_name, iterations, passwords):
    r = probe(binary, {"workload": "pbkdf2", "hash": hash_name, "iterations": iterations,
                       "passwords": passwords, "threads": [1]})
    return r["summary"]["levels"][0]["iterations_per_s"], r["summary"]["first_key"]["hex"]


def hashlib_rate(hash_name, iterations, passwords):
    start = time.perf_counter()
    first = None
    for i in range(passwords):
        key = hashlib.pbkdf2_hmac(hash_name, f"password-{i}".encode(), SALT, iterations)
        first = first or key.hex()
    return passwords * iterations / (time.perf_counter() - start), first


def openssl_rate(hash_name, iterations):
    if not shutil.which("openssl"):
        return None
    keylen = 32 if hash_name == "sha256" else 64
    cmd = ["openssl", "kdf", "-keylen", str(keylen), "-kdfopt", f"digest:{hash_name.upper()}",
           "-kdfopt", "pass:password-0", "-kdfopt", "salt:lambda-probe", "-kdfopt", f"iter:{iterations}", "PBKDF2"]
    start = time.perf_counter()
    subprocess.run(cmd, capture_output=True, check=True)
    return iterations / (time.perf_counter() - start)


def median_of(n, f):
    runs = [f() for _ in range(n)]
    return statistics.median(r[0] if isinstance(r, tuple) else r for r in runs), runs[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--probe", required=True, help="the lambda-probe binary (release build)")
    ap.add_argument("--iterations", type=int, default=1_000_000)
    ap.add_argument("--passwords", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()

    cores = len(os.sched_getaffinity(0))
    print(f"PBKDF2 benchmark: {a.passwords} passwords x {a.iterations:,} iterations, median of {a.repeats} runs, "
          f"{cores} cores; reference {ssl.OPENSSL_VERSION}")
    failed = []
    for h in ("sha256", "sha512"):
        p_rate, (_, p_key) = median_of(a.repeats, lambda: probe_rate(a.probe, h, a.iterations, a.passwords))
        r_rate, (_, r_key) = median_of(a.repeats, lambda: hashlib_rate(h, a.iterations, a.passwords))
        if p_key != r_key:
            failed.append(f"{h}: the probe's key differs from OpenSSL's")
        cli = statistics.median(openssl_rate(h, a.iterations) or 0 for _ in range(a.repeats))
        ratio = p_rate / r_rate
        ok = ratio >= TARGETS[h]
        if not ok:
            failed.append(f"{h} single-thread ratio {ratio:.2f} < {TARGETS[h]}")
        cli_txt = f", openssl kdf CLI {cli:,.0f} it/s (x{p_rate / cli:.2f})" if cli else ""
        print(f"  {h} single thread: probe {p_rate:,.0f} it/s, OpenSSL (hashlib) {r_rate:,.0f} it/s "
              f"-> x{ratio:.2f} (target >= x{TARGETS[h]}) {'OK' if ok else 'BELOW TARGET'}{cli_txt}")

    speedups = []
    for _ in range(a.repeats):
        r = probe(a.probe, {"workload": "pbkdf2", "hash": "sha512", "iterations": a.iterations,
                            "passwords": a.passwords, "threads": [1, cores]})
        speedups.append(r["summary"]["levels"][1]["speedup"])
        vcpu = r["summary"]["levels"][1]["effective_vcpu"]
    s = statistics.median(speedups)
    ok = cores < 2 or s >= SPEEDUP_TARGET
    if not ok:
        failed.append(f"speedup {s:.2f} < {SPEEDUP_TARGET}")
    print(f"  sha512 multi-thread: {cores} threads vs 1 -> speedup x{s:.2f} (runs {speedups}), "
          f"effective vCPU {vcpu} (target >= x{SPEEDUP_TARGET} on 2 cores) {'OK' if ok else 'BELOW TARGET'}")
    if failed:
        print("pbkdf2 bench: below target: " + "; ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
