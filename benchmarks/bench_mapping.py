"""Mapping-core throughput: parse + validate + map + fold + plan, on one core, in events per second.

    .venv/bin/python benchmarks/bench_mapping.py [--events 200000]

Events are synthetic staged JSON lines (realistic traits, about 20% repeats per e-mail, 1% bad lines, some
events not for Salesforce). Half of the e-mails are given as existing Leads so the plan has both creates and
updates. Generation is not timed.
"""

from __future__ import annotations

import argparse
import gc
import time

import msgspec

from airflow_provider_rudder_sf.mapping import IdentifyEvent, LeadMatch, MappingOptions, build_plan, classify
from rudder_sf_emulator.synthetic import SyntheticSpec, email_for, generate_lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    distinct = int(args.events * 0.8)
    lines = list(generate_lines(SyntheticSpec(events=args.events, distinct_emails=distinct)))
    matches = {email_for(i): (LeadMatch(f"00Q{i:012d}AAA", False, None),) for i in range(0, distinct, 2)}
    options = MappingOptions()
    decode = msgspec.json.Decoder().decode  # what the sync engine uses

    best = best_cpu = float("inf")
    phases = (0.0, 0.0)  # CPU seconds of the best run: classify, then build_plan
    for _ in range(args.repeats):
        gc.collect()
        gc.disable()  # as the sync engine runs these phases (see sync/engine.py: _gc_paused)
        started, started_cpu = time.perf_counter(), time.process_time()
        eligible = []
        for seq, line in enumerate(lines):
            outcome = classify(line, seq, options, decode)
            if isinstance(outcome, IdentifyEvent):
                eligible.append(outcome)
        classified_cpu = time.process_time()
        plan = build_plan(eligible, matches, options)
        best = min(best, time.perf_counter() - started)
        cpu = time.process_time() - started_cpu
        if cpu < best_cpu:
            best_cpu, phases = cpu, (classified_cpu - started_cpu, cpu - (classified_cpu - started_cpu))
        gc.enable()

    creates = sum(1 for w in plan.writes if w.operation == "create")
    print(f"events:            {args.events:,}")
    print(f"eligible:          {len(eligible):,}")
    print(f"writes planned:    {len(plan.writes):,} ({creates:,} creates, {len(plan.writes) - creates:,} updates)")
    print(f"rejected at plan:  {len(plan.rejected):,}")
    print(f"best of {args.repeats} runs:   {best:.3f} s wall, {best_cpu:.3f} s CPU")
    print(f"  of which:        {phases[0]:.3f} s classify (parse, validate), {phases[1]:.3f} s build_plan (map, fold)")
    print(f"throughput:        {args.events / best_cpu:,.0f} events per CPU-second on one core")
    print(f"                   ({args.events / best:,.0f} events/s wall; lower when other work shares the core)")


if __name__ == "__main__":
    main()
