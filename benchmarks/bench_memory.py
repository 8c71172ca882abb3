"""Peak memory and wall time of one operator run over 10k, 100k and 1M staged events, against the emulator.

    .venv/bin/python benchmarks/bench_memory.py                                  # 10k, 100k, 1M
    .venv/bin/python benchmarks/bench_memory.py --sizes 10000,100000,1000000 --json docs/benchmarks/memory.json

For each size a gzipped JSON Lines file of synthetic staged events is written first (not measured): 0.8 N distinct
e-mails, 1 % bad lines, 5 % not enabled for Salesforce, 4 % track events. Then a fresh Python process runs
``IdentifyToSalesforceOperator(...).execute(context={})`` on it (default ``memory_limit``: the engine spills to
hash partitions past 50,000 eligible events) and reports its own peak RSS (``VmHWM`` from /proc/self/status and
``ru_maxrss``) at the end. The emulator runs in its own process and is not counted; it is reset between sizes.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rudder_sf_emulator.synthetic import SyntheticSpec, generate_lines

CUSTOM_FIELDS = {
    "plan__c": {"type": "string", "length": 40},
    "newsletter__c": {"type": "boolean"},
    "logins__c": {"type": "double"},
}


def _status_kb(name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    return -1


def child(events: str, dead_letter: str) -> None:
    """Runs in its own process: one operator run, then the figures as one JSON line on stdout."""
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("airflow").setLevel(logging.WARNING)
    from airflow_provider_rudder_sf.operators.identify import IdentifyToSalesforceOperator

    operator = IdentifyToSalesforceOperator(
        task_id="bench_memory", events=events, dead_letter=dead_letter, max_dead_letter_ratio=0.05
    )
    rss_before = _status_kb("VmRSS")
    started = time.perf_counter()
    summary = operator.execute(context={})
    wall = time.perf_counter() - started
    figures = {
        "wall_s": round(wall, 2),
        "rss_after_imports_mb": round(rss_before / 1024, 1),
        "peak_rss_mb": round(_status_kb("VmHWM") / 1024, 1),
        "ru_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "summary": {k: summary[k] for k in ("read", "ignored", "rejected", "applied", "dead_lettered", "unsent")}
        | {k: summary[k] for k in ("created", "updated", "failed", "api_calls")},
    }
    print("RESULT " + json.dumps(figures), flush=True)


def write_events(path: Path, n: int) -> None:
    spec = SyntheticSpec(events=n, distinct_emails=max(1, int(n * 0.8)), seed=3)
    with gzip.open(path, "wt", compresslevel=1) as out:
        for line in generate_lines(spec):
            out.write(line)
            out.write("\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--json", help="write the raw figures to this JSON file")
    parser.add_argument("--child", nargs=2, metavar=("EVENTS", "DEAD_LETTER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return

    from rudder_sf_emulator import start_emulator

    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, start_emulator(Path(tmp) / "emu", daily_limit=100_000_000) as emu:
        env = dict(os.environ, AIRFLOW_CONN_RUDDER_SALESFORCE_DEFAULT=emu.connection_json())
        for n in [int(s) for s in args.sizes.split(",")]:
            emu.reset(schema=True)
            for sobject in ("Lead", "Contact"):
                emu.declare_fields(sobject, CUSTOM_FIELDS)
            path = Path(tmp) / f"events-{n}.jsonl.gz"
            started = time.perf_counter()
            write_events(path, n)
            print(
                f"\n== {n:,} events: generated {path.stat().st_size / 1e6:.1f} MB gz "
                f"in {time.perf_counter() - started:.1f} s (not measured)"
            )
            started = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, __file__, "--child", str(path), str(Path(tmp) / f"dead-{n}")],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            process_wall = time.perf_counter() - started
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if proc.returncode != 0 or line is None:
                print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n")
                raise SystemExit(f"child for {n} events failed with exit code {proc.returncode}")
            row = {"events": n, "process_wall_s": round(process_wall, 2), **json.loads(line[len("RESULT ") :])}
            row["emulator_api_calls"] = emu.counters()["api_calls"]
            results.append(row)
            print(
                f"execute {row['wall_s']:.1f} s ({n / row['wall_s']:,.0f} events/s), process {process_wall:.1f} s; "
                f"peak RSS {row['peak_rss_mb']:.0f} MB (after imports {row['rss_after_imports_mb']:.0f} MB, "
                f"ru_maxrss {row['ru_maxrss_mb']:.0f} MB); API calls {row['emulator_api_calls']:,}"
            )
            print(f"summary {row['summary']}")
            path.unlink()

    for previous, current in itertools.pairwise(results):
        print(
            f"{previous['events']:,} -> {current['events']:,} events (x{current['events'] / previous['events']:.0f}): "
            f"time x{current['wall_s'] / previous['wall_s']:.1f}, "
            f"peak RSS x{current['peak_rss_mb'] / previous['peak_rss_mb']:.2f}"
        )
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "benchmark": "benchmarks/bench_memory.py",
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "note": "One fresh process per size; the emulator runs in another process and is not counted. "
            "Wall times on a shared 2-core machine (the emulator competes for the same cores).",
        }
        out.write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
