"""Draw API calls and wall time against event count for the operator and the per-event loop (PNG, Agg backend).

    .venv/bin/python benchmarks/bench_chart.py [--data docs/benchmarks/api_calls.json ...] \\
        [--out docs/benchmarks/api_calls.png]

Reads the JSON written by ``bench_api_calls.py --json`` (several files are merged, later ones win per size and
approach). Where the per-event loop was not measured at a size, its point is extrapolated linearly from the
largest measured size (2 requests per event; time per event as measured) and drawn dashed, labelled
"extrapolated"; the chart JSON written next to the PNG says which points are measured.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks"


def load(paths: list[Path]) -> dict[int, dict[str, Any]]:
    rows: dict[int, dict[str, Any]] = {}
    for path in paths:
        for row in json.loads(path.read_text())["results"]:
            merged = rows.setdefault(row["events"], {"events": row["events"]})
            for approach in ("operator", "per_event"):
                if approach in row:
                    merged[approach] = row[approach]
    return dict(sorted(rows.items()))


def series(rows: dict[int, dict[str, Any]], approach: str) -> list[dict[str, Any]]:
    measured = [(n, row[approach]) for n, row in rows.items() if approach in row]
    points = [{"events": n, "api_calls": r["api_calls"], "wall_s": r["wall_s"], "measured": True} for n, r in measured]
    if measured:
        base_n, base = measured[-1]
        for n in rows:
            if n > base_n and approach not in rows[n]:
                points.append(
                    {
                        "events": n,
                        "api_calls": round(base["api_calls"] * n / base_n),
                        "wall_s": round(base["wall_s"] * n / base_n, 1),
                        "measured": False,
                    }
                )
    return sorted(points, key=lambda p: p["events"])


def _fmt(value: float, metric: str) -> str:
    return f"{value:,.0f}" if metric == "api_calls" else f"{value:,.1f} s"


def draw(rows: dict[int, dict[str, Any]], out: Path) -> dict[str, list[dict[str, Any]]]:
    data = {"operator": series(rows, "operator"), "per_event": series(rows, "per_event")}
    styles = {
        "operator": ("IdentifyToSalesforceOperator (batched look-ups, Collections of 200)", "#00A1E0", "o"),
        "per_event": ("per-event loop (1 SOQL + 1 create/update per event)", "#E0601F", "s"),
    }
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    for ax, metric, label in ((axes[0], "api_calls", "Salesforce API calls"), (axes[1], "wall_s", "wall time (s)")):
        for approach, points in data.items():
            name, color, marker = styles[approach]
            measured = [p for p in points if p["measured"]]
            ax.plot(
                [p["events"] for p in measured],
                [p[metric] for p in measured],
                color=color,
                marker=marker,
                label=name,
            )
            for p in measured:
                ax.annotate(
                    _fmt(p[metric], metric), (p["events"], p[metric]), textcoords="offset points", xytext=(4, 6)
                )
            extrapolated = [p for p in points if not p["measured"]]
            if extrapolated and measured:
                line = [measured[-1], *extrapolated]
                ax.plot([p["events"] for p in line], [p[metric] for p in line], color=color, linestyle="--")
                ax.plot(
                    [p["events"] for p in extrapolated],
                    [p[metric] for p in extrapolated],
                    color=color,
                    linestyle="none",
                    marker=marker,
                    markerfacecolor="white",
                    label=f"{approach.replace('_', '-')} loop, extrapolated (dashed, not measured)",
                )
                for p in extrapolated:
                    ax.annotate(
                        f"~{_fmt(p[metric], metric)} (extrapolated)",
                        (p["events"], p[metric]),
                        textcoords="offset points",
                        xytext=(-120, -14),
                    )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("eligible identify events (80 % distinct e-mails, half existing Leads)")
        ax.set_ylabel(label)
        ax.set_title(label + " against event count")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle("Operator vs per-event loop against the local Salesforce emulator (shared 2-core machine)")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", type=Path, default=sorted(DOCS.glob("api_calls*.json")))
    parser.add_argument("--out", type=Path, default=DOCS / "api_calls.png")
    args = parser.parse_args()
    inputs = [p for p in args.data if p.name != args.out.with_suffix(".chart.json").name]
    data = draw(load(inputs), args.out)
    chart_json = args.out.with_suffix(".chart.json")
    chart_json.write_text(json.dumps({"sources": [str(p.name) for p in inputs], "series": data}, indent=2) + "\n")
    for approach, points in data.items():
        for p in points:
            tag = "" if p["measured"] else "  (extrapolated)"
            print(f"{approach:9} {p['events']:>8,} events: {p['api_calls']:>8,} API calls {p['wall_s']:>9.1f} s{tag}")
    print(f"wrote {args.out} and {chart_json}")


if __name__ == "__main__":
    main()
