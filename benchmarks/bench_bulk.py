"""REST against Bulk API 2.0 at 10k, 100k and 1M staged events: API calls, wall time, CPU, peak RSS, worker time.

    .venv/bin/python benchmarks/bench_bulk.py                                   # every size, both modes
    .venv/bin/python benchmarks/bench_bulk.py --sizes 1000000 --modes bulk --json docs/benchmarks/bulk.json
    .venv/bin/python benchmarks/bench_bulk.py --chart docs/benchmarks/bulk.json [more.json ...]   # draws bulk.png
    BENCH_BULK_PROFILE=/tmp/run.prof .venv/bin/python benchmarks/bench_bulk.py --sizes 100000 --modes bulk
        # also writes a cProfile of the run (one size and mode: each run overwrites the file)

The issue's scenario for each size N: N staged events (bench_memory's synthetic mix: 0.8 N distinct e-mails, 1 %
bad lines, 5 % not enabled, 4 % track events) against an org of N Leads, half of the run's e-mails among them.
Each run is a fresh process running ``IdentifyToSalesforceOperator`` (``write_mode`` ``rest`` or ``bulk``) with a
dead-letter location. ``bulk-deferred`` runs the deferrable path as Airflow would: ``execute`` until it defers,
the trigger in an event loop (the triggerer's part), then ``execute_complete``; "worker" is the time spent in the
two worker parts, against the run's wall time. The emulator runs in its own process (not counted) and processes
Bulk rows at ``--bulk-rows-per-second`` (its stand-in for Salesforce's servers); ``--bulk-query-rows-per-second``
paces the look-up export alone, so a run can model slow writes without a slow export:

    .venv/bin/python benchmarks/bench_bulk.py --sizes 100000 --modes bulk-deferred --bulk-rows-per-second 5000 \
        --bulk-query-rows-per-second 100000
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from bench_memory import CUSTOM_FIELDS, _status_kb, write_events

from rudder_sf_emulator.synthetic import email_for

MODES = ("rest", "bulk", "bulk-deferred")


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _time_garbage_collections() -> list[float]:
    """CPU seconds the cyclic garbage collector spends from now on, in a one-item list that grows as it runs."""
    spent = [0.0]
    started = [0.0]

    def timer(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.process_time()
        else:
            spent[0] += time.process_time() - started[0]

    gc.callbacks.append(timer)
    return spent


def child(events: str, dead_letter: str, mode: str, max_dead_letter_ratio: str) -> None:
    logging.basicConfig(level=logging.WARNING)
    # A real task process is forked from its supervisor, so Airflow's task-execution modules are loaded before the
    # task starts; here the first Connection look-up would import them inside the measured window (about 40 ms of
    # Airflow's import time, 4 µs per event at 10k, that is not this provider's CPU).
    import airflow.sdk.execution_time.supervisor
    import airflow.sdk.execution_time.task_runner  # noqa: F401

    from airflow_provider_rudder_sf.compat import TaskDeferred
    from airflow_provider_rudder_sf.operators.identify import IdentifyToSalesforceOperator

    operator = IdentifyToSalesforceOperator(
        task_id="bench_bulk",
        events=events,
        dead_letter=dead_letter,
        max_dead_letter_ratio=float(max_dead_letter_ratio),
        write_mode="rest" if mode == "rest" else "bulk",
        deferrable=mode == "bulk-deferred",
        poll_interval=15.0,  # the operator's default
    )
    ti = SimpleNamespace(dag_id="bench_bulk", run_id="bench", task_id="sync", map_index=-1, try_number=1)
    context: dict[str, Any] = {"ti": ti}
    profile = os.environ.get("BENCH_BULK_PROFILE")
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    gc_cpu = _time_garbage_collections()
    cpu_before, started = _cpu(), time.perf_counter()
    triggerer = 0.0
    try:
        summary = operator.execute(context=context)
        worker = time.perf_counter() - started
    except TaskDeferred as deferred:
        worker = time.perf_counter() - started
        trigger = deferred.trigger
        waited = time.perf_counter()

        async def wait() -> Any:
            async for event in trigger.run():
                return event

        event = asyncio.run(wait())
        triggerer = time.perf_counter() - waited
        resumed = time.perf_counter()
        summary = operator.execute_complete(context, event.payload)
        worker += time.perf_counter() - resumed
    wall = time.perf_counter() - started
    if profile:
        profiler.disable()
        profiler.dump_stats(profile)
    figures = {
        "wall_s": round(wall, 2),
        "worker_s": round(worker, 2),
        "triggerer_s": round(triggerer, 2),
        "worker_share": round(worker / wall, 3),
        "cpu_s": round(_cpu() - cpu_before, 2),
        "gc_cpu_s": round(gc_cpu[0], 2),
        "peak_rss_mb": round(_status_kb("VmHWM") / 1024, 1),
        "summary": {k: summary[k] for k in ("read", "applied", "dead_lettered", "unsent", "created", "updated")}
        | {"api_calls": summary["api_calls"], "write_mode": summary["write_mode"]},
    }
    print("RESULT " + json.dumps(figures), flush=True)


def seed_org(emu: Any, n: int) -> None:
    """N Leads: every other one of the run's 0.8 N e-mails (half of them exist), then others up to N."""
    distinct = max(1, int(n * 0.8))
    batch: list[dict[str, Any]] = []
    existing = [email_for(i) for i in range(0, distinct, 2)]
    fillers = (f"filler{i}@org.example" for i in range(n - len(existing)))
    for email in [*existing, *fillers]:
        batch.append({"LastName": "Seeded", "Company": "Org", "Email": email})
        if len(batch) == 50_000:
            emu.seed("Lead", batch)
            batch = []
    if batch:
        emu.seed("Lead", batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--bulk-rows-per-second", type=float, default=100_000, help="the emulator's Bulk pace")
    parser.add_argument("--profile", default="full", help="the emulator's org profile (full, or minimal: realistic)")
    parser.add_argument(
        "--bulk-query-rows-per-second",
        type=float,
        default=0,
        help="the pace of query jobs (the look-up export) alone; 0: --bulk-rows-per-second",
    )
    parser.add_argument("--json", help="write the raw figures to this JSON file")
    parser.add_argument("--chart", nargs="+", metavar="JSON", help="draw docs/benchmarks/bulk.png from these files")
    parser.add_argument(
        "--max-dead-letter-ratio",
        default="0.05",
        help="the operator's failure policy; the minimal org's duplicate rule refuses about a fifth of the events",
    )
    parser.add_argument("--child", nargs=4, metavar=("EVENTS", "DEAD_LETTER", "MODE", "RATIO"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    if args.chart:
        chart([Path(p) for p in args.chart])
        return

    from rudder_sf_emulator import start_emulator

    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, start_emulator(Path(tmp) / "emu", daily_limit=100_000_000) as emu:
        env = dict(os.environ, AIRFLOW_CONN_RUDDER_SALESFORCE_DEFAULT=emu.connection_json())
        for n in [int(s) for s in args.sizes.split(",")]:
            path = Path(tmp) / f"events-{n}.jsonl.gz"
            write_events(path, n)
            for mode in args.modes.split(","):
                emu.reset(schema=True, profile=args.profile)
                for sobject in ("Lead", "Contact"):
                    emu.declare_fields(sobject, CUSTOM_FIELDS)
                emu.set_faults(
                    bulk_rows_per_second=args.bulk_rows_per_second,
                    bulk_query_rows_per_second=args.bulk_query_rows_per_second,
                )
                started = time.perf_counter()
                seed_org(emu, n)
                print(f"\n== {n:,} events, {mode}: org of {n:,} Leads seeded in {time.perf_counter() - started:.0f} s")
                proc = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--child",
                        str(path),
                        str(Path(tmp) / f"dead-{n}-{mode}"),
                        mode,
                        args.max_dead_letter_ratio,
                    ],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
                if proc.returncode != 0 or line is None:
                    print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n")
                    raise SystemExit(f"{mode} at {n} events failed with exit code {proc.returncode}")
                row = {"events": n, "mode": mode, **json.loads(line.removeprefix("RESULT "))}
                row["emulator_api_calls"] = emu.counters()["api_calls"]
                results.append(row)
                print(
                    f"API calls {row['emulator_api_calls']:,}; wall {row['wall_s']:.1f} s, worker {row['worker_s']:.1f}"
                    f" s ({row['worker_share']:.0%}); CPU {row['cpu_s']:.1f} s ({row['cpu_s'] / n * 1e6:.0f} µs/event,"
                    f" {row['gc_cpu_s']:.1f} s of it garbage collection); peak RSS {row['peak_rss_mb']:.0f} MB"
                    f"\nsummary {row['summary']}"
                )
            path.unlink()
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "benchmark": "benchmarks/bench_bulk.py",
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "cpus": os.cpu_count(),
            "profile": args.profile,
            "bulk_rows_per_second": args.bulk_rows_per_second,
            "bulk_query_rows_per_second": args.bulk_query_rows_per_second or args.bulk_rows_per_second,
            "note": "One fresh process per run; the emulator runs in another process and is not counted.",
        }
        out.write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
        print(f"wrote {out}")


def chart(paths: list[Path]) -> None:
    """API calls and wall time against event count, REST against Bulk (later files win per size and mode); the
    deferred runs add the time the worker slot was held."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows: dict[tuple[int, str], dict[str, Any]] = {}
    for path in paths:
        for row in json.loads(path.read_text())["results"]:
            rows[(row["events"], row["mode"])] = row
    figure, (calls, wall) = plt.subplots(1, 2, figsize=(11, 4.2))
    for mode, style in (("rest", "o-"), ("bulk", "s-"), ("bulk-deferred", "^--")):
        points = sorted((n, r) for (n, m), r in rows.items() if m == mode)
        if not points:
            continue
        sizes = [n for n, _ in points]
        calls.plot(sizes, [r["emulator_api_calls"] for _, r in points], style, label=mode)
        wall.plot(sizes, [r["wall_s"] for _, r in points], style, label=f"{mode}: wall")
        if mode == "bulk-deferred":
            wall.plot(sizes, [r["worker_s"] for _, r in points], "^:", label="bulk-deferred: worker slot held")
    for axis, title in ((calls, "Salesforce API calls"), (wall, "seconds")):
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("staged events")
        axis.set_title(title)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle("REST Collections against Bulk API 2.0 (emulator, org of N Leads, 0.8 N e-mails)", fontsize=10)
    figure.tight_layout()
    out = DOCS / "bulk.png"
    figure.savefig(out, dpi=110)
    print(f"wrote {out}")


DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks"

if __name__ == "__main__":
    main()
