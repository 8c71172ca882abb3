"""What a run looks up before it plans: Leads by e-mail, records by rETL identifier, and the objects' describes.

While the run reads, :class:`LookAhead` gathers what the look-ups will need and lets the writer start the Lead
export early, so Salesforce runs it while the rest is read. A run spilled into partitions then looks everything up
once for all of them (:meth:`LookAhead.prefetch`): each e-mail and each identifier is in one partition only, so the
partitions share the answers. A run held in memory looks up when it plans its one group (:func:`look_up`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from airflow_provider_rudder_sf.mapping import (
    IdentifyEvent,
    LeadMatch,
    MappingOptions,
    ObjectSchema,
    lead_emails,
    match_requests,
)
from airflow_provider_rudder_sf.mapping.plan import Matches
from airflow_provider_rudder_sf.salesforce.errors import PermanentError
from airflow_provider_rudder_sf.sync.accounting import STOPPING_ERRORS, stop_before_writing
from airflow_provider_rudder_sf.sync.ports import Log, Writer
from airflow_provider_rudder_sf.sync.summary import SyncSummary

# The writer is asked whether to start the Lead export at this many distinct e-mails, then each time they grow by a
# quarter (an IN request holds a few hundred; the writer weighs the export only past its export_min_calls requests).
FIRST_EXPORT_PROBE = 1_024
_NEVER = 1 << 62


class Prefetched(NamedTuple):
    """A spilled run's look-ups, made once: lower-cased e-mail -> Leads (each partition takes its own out), and
    the rETL matches (:data:`~airflow_provider_rudder_sf.mapping.plan.Matches`). None: look up per partition."""

    leads: dict[str, tuple[LeadMatch, ...]] | None = None
    records: Matches | None = None


NOTHING_PREFETCHED = Prefetched()


class Found(NamedTuple):
    """One group's look-ups, as the planner takes them."""

    leads: dict[str, tuple[LeadMatch, ...]]
    schemas: dict[str, ObjectSchema | None]
    records: Matches


class LookAhead:
    """Gathers, event by event, the e-mails and rETL identifiers the look-ups will need."""

    def __init__(self, writer: Writer, options: MappingOptions) -> None:
        self.writer = writer
        self.emails: set[str] | None = set() if options.allows("Lead") else None
        self.identifiers: dict[tuple[str, str], list[Any]] = {}
        self._next_probe = FIRST_EXPORT_PROBE

    def note(self, event: IdentifyEvent) -> None:
        """An eligible event was read."""
        if event.targets:
            match_requests((event,), into=self.identifiers)
        elif self.emails is not None and event.email is not None:
            self.emails.add(event.email)
            if len(self.emails) >= self._next_probe:
                started = self.writer.start_lead_export(self.emails)
                self._next_probe = _NEVER if started else self._next_probe + self._next_probe // 4

    def prefetch(self, partitions: int, summary: SyncSummary, log: Log) -> Prefetched:
        """For a run spilled into ``partitions``: every look-up once, right after reading (none when the run
        stopped). What was gathered is let go either way."""
        emails, identifiers = self.emails, self.identifiers
        self.emails, self.identifiers = None, {}
        leads = records = None
        try:
            if emails:
                leads = self.writer.lookup_leads(emails)
                log.info(
                    "Looked up %d e-mails once for all %d partitions: %d already in Salesforce",
                    len(emails),
                    partitions,
                    len(leads),
                )
            if identifiers:
                schemas = self.writer.schemas(sobject for sobject, _ in identifiers)
                records = match_records(identifiers, schemas, self.writer, log)
                log.info(
                    "Looked up the rETL identifiers of %d field(s) once for all %d partitions",
                    len(identifiers),
                    partitions,
                )
        except STOPPING_ERRORS as exc:
            stop_before_writing(exc, 0, summary, log)  # the partitions count their events as unsent
            return NOTHING_PREFETCHED
        return Prefetched(leads, records)


def look_up(
    events: Sequence[IdentifyEvent], writer: Writer, options: MappingOptions, log: Log, prefetched: Prefetched
) -> Found:
    """One group's look-ups: taken from ``prefetched`` (a spilled run's) or asked now. Raises what the writer
    raises; the caller stops the run on ``STOPPING_ERRORS`` (:mod:`~airflow_provider_rudder_sf.sync.accounting`)."""
    emails = lead_emails(events, options)
    if prefetched.leads is not None:  # each e-mail is in one partition only: hand its matches over, free the rest
        leads = {email: prefetched.leads.pop(email) for email in emails if email in prefetched.leads}
    else:
        leads = writer.lookup_leads(emails) if emails else {}
        if emails:
            log.info("Looked up %d e-mails: %d already in Salesforce", len(emails), len(leads))
    schemas = writer.schemas(objects_to_describe(events, leads, options))
    records = prefetched.records
    if records is None:
        records = match_records(match_requests(events), schemas, writer, log)
    return Found(leads, schemas, records)


def objects_to_describe(
    events: Sequence[IdentifyEvent], matches: Mapping[str, Sequence[LeadMatch]], options: MappingOptions
) -> set[str]:
    """Lead for the e-mail path, Contact only when a converted Lead sends an event there, and every target."""
    objects: set[str] = set()
    for event in events:
        if event.targets:
            objects.update(target.sobject for target in event.targets if options.allows(target.sobject))
        elif options.allows("Lead"):
            objects.add("Lead")
    if options.use_contact_id and any(m.is_converted for found in matches.values() for m in found):
        objects.add("Contact")
    return objects


def match_records(
    requests: Mapping[tuple[str, str], Sequence[Any]],
    schemas: Mapping[str, ObjectSchema | None],
    writer: Writer,
    log: Log,
) -> dict[tuple[str, str], dict[str, tuple[str, ...]] | None]:
    """The rETL look-ups (:func:`match_requests`), one per (object, identifier field), each by the writer's cheaper
    strategy. A look-up that Salesforce refuses (a field it cannot filter on) is None: the planner dead-letters
    those events only."""
    found: dict[tuple[str, str], dict[str, tuple[str, ...]] | None] = {}
    for (sobject, field), values in requests.items():
        schema = schemas.get(sobject.lower())
        spec = schema.field(field) if schema is not None else None
        if schema is None or spec is None:
            continue  # the planner dead-letters these events with the reason
        key = (sobject.lower(), field.lower())
        if key in found and found[key] is None:
            continue
        try:
            matches = writer.match_records(schema.name, spec.name, values)
        except PermanentError as exc:
            log.warning(
                "Salesforce refused the look-up of %s by %s (%s): its events go to the dead letter",
                schema.name,
                spec.name,
                exc.code,
            )
            found[key] = None
            continue
        bucket = found.setdefault(key, {})
        assert bucket is not None
        bucket.update(matches)
    return found
