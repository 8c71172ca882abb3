"""Objects and fields the emulator knows, as data.

Field facts (types, lengths, writability) follow Salesforce's field reference for a standard single-currency org
without divisions (research notes §4). Decisions, so that tests can rely on them:

* Lead and Contact carry every standard writable field the design's mapping tables use, except
  ``CurrencyIsoCode`` and ``Division``: those exist only in orgs with multi-currency / divisions turned on, so here
  they are unknown (``INVALID_FIELD``) until declared through ``POST /__admin/schema`` or ``--schema``.
* ``Accuracy`` is not a Salesforce field (the address accuracy is ``GeocodeAccuracy``); it does not exist.
* Picklist values are not restricted; state/country code picklists exist as plain 10-character fields.
* Custom fields (``X__c``) and custom objects exist only once declared.

To add a standard field, add one line to the tables below: ``name: (type, length)`` for writable fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

# type name -> JSON kind used by validation
STRING_TYPES = frozenset({"string", "textarea", "email", "phone", "url", "picklist", "multipicklist", "combobox"})
NUMBER_TYPES = frozenset({"int", "double", "currency", "percent"})
KNOWN_TYPES = STRING_TYPES | NUMBER_TYPES | {"boolean", "date", "datetime", "reference", "id"}


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str
    length: int = 0
    createable: bool = True
    updateable: bool = True
    nillable: bool = True
    external_id: bool = False
    id_lookup: bool = False
    label: str = ""

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label or self.name,
            "type": self.type,
            "length": self.length,
            "createable": self.createable,
            "updateable": self.updateable,
            "nillable": self.nillable,
            "externalId": self.external_id,
            "idLookup": self.id_lookup or self.name == "Id",
            "custom": self.name.endswith("__c"),
        }


@dataclass
class ObjectSpec:
    name: str
    key_prefix: str
    fields: dict[str, FieldSpec] = field(default_factory=dict)  # keyed by lower-case name
    required: tuple[str, ...] = ()
    custom: bool = False
    booleans: tuple[str, ...] = ()

    def field(self, name: str) -> FieldSpec | None:
        return self.fields.get(name.lower())

    def add(self, spec: FieldSpec) -> None:
        self.fields[spec.name.lower()] = spec
        self.booleans = tuple(s.name for s in self.fields.values() if s.type == "boolean")

    def boolean_fields(self) -> tuple[str, ...]:
        """Checkbox fields: never null, false unless set."""
        return self.booleans


# Read-only system fields every object has.
_SYSTEM: dict[str, str] = {
    "Id": "id",
    "IsDeleted": "boolean",
    "CreatedDate": "datetime",
    "CreatedById": "reference",
    "LastModifiedDate": "datetime",
    "LastModifiedById": "reference",
    "SystemModstamp": "datetime",
}

_ADDRESS = {
    "Street": ("textarea", 255),
    "City": ("string", 40),
    "State": ("string", 80),
    "PostalCode": ("string", 20),
    "Country": ("string", 80),
    "StateCode": ("picklist", 10),
    "CountryCode": ("picklist", 10),
    "Latitude": ("double", 0),
    "Longitude": ("double", 0),
    "GeocodeAccuracy": ("picklist", 40),
}

_PERSON = {
    "Salutation": ("picklist", 40),
    "FirstName": ("string", 40),
    "MiddleName": ("string", 40),
    "LastName": ("string", 80),
    "Suffix": ("string", 40),
    "Title": ("string", 128),
    "Email": ("email", 80),
    "Phone": ("phone", 40),
    "MobilePhone": ("phone", 40),
    "Fax": ("phone", 40),
    "Description": ("textarea", 32000),
    "LeadSource": ("picklist", 255),
    "OwnerId": ("reference", 18),
    "HasOptedOutOfEmail": ("boolean", 0),
    "HasOptedOutOfFax": ("boolean", 0),
    "DoNotCall": ("boolean", 0),
    "EmailBouncedReason": ("string", 255),
    "EmailBouncedDate": ("datetime", 0),
    "Jigsaw": ("string", 20),
    "IndividualId": ("reference", 18),
    "RecordTypeId": ("reference", 18),
}

LEAD_WRITABLE: dict[str, tuple[str, int]] = {
    **_PERSON,
    **_ADDRESS,
    "Company": ("string", 255),
    "Website": ("url", 255),
    "Status": ("picklist", 255),
    "Industry": ("picklist", 255),
    "Rating": ("picklist", 255),
    "AnnualRevenue": ("currency", 18),
    "NumberOfEmployees": ("int", 8),
    "IsUnreadByOwner": ("boolean", 0),
    "CompanyDunsNumber": ("string", 9),
}
LEAD_READONLY: dict[str, tuple[str, int]] = {
    "Name": ("string", 121),
    "MasterRecordId": ("reference", 18),
    "PhotoUrl": ("url", 255),
    "IsConverted": ("boolean", 0),
    "ConvertedDate": ("date", 0),
    "ConvertedAccountId": ("reference", 18),
    "ConvertedContactId": ("reference", 18),
    "ConvertedOpportunityId": ("reference", 18),
    "LastActivityDate": ("date", 0),
    "LastViewedDate": ("datetime", 0),
    "LastReferencedDate": ("datetime", 0),
    "JigsawContactId": ("string", 20),
    "Address": ("address", 0),
}

CONTACT_WRITABLE: dict[str, tuple[str, int]] = {
    **_PERSON,
    **{f"Mailing{k}": v for k, v in _ADDRESS.items()},
    **{f"Other{k}": v for k, v in _ADDRESS.items()},
    "AccountId": ("reference", 18),
    "ReportsToId": ("reference", 18),
    "HomePhone": ("phone", 40),
    "OtherPhone": ("phone", 40),
    "AssistantName": ("string", 40),
    "AssistantPhone": ("phone", 40),
    "Department": ("string", 80),
    "Birthdate": ("date", 0),
}
CONTACT_READONLY: dict[str, tuple[str, int]] = {
    "Name": ("string", 121),
    "MasterRecordId": ("reference", 18),
    "PhotoUrl": ("url", 255),
    "LastActivityDate": ("date", 0),
    "LastViewedDate": ("datetime", 0),
    "LastReferencedDate": ("datetime", 0),
    "IsEmailBounced": ("boolean", 0),
    "JigsawContactId": ("string", 20),
    "MailingAddress": ("address", 0),
    "OtherAddress": ("address", 0),
    "LastCURequestDate": ("datetime", 0),
    "LastCUUpdateDate": ("datetime", 0),
}

ACCOUNT_WRITABLE: dict[str, tuple[str, int]] = {
    "Name": ("string", 255),
    "Type": ("picklist", 255),
    "ParentId": ("reference", 18),
    **{f"Billing{k}": v for k, v in _ADDRESS.items()},
    **{f"Shipping{k}": v for k, v in _ADDRESS.items()},
    "Phone": ("phone", 40),
    "Fax": ("phone", 40),
    "AccountNumber": ("string", 40),
    "Website": ("url", 255),
    "Industry": ("picklist", 255),
    "AnnualRevenue": ("currency", 18),
    "NumberOfEmployees": ("int", 8),
    "Description": ("textarea", 32000),
    "OwnerId": ("reference", 18),
    "Site": ("string", 80),
    "AccountSource": ("picklist", 255),
    "Rating": ("picklist", 255),
    "Jigsaw": ("string", 20),
}

OPPORTUNITY_WRITABLE: dict[str, tuple[str, int]] = {
    "Name": ("string", 120),
    "AccountId": ("reference", 18),
    "StageName": ("picklist", 255),
    "CloseDate": ("date", 0),
    "Amount": ("currency", 18),
    "Probability": ("percent", 3),
    "Description": ("textarea", 32000),
    "LeadSource": ("picklist", 255),
    "OwnerId": ("reference", 18),
    "Type": ("picklist", 255),
    "NextStep": ("string", 255),
}

# object name -> (key prefix, writable fields, read-only fields, required on create)
STANDARD_OBJECTS: dict[str, tuple[str, dict[str, tuple[str, int]], dict[str, tuple[str, int]], tuple[str, ...]]] = {
    "Lead": ("00Q", LEAD_WRITABLE, LEAD_READONLY, ("LastName", "Company")),
    "Contact": ("003", CONTACT_WRITABLE, CONTACT_READONLY, ("LastName",)),
    "Account": ("001", ACCOUNT_WRITABLE, {"MasterRecordId": ("reference", 18)}, ("Name",)),
    "Opportunity": (
        "006",
        OPPORTUNITY_WRITABLE,
        {"IsClosed": ("boolean", 0), "IsWon": ("boolean", 0)},
        ("Name", "StageName", "CloseDate"),
    ),
}

ID_LOOKUP_FIELDS = {"Email", "Name", "Id"}
CUSTOM_OBJECT_PREFIX = "a0"


def _spec(name: str, ftype: str, length: int, writable: bool, **kw: Any) -> FieldSpec:
    return FieldSpec(
        name=name,
        type=ftype,
        length=length,
        createable=writable,
        updateable=writable,
        nillable=not writable or ftype != "boolean",
        id_lookup=name in ID_LOOKUP_FIELDS,
        **kw,
    )


def standard_object(name: str) -> ObjectSpec:
    prefix, writable, readonly, required = STANDARD_OBJECTS[name]
    obj = ObjectSpec(name=name, key_prefix=prefix, required=required)
    for fname, ftype in _SYSTEM.items():
        obj.add(_spec(fname, ftype, 18 if ftype in {"id", "reference"} else 0, False))
    for fname, (ftype, length) in readonly.items():
        obj.add(_spec(fname, ftype, length, False))
    for fname, (ftype, length) in writable.items():
        obj.add(_spec(fname, ftype, length, True))
    return obj


def custom_object(name: str, key_prefix: str) -> ObjectSpec:
    obj = ObjectSpec(name=name, key_prefix=key_prefix, custom=True)
    for fname, ftype in _SYSTEM.items():
        obj.add(_spec(fname, ftype, 18 if ftype in {"id", "reference"} else 0, False))
    obj.add(_spec("Name", "string", 80, True))
    obj.add(_spec("OwnerId", "reference", 18, True))
    return obj


def field_from_declaration(name: str, decl: dict[str, Any]) -> FieldSpec:
    """Build a field from an admin declaration such as ``{"type": "string", "length": 80, "externalId": true}``."""
    ftype = str(decl.get("type", "string"))
    if ftype not in KNOWN_TYPES:
        raise ValueError(f"unknown field type {ftype!r} for {name}")
    length = int(decl.get("length", 255 if ftype in STRING_TYPES else 0))
    external = bool(decl.get("externalId", decl.get("external_id", False)))
    return replace(
        _spec(name, ftype, length, True),
        external_id=external,
        id_lookup=external or name in ID_LOOKUP_FIELDS,
        nillable=bool(decl.get("nillable", ftype != "boolean")),
    )


class Schema:
    """All objects of the org: the standard ones plus whatever was declared."""

    def __init__(self) -> None:
        self.objects: dict[str, ObjectSpec] = {}
        self.declarations: list[dict[str, Any]] = []
        self.reset()

    def reset(self) -> None:
        self.objects = {name.lower(): standard_object(name) for name in STANDARD_OBJECTS}
        self.declarations = []

    def get(self, name: str) -> ObjectSpec | None:
        return self.objects.get(name.lower())

    def by_prefix(self, prefix: str) -> ObjectSpec | None:
        for obj in self.objects.values():
            if obj.key_prefix.lower() == prefix.lower():
                return obj
        return None

    def declare(self, object_name: str, fields: dict[str, dict[str, Any]]) -> ObjectSpec:
        """Add fields to an object; a ``__c`` object that does not exist yet is created."""
        if not object_name or not object_name.replace("_", "a").isalnum():
            raise ValueError(f"invalid object name {object_name!r}")
        obj = self.get(object_name)
        if obj is None:
            if not object_name.endswith("__c"):
                raise ValueError(f"unknown standard object {object_name!r}; custom objects end in __c")
            customs = sum(1 for o in self.objects.values() if o.custom)
            obj = custom_object(object_name, f"{CUSTOM_OBJECT_PREFIX}{_base36(customs + 10)}")
            self.objects[object_name.lower()] = obj
        for fname, decl in fields.items():
            if not fname or not fname.replace("_", "a").isalnum():
                raise ValueError(f"invalid field name {fname!r}")
            obj.add(field_from_declaration(fname, decl or {}))
        self.declarations.append({"object": obj.name, "fields": fields})
        return obj


def _base36(n: int) -> str:
    return "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[n % 36]
