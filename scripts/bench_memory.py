#!/usr/bin/env python3
"""Memory benchmarks for `make bench`, each against a reference measured in the same run.

  1. First touch: the probe's `alloc` mmap mode (µs per MiB, allocate + paint) against a plain
     mmap + memset + munmap loop in C (scripts/bench_memory_ref.c). Target: probe ≤ 1.10 × it.
  2. memset on touched memory: the probe's `memset` GB/s against libc memset in C on a buffer of
     the same size. Target: probe ≥ 0.95 × it.

Probe and reference run in alternating rounds, so a noisy neighbour slows both alike; each
side's figure is the median over rounds of its per-round median. A closing note gives pass-1 /
pass-2 µs per MiB and new pages per MiB for every alloc mode. Exits 1 when a target is missed.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MIB = 1 << 20

FIRST_TOUCH_MAX_RATIO = 1.10
MEMSET_MIN_RATIO = 0.95


def build_reference(out_dir):
    src = os.path.join(HERE, "bench_memory_ref.c")
    exe = os.path.join(out_dir, "bench_memory_ref")
    if not os.path.exists(exe) or os.path.getmtime(exe) < os.path.getmtime(src):
        cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
        if not cc:
            sys.exit("bench_memory: no C compiler (cc) found; run scripts/setup.sh")
        os.makedirs(out_dir, exist_ok=True)
        subprocess.run([cc, "-O2", "-o", exe, src], check=True)
    return exe


def probe(binary, payload):
    out = subprocess.run(
        [binary, "run", "-"],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        r = json.loads(out.stdout)
    except json.JSONDecodeError:
        sys.exit(f"bench_memory: probe printed no JSON for {payload}: {out.stdout}{out.stderr}")
    if out.returncode != 0 or "errorType" in r:
        sys.exit(f"bench_memory: probe failed on {payload}: {r}")
    return r


def reference(exe, *args):
    out = subprocess.run([exe, *map(str, args)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def median_of_rows(values):
    return statistics.median(values) if values else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--probe", required=True, help="the release binary (target/release/lambda-probe)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--buffers", type=int, default=100)
    ap.add_argument("--buffer-bytes", type=int, default=MIB)
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--memset-bytes", type=int, default=64 * MIB)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    ref = build_reference(os.path.join(ROOT, "target", "bench"))

    touch_probe, touch_ref, set_probe, set_ref = [], [], [], []
    for _ in range(args.rounds):
        r = probe(
            args.probe,
            {
                "workload": "alloc",
                "mode": "mmap",
                "buffers": args.buffers,
                "buffer_bytes": args.buffer_bytes,
                "passes": args.passes,
            },
        )
        mib = args.buffer_bytes / MIB
        touch_probe.append(
            median_of_rows([(s["alloc_us"] + s["paint_us"]) / mib for s in r["samples"]])
        )
        touch_ref.append(
            reference(ref, "first-touch", args.buffers, args.buffer_bytes, args.passes)[
                "us_per_mib_median"
            ]
        )
        r = probe(
            args.probe,
            {"workload": "memset", "bytes": args.memset_bytes, "repeats": args.repeats},
        )
        set_probe.append(r["summary"]["gb_per_s_median"])
        set_ref.append(reference(ref, "memset", args.memset_bytes, args.repeats)["gb_per_s_median"])

    touch = (statistics.median(touch_probe), statistics.median(touch_ref))
    bw = (statistics.median(set_probe), statistics.median(set_ref))
    touch_ratio = touch[0] / touch[1]
    bw_ratio = bw[0] / bw[1]
    touch_ok = touch_ratio <= FIRST_TOUCH_MAX_RATIO
    bw_ok = bw_ratio >= MEMSET_MIN_RATIO

    print(f"memory benchmarks ({args.rounds} alternating rounds; medians of per-round medians)")
    print(
        f"  first touch, {args.buffers} × {args.buffer_bytes} B × {args.passes} passes: "
        f"probe alloc/mmap {touch[0]:.1f} µs/MiB, plain mmap+memset {touch[1]:.1f} µs/MiB, "
        f"ratio {touch_ratio:.3f} (target ≤ {FIRST_TOUCH_MAX_RATIO:.2f}) "
        f"{'OK' if touch_ok else 'MISSED'}"
    )
    print(
        f"  memset on touched memory, {args.memset_bytes} B × {args.repeats}: "
        f"probe {bw[0]:.2f} GB/s, libc memset {bw[1]:.2f} GB/s, "
        f"ratio {bw_ratio:.3f} (target ≥ {MEMSET_MIN_RATIO:.2f}) {'OK' if bw_ok else 'MISSED'}"
    )
    def fmt(xs):
        return "[" + ", ".join(f"{x:.1f}" for x in xs) + "]"

    print(f"    per round, µs/MiB: probe {fmt(touch_probe)}, reference {fmt(touch_ref)}")
    print(f"    per round, GB/s:   probe {fmt(set_probe)}, reference {fmt(set_ref)}")

    print("  alloc passes (100 × 1 MiB, as in 2020): µs per MiB median / new pages per MiB / never-touched 4 KiB pages per MiB")
    for mode in ("reuse", "fresh", "mmap"):
        r = probe(args.probe, {"workload": "alloc", "mode": mode, "buffers": 100, "passes": 2})
        cells = [
            f"pass {p['pass']}: {p['us_per_mib_median']} µs, {p['new_pages_per_mib']} new, "
            f"{p['never_touched_pages_per_mib']} never touched"
            for p in r["summary"]["passes"]
        ]
        print(f"    {mode:5}  " + "  |  ".join(cells))
    j = r["summary"]["jemalloc"]
    print(
        f"  jemalloc {j['version']}: malloc_conf {j['malloc_conf']!r}, THP "
        f"{r['environment'].get('thp_mode')}, page {r['environment']['page_size_bytes']} B"
    )
    return 0 if touch_ok and bw_ok else 1


if __name__ == "__main__":
    sys.exit(main())
