"""The identify-to-Salesforce field tables, as data: read them top to bottom.

Each row names a Salesforce field and the trait keys that feed it, the first present one winning.
``address.city`` reads ``traits["address"]["city"]``. ``name|first_word`` and ``name|last_word`` read the
first word of ``name`` and, when it has two or more words, the last one.

System fields are recognised (they never become custom ``__c`` fields) but never sent, because Salesforce
refuses writes to them; the planner counts how often each was dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

Row = tuple[str, tuple[str, ...]]

LEAD_ROWS: tuple[Row, ...] = (
    ("AnnualRevenue", ("company.annualRevenue",)),
    ("City", ("address.city", "city")),
    ("Company", ("company.name", "company")),
    ("CompanyDunsNumber", ("company.companyDunsNumber", "companyDunsNumber")),
    ("Country", ("address.country", "country")),
    ("CountryCode", ("address.countryCode", "countryCode")),
    ("CurrencyIsoCode", ("currencyIsoCode",)),
    ("Description", ("description",)),
    ("Division", ("division",)),
    ("Email", ("email",)),
    ("EmailBouncedDate", ("emailBouncedDate",)),
    ("EmailBouncedReason", ("emailBouncedReason",)),
    ("Fax", ("fax",)),
    ("FirstName", ("firstName", "name|first_word")),
    # RudderStack's table maps address.accuracy/accuracy to "Accuracy", a field Salesforce does not have (design
    # rule 4): they feed the real address-accuracy picklist instead, after geocodeAccuracy.
    ("GeocodeAccuracy", ("geocodeAccuracy", "address.accuracy", "accuracy")),
    ("HasOptedOutOfEmail", ("hasOptedOutOfEmail",)),
    ("HasOptedOutOfFax", ("hasOptedOutOfFax",)),
    ("IndividualId", ("individualId",)),
    ("Industry", ("company.industry",)),
    ("IsUnreadByOwner", ("isUnreadByOwner",)),
    ("Jigsaw", ("jigsaw",)),
    ("LastName", ("lastName", "name|last_word")),
    ("Latitude", ("address.latitude", "latitude")),
    ("LeadSource", ("LeadSource",)),
    ("Longitude", ("address.longitude", "longitude")),
    ("MiddleName", ("middleName",)),
    ("MobilePhone", ("mobilePhone",)),
    ("NumberOfEmployees", ("company.employee_count",)),
    ("OwnerId", ("ownerId",)),
    ("Phone", ("phone",)),
    ("PostalCode", ("address.postalCode", "postalCode")),
    ("Rating", ("rating",)),
    ("RecordTypeId", ("recordTypeId",)),
    ("Salutation", ("salutation",)),
    ("State", ("address.state", "state")),
    ("StateCode", ("address.stateCode", "stateCode")),
    ("Status", ("status",)),
    ("Street", ("address.street", "street")),
    ("Suffix", ("suffix",)),
    ("Title", ("title",)),
    ("Website", ("website",)),
)

CONTACT_ROWS: tuple[Row, ...] = (
    ("AccountId", ("accountId",)),
    ("AssistantName", ("assistantName",)),
    ("AssistantPhone", ("assistantPhone",)),
    ("Birthdate", ("birthday",)),
    ("CanAllowPortalSelfReg", ("canAllowPortalSelfReg",)),
    ("CleanStatus", ("cleanStatus",)),
    ("Department", ("department",)),
    ("Description", ("description",)),
    ("DoNotCall", ("doNotCall",)),
    ("Email", ("email",)),
    ("EmailBouncedDate", ("emailBouncedDate",)),
    ("EmailBouncedReason", ("emailBouncedReason",)),
    ("Fax", ("fax",)),
    ("FirstName", ("firstName", "name|first_word")),
    ("HasOptedOutOfEmail", ("hasOptedOutOfEmail",)),
    ("HasOptedOutOfFax", ("hasOptedOutOfFax",)),
    ("HomePhone", ("homePhone",)),
    ("IndividualId", ("individualId",)),
    ("Jigsaw", ("jigsaw",)),
    ("LastName", ("lastName", "name|last_word")),
    ("LeadSource", ("LeadSource",)),
    ("MailingCity", ("address.city", "city")),
    ("MailingCountry", ("address.country", "country")),
    ("MailingCountryCode", ("address.countryCode", "countryCode")),
    ("MailingGeocodeAccuracy", ("geocodeAccuracy",)),
    ("MailingLatitude", ("address.latitude", "latitude")),
    ("MailingLongitude", ("address.longitude", "longitude")),
    ("MailingPostalCode", ("address.postalCode", "postalCode")),
    ("MailingState", ("address.state", "state")),
    ("MailingStateCode", ("address.stateCode", "stateCode")),
    ("MailingStreet", ("address.street", "street")),
    ("MiddleName", ("middleName",)),
    ("MobilePhone", ("mobilePhone",)),
    ("OwnerId", ("ownerId",)),
    ("Phone", ("phone",)),
    ("RecordTypeId", ("recordTypeId",)),
    ("ReportsToId", ("reportsToId",)),
    ("Salutation", ("salutation",)),
    ("Suffix", ("suffix",)),
    ("Title", ("title",)),
)

# Trait key -> read-only Salesforce field it names. Recognised, counted, never sent.
LEAD_SYSTEM_FIELDS: Mapping[str, str] = MappingProxyType(
    {
        "id": "Id",
        "name": "Name",
        "createdAt": "CreatedDate",
        "createddate": "CreatedDate",
        "createdById": "CreatedById",
        "isConverted": "IsConverted",
        "isDeleted": "IsDeleted",
        "convertedAccountId": "ConvertedAccountId",
        "convertedContactId": "ConvertedContactId",
        "convertedDate": "ConvertedDate",
        "convertedOpportunityId": "ConvertedOpportunityId",
        "jigsawContactId": "JigsawContactId",
        "lastActivityDate": "LastActivityDate",
        "lastModifiedById": "LastModifiedById",
        "lastModifiedDate": "LastModifiedDate",
        "lastReferencedDate": "LastReferencedDate",
        "lastViewedDate": "LastViewedDate",
        "masterRecordId": "MasterRecordId",
        "photoUrl": "PhotoUrl",
        "systemModstamp": "SystemModstamp",
    }
)
CONTACT_SYSTEM_FIELDS: Mapping[str, str] = MappingProxyType(
    {
        **{k: v for k, v in LEAD_SYSTEM_FIELDS.items() if not k.startswith(("converted", "isConverted"))},
        "isEmailBounced": "IsEmailBounced",
        "isPersonAccount": "IsPersonAccount",
    }
)

# Read-only on every object: dropped (and counted) when traits are sent as they are.
COMMON_SYSTEM_FIELDS: frozenset[str] = frozenset(
    {
        "id",
        "createddate",
        "createdbyid",
        "lastmodifieddate",
        "lastmodifiedbyid",
        "systemmodstamp",
        "isdeleted",
        "lastactivitydate",
        "lastvieweddate",
        "lastreferenceddate",
        "masterrecordid",
    }
)

# Never copied as custom fields, on top of the keys a mapping reads (design rule 6).
NEVER_COPIED: frozenset[str] = frozenset(
    {"name", "address", "company", "anonymousId", "userId", "age", "gender", "avatar", "birthday"}
)


def _first_word(value: Any) -> Any:
    words = value.split() if isinstance(value, str) else []
    return words[0] if words else None


def _last_word(value: Any) -> Any:
    words = value.split() if isinstance(value, str) else []
    return words[-1] if len(words) >= 2 else None


TRANSFORMS: Mapping[str, Callable[[Any], Any]] = MappingProxyType({"first_word": _first_word, "last_word": _last_word})


# The compiled routes: how a trait key is handled, found with one dictionary look-up per trait
# (see ``FieldTable.route``). One small immutable type per kind; the mapper dispatches on the type.


@dataclass(frozen=True, slots=True)
class Source:
    """One trait key feeding one field; the lower the rank, the stronger the source."""

    field: str
    rank: int
    transform: Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class Sole:
    """The key alone feeds ``field``, as it is: the fast path of mapping."""

    field: str


@dataclass(frozen=True, slots=True)
class Direct:
    """The key feeds each of ``sources`` (``name`` feeds FirstName and LastName), a stronger source winning."""

    sources: tuple[Source, ...]


@dataclass(frozen=True, slots=True)
class Nested:
    """An object key (``address``, ``company``): each child key feeds the one field of its source in ``children``
    (as it is: no transform); a scalar value feeds ``scalar_sources`` instead (``company: "Acme"``), or is dropped
    when there are none."""

    children: Mapping[str, Source]
    scalar_sources: tuple[Source, ...]


@dataclass(frozen=True, slots=True)
class SystemOnly:
    """The key names read-only ``field``: recognised, counted as dropped, never sent."""

    field: str


@dataclass(frozen=True, slots=True)
class NotCopied:
    """The key is never copied as a custom field (design rule 6), and feeds nothing."""


Route = Sole | Direct | Nested | SystemOnly | NotCopied


@dataclass(frozen=True, slots=True)
class FieldTable:
    """A mapping table indexed by trait key, so mapping costs one look-up per trait, not one per row.

    ``route[key]`` says how the key is handled (one of the :data:`Route` types); a key with no route becomes a
    custom field.
    """

    sobject: str
    route: Mapping[str, Route]
    system: Mapping[str, str]
    required_on_create: tuple[str, ...]


def compile_table(
    sobject: str, rows: tuple[Row, ...], system: Mapping[str, str], required_on_create: tuple[str, ...]
) -> FieldTable:
    direct: dict[str, list[Source]] = {}
    nested: dict[str, dict[str, list[Source]]] = {}
    for field_name, keys in rows:
        for rank, key in enumerate(keys):
            path, _, transform_name = key.partition("|")
            transform = TRANSFORMS[transform_name] if transform_name else None
            parent, _, child = path.partition(".")
            if child:
                nested.setdefault(parent, {}).setdefault(child, []).append(Source(field_name, rank, transform))
            else:
                direct.setdefault(parent, []).append(Source(field_name, rank, transform))
    source_counts = {field_name: len(keys) for field_name, keys in rows}
    not_copied = frozenset(direct) | frozenset(nested) | frozenset(system) | NEVER_COPIED
    # A key the table reads (``name`` -> First/LastName) is used, not dropped: never reported as dropped.
    route: dict[str, Route] = {key: _route(key, direct, nested, system, source_counts) for key in not_copied}
    return FieldTable(
        sobject=sobject,
        route=route,  # a plain dict: read on the hot path, never mutated after this
        system=system,
        required_on_create=required_on_create,
    )


def _route(
    key: str,
    direct: Mapping[str, list[Source]],
    nested: Mapping[str, Mapping[str, list[Source]]],
    system: Mapping[str, str],
    source_counts: Mapping[str, int],
) -> Route:
    sources = tuple(direct.get(key, ()))
    if key in nested:
        return Nested({child: _child_source(key, child, sources) for child, sources in nested[key].items()}, sources)
    if len(sources) == 1 and sources[0].transform is None and source_counts[sources[0].field] == 1:
        return Sole(sources[0].field)
    if sources:
        return Direct(sources)
    if key in system:
        return SystemOnly(system[key])
    return NotCopied()


def _child_source(key: str, child: str, sources: list[Source]) -> Source:
    if len(sources) != 1 or sources[0].transform is not None:
        raise ValueError(f"{key}.{child} must feed exactly one field, as it is")
    return sources[0]


LEAD_TABLE = compile_table("Lead", LEAD_ROWS, LEAD_SYSTEM_FIELDS, ("LastName", "Company"))
CONTACT_TABLE = compile_table("Contact", CONTACT_ROWS, CONTACT_SYSTEM_FIELDS, ("LastName",))
TABLES: Mapping[str, FieldTable] = MappingProxyType({"Lead": LEAD_TABLE, "Contact": CONTACT_TABLE})

CREATE_DEFAULT = "n/a"
