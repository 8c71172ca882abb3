"""Batched look-ups and fault-tolerant batched writes through sObject Collections.

One Collections call carries up to 200 records (one API call), ``allOrNone`` false, so one bad record never
blocks the others. Every ``Write`` ends as exactly one :class:`WriteResult` or in ``WriteReport.unsent`` (never
lost, never sent twice on purpose): row locks are resent alone, a batch whose fate is unknown after a transient
failure is reconciled by natural key before creates are resent, and a spent API budget stops the run cleanly.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_rudder_sf.mapping.coerce import identifier_key
from airflow_provider_rudder_sf.mapping.model import LeadMatch, Operation, Write
from airflow_provider_rudder_sf.mapping.names import all_api_names, is_api_name
from airflow_provider_rudder_sf.mapping.schema import FieldSchema, ObjectSchema, object_schema
from airflow_provider_rudder_sf.salesforce.client import SalesforceClient
from airflow_provider_rudder_sf.salesforce.errors import (
    BudgetExhausted,
    Outcome,
    PermanentError,
    SalesforceApiError,
    SalesforceLoginError,
    SessionExpired,
    StopReason,
    TransientError,
    classify,
    stop_reason,
)
from airflow_provider_rudder_sf.salesforce.export import (
    DEFAULT_PAGE_SIZE,
    EXPORT_MIN_CALLS,
    LOOKUP_STRATEGIES,
    BulkQuery,
    LookupPlan,
    LookupStrategy,
    QueryJobFailed,
    choose_strategy,
    estimate_export_calls,
)
from airflow_provider_rudder_sf.salesforce.jobs import first_wait
from airflow_provider_rudder_sf.salesforce.results import BatchProgress, WriteReport, WriteResult, WriteStatus
from airflow_provider_rudder_sf.salesforce.soql import check_api_name, in_clause_chunks, soql_literal

if TYPE_CHECKING:
    from airflow_provider_rudder_sf.salesforce.bulk import BulkWriter

log = logging.getLogger(__name__)

MAX_COLLECTION_SIZE = 200
LEAD_COLUMNS = ("Id", "Email", "IsConverted", "ConvertedContactId")
LEAD_FIELDS = ", ".join(LEAD_COLUMNS)
# Field types whose Bulk CSV text is the REST value (numbers are compared as numbers in any spelling).
_EXPORTABLE_TYPES = frozenset({"id", "reference", "string", "email", "phone", "url", "picklist", "combobox"})
DUPLICATE_RULE_HEADER = "Sforce-Duplicate-Rule-Header"
# Salesforce spells the key both ways in duplicate-rule errors (REST single-record answers use the misspelling).
_DUPLICATE_RESULT_KEYS = ("duplicateResult", "duplicateResut")
# An object the org lacks (or hides from the user) answers its describe with one of these.
_UNKNOWN_OBJECT_CODES = frozenset({"NOT_FOUND", "INVALID_TYPE"})


@dataclass
class _Item:
    """A write in flight; a create may become an update of a record found by its natural key."""

    index: int
    write: Write
    op: Operation
    record_id: str | None
    found_by_key: bool = False


@dataclass
class _BatchOutcome:
    done: list[tuple[int, WriteResult]]
    leftover: list[_Item]
    stop: StopReason | None


class SalesforceWriter:
    """Look-ups and writes for one run, all through one :class:`SalesforceClient`."""

    def __init__(
        self,
        client: SalesforceClient,
        *,
        batch_size: int = MAX_COLLECTION_SIZE,
        lookup_chunk_bytes: int = 10_000,
        allow_duplicate_save: bool = False,
        bulk_poll_interval: float = 15.0,
        lookup_strategy: LookupStrategy = "auto",
        export_page_size: int = DEFAULT_PAGE_SIZE,
        export_min_calls: int = EXPORT_MIN_CALLS,
        export_sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if lookup_strategy not in LOOKUP_STRATEGIES:
            raise ValueError(f"lookup_strategy must be one of {LOOKUP_STRATEGIES}, got {lookup_strategy!r}")
        if export_page_size < 1 or export_min_calls < 0:
            raise ValueError("export_page_size must be positive and export_min_calls not negative")
        if not 1 <= batch_size <= MAX_COLLECTION_SIZE:
            raise ValueError(f"batch_size must be between 1 and {MAX_COLLECTION_SIZE}, got {batch_size}")
        if not 1_000 <= lookup_chunk_bytes <= 16_000:
            raise ValueError(f"lookup_chunk_bytes must be between 1000 and 16000, got {lookup_chunk_bytes}")
        self.client = client
        self.batch_size = batch_size
        self.lookup_chunk_bytes = lookup_chunk_bytes
        self.allow_duplicate_save = allow_duplicate_save
        self.bulk_poll_interval = bulk_poll_interval
        self.lookup_strategy = lookup_strategy
        self.export_page_size = export_page_size
        self.export_min_calls = export_min_calls
        self._export_sleep = export_sleep
        self.lookups: list[LookupPlan] = []  # every look-up's strategy and figures, in order
        self.export_polls = 0  # query-job state polls sent by export look-ups
        self._row_counts: dict[tuple[str, str], int] = {}  # a COUNT() taken while reading, for the look-up after
        self._values_per_request: dict[tuple[str, str, str, bool], float] = {}  # see _estimated_in_calls
        self._early_exports: dict[str, tuple[BulkQuery, str]] = {}  # export SOQL -> its query job, started early
        self._schemas: dict[str, ObjectSchema | None] = {}
        self.describe_calls = 0

    # -- schema ---------------------------------------------------------------------------------------------
    def describe(self, sobject: str) -> ObjectSchema | None:
        """The org's schema of ``sobject`` for this user, read once per writer (one run); None if it has none."""
        key = sobject.lower()
        if key in self._schemas:
            return self._schemas[key]
        check_api_name(sobject, "sObject")
        self.describe_calls += 1
        try:
            body = self.client.restful(f"sobjects/{sobject}/describe")
        except PermanentError as exc:
            if exc.code not in _UNKNOWN_OBJECT_CODES and exc.status != 404:
                raise
            log.warning("Salesforce has no %s object for this user (%s)", sobject, exc.code)
            self._schemas[key] = None
            return None
        schema = object_schema(body if isinstance(body, dict) else {})
        self._schemas[key] = schema
        log.info("Described %s: %d fields visible to the integration user", schema.name, len(schema.fields))
        return schema

    def _field(self, sobject: str, field: str) -> FieldSchema | None:
        """A field of an object described in this run (None when not described or absent)."""
        schema = self._schemas.get(sobject.lower())
        return schema.field(field) if schema is not None else None

    def schemas(self, sobjects: Iterable[str]) -> dict[str, ObjectSchema | None]:
        """Describes of several objects, keyed by lower-cased name (each read at most once per run)."""
        for sobject in sorted(set(sobjects), key=str.lower):
            self.describe(sobject)
        return dict(self._schemas)

    @property
    def api_calls(self) -> int:
        """Requests the client has sent so far (look-ups and writes of the whole run)."""
        return self.client.api_calls

    # -- look-ups -------------------------------------------------------------------------------------------
    # Two strategies give the same answers: SOQL ``IN`` requests of a few hundred values each, or one Bulk API 2.0
    # query job reading the needed columns of every row whose key is set (:mod:`.export`), filtered here. ``auto``
    # counts the rows (one ``COUNT()``) only when the ``IN`` requests would be more than ``export_min_calls``, and
    # takes the cheaper in API calls. A query job that fails falls back to ``IN``.
    def lookup_leads(self, emails: Iterable[str]) -> dict[str, tuple[LeadMatch, ...]]:
        """Leads by e-mail, case-insensitively: lower-cased e-mail → matches; e-mails not found are absent."""
        wanted, asked = _lowered(emails)  # a set too: the membership check runs once per record found
        found: dict[str, list[LeadMatch]] = {}
        for record in self._lookup(LEAD_COLUMNS, "Lead", "Email", wanted, booleans=frozenset({"IsConverted"})):
            email = str(record.get("Email") or "").lower()
            if email in asked:
                match = LeadMatch(
                    id=str(record["Id"]),
                    is_converted=bool(record.get("IsConverted")),
                    converted_contact_id=record.get("ConvertedContactId") or None,
                )
                found.setdefault(email, []).append(match)
        log.info("Lead look-up: %d e-mail(s) asked, %d found", len(wanted), len(found))
        return {email: tuple(matches) for email, matches in found.items()}

    def start_lead_export(self, emails: Collection[str]) -> bool:
        """Called while the run still reads, with the lower-cased e-mails read so far. When an export of the Leads
        is already the cheaper look-up, its query job starts now: Salesforce runs it while the rest is read, and
        :meth:`lookup_leads` finds it done. More e-mails only make ``IN`` dearer, so the choice holds; the one
        ``COUNT()`` it takes is the look-up's. True when nothing is left to decide; False: ask again with more.

        A job the run never reads (it stopped first) is left to Salesforce, which deletes old jobs."""
        soql = _export_soql(LEAD_FIELDS, "Lead", "Email")
        if self.lookup_strategy == "in" or soql in self._early_exports:
            return True
        try:
            if self.lookup_strategy == "auto":
                in_calls = self._estimated_in_calls(LEAD_FIELDS, "Lead", "Email", emails)
                if in_calls <= self.export_min_calls:
                    return False
                rows = self._row_counts.get(("Lead", "Email"))
                if rows is None:
                    rows = self._row_counts[("Lead", "Email")] = self._count("Lead", "Email")
                if choose_strategy(in_calls, rows, self.export_page_size) != "export":
                    return False
            query = self._bulk_query()
            self._early_exports[soql] = (query, query.start(soql))
        except (BudgetExhausted, SessionExpired, TransientError, PermanentError) as exc:
            log.info("The Lead export was not started while reading (%s); the look-up decides after reading", exc.code)
            return True
        log.info("Started the Lead export while reading, at %d distinct e-mails", len(emails))
        return True

    def _estimated_in_calls(
        self, select: str, sobject: str, field: str, values: Collection[str], *, quoted: bool = False
    ) -> int:
        """``IN`` requests for ``values``, from how many of its first thousand fit a request (exact below that).
        The values per request are measured once per look-up: the run asks again each time its e-mails grow."""
        measured = (select, sobject, field, quoted)
        per_request = self._values_per_request.get(measured)
        if per_request is None:
            sample = list(itertools.islice(values, 1_000))
            chunks = self._in_chunks(select, sobject, field, sample, quoted=quoted)
            if len(sample) == len(values) or not chunks:
                return len(chunks)
            # Full requests only; a sample that fits one request gives a floor (at least that many per request).
            full = len(chunks) - 1
            per_request = (len(sample) - len(chunks[-1])) / full if full else float(len(sample))
            self._values_per_request[measured] = per_request
        return math.ceil(len(values) / per_request)

    def _count(self, sobject: str, field: str) -> int:
        counted = self.client.query(f"SELECT COUNT() FROM {sobject} WHERE {field} != null")
        return int(counted.get("totalSize") or 0)

    def find_ids(self, sobject: str, field: str, values: Iterable[str]) -> dict[str, list[str]]:
        """Ids of ``sobject`` records whose ``field`` equals one of ``values``: lower-cased value → ids."""
        check_api_name(sobject, "sObject")
        check_api_name(field, "field")
        wanted = _unique_lower(str(v) for v in values if v is not None and v != "")
        lowered = {v.lower() for v in wanted}
        found: dict[str, list[str]] = {}
        select = "Id" if field == "Id" else f"Id, {field}"
        for record in self._select_in(select, sobject, field, wanted):
            key = str(record.get(field) or "").lower()
            if key in lowered:
                found.setdefault(key, []).append(str(record["Id"]))
        return found

    def match_records(self, sobject: str, field: str, values: Iterable[Any]) -> dict[str, tuple[str, ...]]:
        """rETL look-up: ids of ``sobject`` records whose ``field`` holds one of ``values``, keyed by
        :func:`~airflow_provider_rudder_sf.mapping.coerce.identifier_key` (numbers compared as numbers when the
        describe says the field is numeric, text case-insensitively)."""
        check_api_name(sobject, "sObject")
        check_api_name(field, "field")
        spec = self._field(sobject, field)
        numeric = spec is not None and spec.numeric
        field = spec.name if spec is not None else field
        literals: dict[str, str] = {}
        for value in values:
            key = identifier_key(value, numeric=numeric)
            if key is not None and key not in literals:
                literals[key] = key[2:] if numeric else soql_literal(str(value) if type(value) is str else key[2:])
        found: dict[str, list[str]] = {}
        columns = ("Id",) if field == "Id" else ("Id", field)
        # A CSV cell reads as the REST value only for text and numbers (dates, times and booleans are spelt
        # differently), and only a described field's type is known: any other field is looked up with IN.
        exportable = spec is not None and (numeric or spec.type in _EXPORTABLE_TYPES)
        records = self._lookup(columns, sobject, field, list(literals.values()), quoted=True, exportable=exportable)
        for record in records:
            key = identifier_key(record.get(field), numeric=numeric)
            if key in literals:
                found.setdefault(key, []).append(str(record["Id"]))
        log.info("%s look-up by %s: %d value(s) asked, %d found", sobject, field, len(literals), len(found))
        return {key: tuple(ids) for key, ids in found.items()}

    def _lookup(
        self,
        columns: tuple[str, ...],
        sobject: str,
        field: str,
        values: Sequence[str],
        *,
        quoted: bool = False,
        booleans: frozenset[str] = frozenset(),
        exportable: bool = True,
    ) -> Iterator[dict[str, Any]]:
        """Records (``columns``, REST-shaped) that may match ``values``, by the cheaper strategy; the caller keeps
        those that do. ``quoted``: ``values`` are SOQL literals already; ``booleans``: columns to read as such."""
        if not values:
            return
        select = ", ".join(columns)
        soql = _export_soql(select, sobject, field)
        early = self._early_exports.pop(soql, None)
        # An export started while reading is the choice already: its IN requests are only estimated for the log,
        # and the values (800,000 e-mails at a million events) are split into requests only if the export fails.
        chunks = None if early is not None else self._in_chunks(select, sobject, field, values, quoted=quoted)
        if chunks is not None:
            in_calls = len(chunks)
        else:
            in_calls = self._estimated_in_calls(select, sobject, field, values, quoted=quoted)
        plan = self._plan(sobject, field, len(values), in_calls, exportable, started=early is not None)
        if plan.strategy == "export":
            query = early[0] if early is not None else self._bulk_query()
            rows: Iterator[dict[str, str]] | None = None
            try:
                rows = query.results(early[1]) if early is not None else query.run(soql)
            except QueryJobFailed as exc:
                log.warning("The %s export failed (%s); looking the values up with IN instead", sobject, exc.code)
            finally:
                self.export_polls += query.polls  # every poll happens before the first row
            if rows is not None:
                for row in rows:
                    yield _csv_record(row, columns, booleans)
                log.info("%s export: %d row(s) read in %d page(s)", sobject, query.rows_read, query.pages)
                return
        if chunks is None:
            chunks = self._in_chunks(select, sobject, field, values, quoted=quoted)
        yield from self._query_chunks(select, sobject, field, chunks, quoted=quoted)

    def _plan(
        self, sobject: str, field: str, values: int, in_calls: int, exportable: bool, *, started: bool = False
    ) -> LookupPlan:
        """Pick the strategy of one look-up (at most one ``COUNT()`` call) and log it with its figures.
        ``started``: its export was started while reading (:meth:`start_lead_export`)."""
        counted = self._row_counts.pop((sobject, field), None)
        if started:
            estimate = estimate_export_calls(counted, self.export_page_size) if counted is not None else None
            plan = LookupPlan(
                sobject,
                field,
                values,
                "export",
                in_calls,
                counted,
                estimate,
                "started while reading",
                in_estimated=True,
            )
        elif self.lookup_strategy == "in" or not exportable:
            why = "forced" if self.lookup_strategy == "in" else "field type not exportable"
            plan = LookupPlan(sobject, field, values, "in", in_calls, reason=why)
        elif self.lookup_strategy == "export":
            plan = LookupPlan(sobject, field, values, "export", in_calls, reason="forced")
        elif in_calls <= self.export_min_calls:
            plan = LookupPlan(
                sobject, field, values, "in", in_calls, reason=f"at most {self.export_min_calls} IN requests"
            )
        else:
            rows = counted if counted is not None else self._count(sobject, field)
            estimate = estimate_export_calls(rows, self.export_page_size)
            chosen = choose_strategy(in_calls, rows, self.export_page_size)
            plan = LookupPlan(sobject, field, values, chosen, in_calls, rows, estimate, reason="fewer calls")
        self.lookups.append(plan)
        log.info("%s", plan.describe())
        return plan

    def _bulk_query(self) -> BulkQuery:
        interval = self.bulk_poll_interval
        return BulkQuery(
            self.client,
            page_size=self.export_page_size,
            poll_first=first_wait(interval),
            poll_interval=interval,
            sleep=self._export_sleep,
        )

    def _in_chunks(
        self, select: str, sobject: str, field: str, values: Sequence[str], *, quoted: bool = False
    ) -> list[list[str]]:
        head = f"SELECT {select} FROM {sobject} WHERE {field} IN ("
        base = self.client.query_url_length(head + ")")
        literal = (lambda v: v) if quoted else soql_literal
        return list(in_clause_chunks(values, base_length=base, max_length=self.lookup_chunk_bytes, literal=literal))

    def _query_chunks(
        self, select: str, sobject: str, field: str, chunks: list[list[str]], *, quoted: bool = False
    ) -> Iterator[dict[str, Any]]:
        literal = (lambda v: v) if quoted else soql_literal
        head = f"SELECT {select} FROM {sobject} WHERE {field} IN ("
        log.info("Querying %s by %s: %d value(s) in %d request(s)", sobject, field, sum(map(len, chunks)), len(chunks))
        for chunk in chunks:
            soql = head + ",".join(literal(v) for v in chunk) + ")"
            yield from self.client.query_all(soql)

    def _select_in(
        self, select: str, sobject: str, field: str, values: Sequence[str], *, quoted: bool = False
    ) -> Iterator[dict[str, Any]]:
        """``quoted``: ``values`` are SOQL literals already (numbers, or escaped strings); else strings to quote."""
        if not values:
            return
        chunks = self._in_chunks(select, sobject, field, values, quoted=quoted)
        yield from self._query_chunks(select, sobject, field, chunks, quoted=quoted)

    # -- writes ---------------------------------------------------------------------------------------------
    def bulk_writer(self) -> BulkWriter:
        """A Bulk API 2.0 writer on the same client, polling every ``bulk_poll_interval`` seconds at most."""
        from airflow_provider_rudder_sf.salesforce.bulk import BulkWriter  # imports us

        interval = self.bulk_poll_interval  # an operator's poll_interval below the first wait shortens that too
        return BulkWriter(self.client, poll_first=first_wait(interval), poll_interval=interval)

    def write(
        self,
        writes: Sequence[Write],
        *,
        on_batch: Callable[[BatchProgress], None] | None = None,
        mode: Literal["rest", "bulk"] = "rest",
    ) -> WriteReport:
        """Send ``writes`` in Collections batches grouped by (sObject, operation, external id field); ``mode="bulk"``
        sends them as Bulk API 2.0 jobs instead (:mod:`~airflow_provider_rudder_sf.salesforce.bulk`)."""
        if mode == "bulk":
            return self.bulk_writer().write(writes, on_batch=on_batch, rest=lambda w: self.write(w, on_batch=on_batch))
        started = self.client.api_calls
        results: list[tuple[int, WriteResult]] = []
        valid: list[_Item] = []
        for index, w in enumerate(writes):
            problem = _invalid(w)
            if problem:
                results.append((index, WriteResult(w, "failed", w.record_id, "INVALID_WRITE", problem)))
            else:
                valid.append(_Item(index, w, w.operation, w.record_id))
        batches = list(self._batches(valid))
        if batches:
            self.client.sf  # noqa: B018 - a first login that fails raises here, before anything is sent
        unsent: list[_Item] = []
        stop: StopReason | None = None
        halted = False
        for number, batch in enumerate(batches, start=1):
            if halted:
                unsent.extend(batch)
                continue
            outcome = self._run_batch(batch)
            results.extend(outcome.done)
            unsent.extend(outcome.leftover)
            if outcome.stop is not None:
                halted, stop = True, outcome.stop
            elif outcome.leftover and stop is None:
                stop = "transient"  # rows that stayed locked: kept for the next run, the other batches go on
            ok = sum(1 for _, r in outcome.done if r.ok)
            progress = BatchProgress(number, len(batches), len(batch), ok, len(outcome.done) - ok)
            log.info(
                "Batch %d of %d: %s %d %s record(s): %d ok, %d failed, %d not sent",
                number,
                len(batches),
                batch[0].op,
                len(batch),
                batch[0].write.sobject,
                progress.ok,
                progress.failed,
                len(outcome.leftover),
            )
            if on_batch is not None:
                on_batch(progress)
            if halted:
                left = len(outcome.leftover) + sum(len(b) for b in batches[number:])
                log.warning("Stopping the write (%s); %d write(s) kept for the next run", stop, left)
        results.sort(key=lambda pair: pair[0])
        unsent.sort(key=lambda item: item.index)
        return WriteReport(
            results=tuple(r for _, r in results),
            unsent=tuple(item.write for item in unsent),
            stop_reason=stop,
            api_calls=self.client.api_calls - started,
            api_usage=self.client.api_usage,
        )

    def _batches(self, items: list[_Item]) -> Iterator[list[_Item]]:
        groups: dict[tuple[str, str, str | None], list[_Item]] = {}
        for item in items:
            groups.setdefault(_batch_group(item.write), []).append(item)
        for group in groups.values():
            for start in range(0, len(group), self.batch_size):
                yield group[start : start + self.batch_size]

    def batch_count(self, writes: Sequence[Write]) -> int:
        """The Collections requests :meth:`write` would send for ``writes`` over REST, retries not counted."""
        sizes = Counter(_batch_group(w) for w in writes)
        return sum(-(-size // self.batch_size) for size in sizes.values())

    def _run_batch(self, items: list[_Item]) -> _BatchOutcome:
        done: list[tuple[int, WriteResult]] = []
        pending = items
        lock_tries = transient_tries = 0
        attempts = self.client.retry.attempts
        while pending:
            retry: list[_Item] = []
            limited: list[_Item] = []
            uncertain = False
            finished_before = len(done)
            chunks = _split_by_op(pending)
            for pos, chunk in enumerate(chunks):
                rest = [item for later in chunks[pos + 1 :] for item in later]
                try:
                    answers = self._send(chunk)
                except TransientError:
                    if chunk[0].op != "create":
                        return _BatchOutcome(done, retry + chunk + rest, "transient")
                    uncertain = True  # the batch may or may not have been applied
                    retry.extend(chunk)
                    continue
                except (BudgetExhausted, SessionExpired, SalesforceLoginError) as exc:
                    return _BatchOutcome(done, retry + chunk + rest, stop_reason(exc))
                except PermanentError as exc:
                    done.extend((i.index, _failed(i, exc.code, exc.message)) for i in chunk)
                    continue
                for item, answer in zip(chunk, answers, strict=True):
                    result, outcome = _interpret(item, answer)
                    if result is not None:
                        done.append((item.index, result))
                    elif outcome is Outcome.STOP:
                        limited.append(item)
                    else:
                        retry.append(item)
            if limited:
                return _BatchOutcome(done, retry + limited, "request_limit")
            if not retry:
                break
            if len(done) > finished_before:
                # Progress in this round: a steady trickle of faults must not exhaust the back-off. The batch
                # stops only after a whole back-off cycle in which nothing went through.
                lock_tries = transient_tries = 0
            if uncertain:
                transient_tries += 1
                if transient_tries >= attempts:
                    return _BatchOutcome(done, retry, "transient")
                self.client.backoff(transient_tries)
                try:
                    self._reconcile(retry)
                except (BudgetExhausted, SessionExpired, SalesforceLoginError) as exc:
                    return _BatchOutcome(done, retry, stop_reason(exc))
                except SalesforceApiError:
                    return _BatchOutcome(done, retry, "transient")
            else:
                lock_tries += 1
                if lock_tries >= attempts:
                    log.warning("%d record(s) stayed locked (UNABLE_TO_LOCK_ROW); left for the next run", len(retry))
                    return _BatchOutcome(done, retry, None)
                self.client.backoff(lock_tries)
            pending = retry
        return _BatchOutcome(done, [], None)

    def _send(self, chunk: list[_Item]) -> list[dict[str, Any]]:
        op = chunk[0].op
        sobject = chunk[0].write.sobject
        records: list[dict[str, Any]] = []
        for item in chunk:
            record: dict[str, Any] = dict(item.write.fields)  # a copy: a retry must not see our additions
            record["attributes"] = {"type": sobject}  # replaces any "attributes" the fields held
            if op == "update":
                record.pop("id", None)
                record["Id"] = item.record_id
            records.append(record)
        body = {"allOrNone": False, "records": records}
        headers = {DUPLICATE_RULE_HEADER: "allowSave=true"} if self.allow_duplicate_save else None
        if op == "create":
            answer = self.client.restful(
                "composite/sobjects", method="POST", json=body, idempotent=False, headers=headers
            )
        elif op == "update":
            answer = self.client.restful("composite/sobjects", method="PATCH", json=body, headers=headers)
        else:
            path = f"composite/sobjects/{sobject}/{chunk[0].write.external_id_field}"
            answer = self.client.restful(path, method="PATCH", json=body, headers=headers)
        if not isinstance(answer, list) or len(answer) != len(chunk):
            got = len(answer) if isinstance(answer, list) else type(answer).__name__
            raise PermanentError(
                f"Salesforce answered {len(chunk)} records with {got} results", code="UNEXPECTED_RESPONSE"
            )
        return answer

    def _reconcile(self, items: list[_Item]) -> None:
        """Turn creates whose record already exists (found by natural key) into updates of that record."""
        groups: dict[tuple[str, str], list[_Item]] = {}
        for item in items:
            if item.op == "create" and item.write.natural_key is not None:
                groups.setdefault((item.write.sobject, item.write.natural_key[0]), []).append(item)
        for (sobject, field), group in groups.items():
            found = self.match_records(sobject, field, [i.write.natural_key[1] for i in group if i.write.natural_key])
            spec = self._field(sobject, field)
            numeric = spec is not None and spec.numeric
            for item in group:
                assert item.write.natural_key is not None
                ids = found.get(identifier_key(item.write.natural_key[1], numeric=numeric) or "")
                if ids:
                    item.op, item.record_id, item.found_by_key = "update", ids[0], True
            log.info(
                "After a failed batch, %d of %d %s create(s) were found already applied",
                sum(1 for i in group if i.found_by_key),
                len(group),
                sobject,
            )


def _interpret(item: _Item, answer: dict[str, Any]) -> tuple[WriteResult | None, Outcome]:
    """A per-record result → a final WriteResult, or None with the outcome that says why to hold it back."""
    if answer.get("success"):
        if item.op == "create" or item.found_by_key:
            status: WriteStatus = "created"
        elif item.op == "upsert":
            status = "created" if answer.get("created") else "updated"
        else:
            status = "updated"
        return WriteResult(item.write, status, answer.get("id") or item.record_id), Outcome.PERMANENT
    errors = answer.get("errors") or [{}]
    first = errors[0] if isinstance(errors[0], dict) else {}
    code = str(first.get("statusCode") or first.get("errorCode") or "UNKNOWN_ERROR")
    outcome = classify(code)
    if outcome in (Outcome.TRANSIENT, Outcome.STOP):
        return None, outcome
    message = "; ".join(str(e.get("message", "")) for e in errors if isinstance(e, dict)) or None
    log.debug("Salesforce refused %s %s %s: %s", item.op, item.write.sobject, item.write.key, code)
    if code == "DUPLICATES_DETECTED":
        return _duplicate(item, first, message), outcome
    return _failed(item, code, message), outcome


def duplicate_ids(error: dict[str, Any]) -> tuple[str, ...]:
    """The record ids a duplicate rule matched, from either spelling of Salesforce's result key."""
    result: dict[str, Any] = next(
        (error[key] for key in _DUPLICATE_RESULT_KEYS if isinstance(error.get(key), dict)), {}
    )
    ids: list[str] = []
    for match in result.get("matchResults") or ():
        for record in (match.get("matchRecords") or ()) if isinstance(match, dict) else ():
            found = (record.get("record") or {}).get("Id") if isinstance(record, dict) else None
            if isinstance(found, str) and found not in ids:
                ids.append(found)
    return tuple(ids)


def _duplicate(item: _Item, error: dict[str, Any], message: str | None) -> WriteResult:
    result: dict[str, Any] = next(
        (error[key] for key in _DUPLICATE_RESULT_KEYS if isinstance(error.get(key), dict)), {}
    )
    rule = result.get("duplicateRule") or "a duplicate rule"
    blocking = result.get("allowSave") is False
    hint = (
        "a Block rule cannot be bypassed; update the matching record instead"
        if blocking
        else "an Alert rule lets the save through with allow_duplicate_save=True"
    )
    ids = duplicate_ids(error)
    text = f"{rule} matched {len(ids) or 'an'} existing record(s) ({hint}): {message or 'duplicates detected'}"
    return WriteResult(item.write, "failed", item.record_id, "duplicate_rule", text, ids)


def _failed(item: _Item, code: str | None, message: str | None) -> WriteResult:
    return WriteResult(item.write, "failed", item.record_id, code, message)


def _batch_group(w: Write) -> tuple[str, str, str | None]:
    """Writes that may share one Collections request."""
    return (w.sobject, w.operation, w.external_id_field)


def _split_by_op(items: list[_Item]) -> list[list[_Item]]:
    """Collections calls take one operation: split a batch whose creates partly became updates."""
    groups: dict[str, list[_Item]] = {}
    for item in items:
        groups.setdefault(item.op, []).append(item)
    return list(groups.values())


def _invalid(w: Write) -> str | None:
    if not is_api_name(w.sobject or ""):
        return f"sObject {w.sobject!r} is not a valid Salesforce API name"
    if not all_api_names(w.fields.keys()):
        bad = [name for name in w.fields if not is_api_name(str(name))]
        return f"field name(s) {bad!r} are not valid Salesforce API names"
    if w.operation == "update" and not w.record_id:
        return "an update needs a record id"
    if w.operation == "upsert":
        ext = w.external_id_field
        if not ext or not is_api_name(ext):
            return f"an upsert needs a valid external_id_field, got {ext!r}"
        if ext not in w.fields:
            return f"an upsert needs its external id field {ext!r} among the fields"
    return None


def _export_soql(select: str, sobject: str, field: str) -> str:
    return f"SELECT {select} FROM {sobject} WHERE {field} != null"


def _lowered(values: Iterable[str]) -> tuple[list[str], set[str]]:
    """Non-empty values lower-cased, once each, in first-seen order, and as a set. A value already in lower case is
    kept as the caller's object: a million e-mails are not copied twice."""
    seen: set[str] = set()
    out: list[str] = []
    for value in values:
        if not value:
            continue
        lowered = value.lower()
        if lowered == value:
            lowered = value
        if lowered not in seen:
            seen.add(lowered)
            out.append(lowered)
    return out, seen


def _unique_lower(values: Iterable[str]) -> list[str]:
    """Values in first-seen order, one per case-insensitive spelling."""
    seen: set[str] = set()
    out: list[str] = []
    for value in values:
        key = value.lower()
        if key not in seen:
            seen.add(key)
            out.append(value)
    return out


def _csv_record(row: dict[str, str], columns: tuple[str, ...], booleans: frozenset[str]) -> dict[str, Any]:
    """A query job's CSV row (lower-cased header keys, ``""`` for null) in the shape a REST query gives it."""
    record: dict[str, Any] = {}
    for name in columns:
        cell = row.get(name.lower(), "")
        if cell == "":
            record[name] = None
        elif name in booleans:
            record[name] = cell.lower() == "true"
        else:
            record[name] = cell
    return record
