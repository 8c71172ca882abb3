"""The run summary: what the task log ends with, what XCom and the Asset event carry."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field, fields
from typing import Any

# The additive counts of a run: what the shards of one run sum to.
COUNTS = (
    "read",
    "ignored",
    "rejected",
    "applied",
    "partial",
    "dead_lettered",
    "unsent",
    "created",
    "updated",
    "failed",
    "api_calls",
)
# What an Asset event carries: the outcome in numbers, small whatever the run size.
ASSET_EXTRA = ("read", "created", "updated", "failed", "dead_lettered", "partial", "fields_skipped", "api_calls")
# Kept for the log or for a continued run only: the message may be long, the schema tables are in schema_report.
_NOT_IN_XCOM = frozenset({"stop_message", "schema_issues", "coercions"})


@dataclass
class SyncSummary:
    """Event counts add up: ``read == applied + ignored + dead_lettered + unsent``.

    ``created``/``updated``/``failed`` count Salesforce records (several events fold into one record);
    ``rejected`` counts events refused as bad input, ``dead_lettered`` every event sent to the dead letter
    (rejected, or part of a record Salesforce refused). ``unsent`` events were left for the retry after a stop, or,
    in a dry run, are those a real run would write.
    """

    dry_run: bool = False
    read: int = 0
    ignored: int = 0
    rejected: int = 0
    applied: int = 0
    partial: int = 0
    dead_lettered: int = 0
    unsent: int = 0
    created: int = 0
    updated: int = 0
    failed: int = 0
    api_calls: int = 0
    describe_calls: int = 0
    write_mode: str = "rest"
    api_calls_left: int | None = None
    api_daily_limit: int | None = None
    planned_creates: int = 0
    planned_updates: int = 0
    planned_write_calls: int = 0
    stop_reason: str | None = None
    stop_message: str | None = None
    dead_letter_location: str | None = None
    ignored_by_reason: Counter[str] = field(default_factory=Counter)
    dead_letters_by_code: Counter[str] = field(default_factory=Counter)
    dropped_system_fields: Counter[str] = field(default_factory=Counter)
    fields_skipped: Counter[str] = field(default_factory=Counter)
    schema_issues: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    coercions: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    sample_changes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def considered(self) -> int:
        """Events that were for Salesforce (read minus ignored): the base of the dead-letter ratio."""
        return self.read - self.ignored

    @property
    def dead_letter_ratio(self) -> float:
        return self.dead_lettered / self.considered if self.considered else 0.0

    def top_codes(self, n: int = 3) -> str:
        return ", ".join(f"{code} ({count})" for code, count in self.dead_letters_by_code.most_common(n)) or "none"

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON values only, small whatever the run size: safe for XCom and Asset extras."""
        result: dict[str, Any] = {}
        for f in fields(self):
            if f.name in _NOT_IN_XCOM:
                continue
            value = getattr(self, f.name)
            result[f.name] = dict(value) if isinstance(value, Counter) else value
        if self.dry_run:
            result["schema_report"] = self.schema_report()
        return result

    def state(self) -> dict[str, Any]:
        """Every field as plain JSON, for a run continued in another process (a deferred task's completion)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> SyncSummary:
        summary = cls()
        for f in fields(cls):
            if f.name not in state:
                continue
            value = state[f.name]
            current = getattr(summary, f.name)
            if isinstance(current, defaultdict):
                for name, counts in value.items():
                    current[name].update(counts)
            elif isinstance(current, Counter):
                current.update(value)
            else:
                setattr(summary, f.name, value)
        return summary

    def schema_report(self) -> dict[str, dict[str, dict[str, dict[str, int]]]]:
        """Per object: the fields the events carry that the org lacks or the user cannot write, and the coercions
        a run applies, with event counts (the "is my org ready?" answer of a dry run)."""
        report: dict[str, dict[str, dict[str, dict[str, int]]]] = {}
        for kind, table in (("field_issues", self.schema_issues), ("coercions", self.coercions)):
            for name, counts in sorted(table.items()):
                sobject, _, field_name = name.partition(".")
                report.setdefault(sobject, {"field_issues": {}, "coercions": {}})[kind][field_name] = dict(counts)
        return report

    def table(self) -> str:
        """A fixed-width table for the end of the task log (counts only: no trait values, no secrets)."""
        rows: list[tuple[str, object]] = [
            ("events read", self.read),
            ("ignored (not for Salesforce)", self.ignored),
            ("rejected (bad input)", self.rejected),
            ("applied", self.applied),
            ("  of which partial (fields skipped)", self.partial),
            ("dead-lettered", self.dead_lettered),
            ("not sent (dry run or left for retry)", self.unsent),
        ]
        if self.dry_run:
            rows += [
                ("records to create (dry run)", self.planned_creates),
                ("records to update (dry run)", self.planned_updates),
                ("write calls needed (dry run)", self.planned_write_calls),
            ]
        else:
            rows += [
                ("records created", self.created),
                ("records updated", self.updated),
                ("records failed", self.failed),
            ]
        rows += [("Salesforce API calls", self.api_calls), ("  of which describes", self.describe_calls)]
        if self.api_calls_left is not None:
            rows.append(("daily API calls left", f"{self.api_calls_left:,} of {self.api_daily_limit or 0:,}"))
        width = max(len(label) for label, _ in rows)
        values = [f"{value:,}" if isinstance(value, int) else str(value) for _, value in rows]
        value_width = max(len(value) for value in values)
        lines = ["+" + "-" * (width + value_width + 5) + "+"]
        lines += [
            f"| {label:<{width}} | {value:>{value_width}} |" for (label, _), value in zip(rows, values, strict=True)
        ]
        lines.append(lines[0])
        if self.dead_letters_by_code:
            lines.append(f"dead letters by code: {self.top_codes(10)}")
        if self.dead_letter_location:
            lines.append(f"dead letters: {self.dead_letter_location}")
        if self.dropped_system_fields:
            dropped = ", ".join(f"{name} ({n})" for name, n in self.dropped_system_fields.most_common())
            lines.append(f"read-only fields recognised and not sent: {dropped}")
        if self.fields_skipped:
            skipped = ", ".join(f"{name} ({n})" for name, n in self.fields_skipped.most_common(10))
            lines.append(f"fields skipped (the org cannot take them; records written without): {skipped}")
        if self.dry_run and (self.schema_issues or self.coercions):
            lines.append("schema report (dry run):")
            for name, counts in sorted(self.schema_issues.items()):
                lines.append(f"  {name}: " + ", ".join(f"{code} in {n:,} events" for code, n in counts.most_common()))
            for name, counts in sorted(self.coercions.items()):
                lines.append(f"  {name}: " + ", ".join(f"{how} in {n:,} events" for how, n in counts.most_common()))
        if self.stop_reason:
            lines.append(f"stopped early: {self.stop_reason}: {self.stop_message}")
        return "\n".join(lines)
