"""Objects and fields the emulator knows, as data, shaped by the org profile (``profiles.py``).

Field facts (types, lengths, writability) follow Salesforce's field reference (research notes §1.5, §4). The
tables in ``standard.py`` hold every standard field any org may have; the active profile removes the ones its org
lacks, hides or locks some from the integration user, restricts picklists and brings duplicate rules. Decisions:

* ``CurrencyIsoCode`` and ``Division`` exist only in orgs with multi-currency / divisions turned on; no profile has
  them, so they are unknown (``INVALID_FIELD``) until declared.
* ``Accuracy`` is not a Salesforce field (the address accuracy is ``GeocodeAccuracy``); it does not exist.
* Custom fields (``X__c``) and custom objects exist only once declared.

To add a standard field, add one line to the tables in ``standard.py``.

Declaring fields (``POST /__admin/schema``, ``--schema FILE``, ``EmulatorHandle.declare_fields``)
------------------------------------------------------------------------------------------------
A declaration is ``{"object": "Lead", "fields": {"Plan_Tier__c": {...}, ...}}``, a list of those, or
``{"Lead": {...fields...}, "Thing__c": {...}}`` (optionally under ``"objects"``). An object name ending in ``__c``
that does not exist yet becomes a custom object (``Id``, ``Name``, ``OwnerId`` and system fields). A declared field
replaces a standard one of the same name. Keys of one field, all optional:

=======================  ===================================================================================
``type``                 ``string`` (default), ``textarea``, ``email``, ``phone``, ``url``, ``picklist``,
                         ``multipicklist``, ``combobox``, ``boolean``, ``int``, ``double``, ``currency``,
                         ``percent``, ``date``, ``datetime``, ``reference``, ``id``
``length``               text length (default 255 for text types)
``precision``/``scale``  numbers (defaults: currency 18/2, double 18/0, percent 3/0); ``digits`` for ``int``
                         (default 18); the integer part may have ``precision - scale`` digits
``label``                describe label (default: the name without ``__c``, words split)
``nillable``             default true (false for booleans)
``createable``           default true; false -> writes on create answer ``INVALID_FIELD_FOR_INSERT_UPDATE``
``updateable``           default true; same on update
``values``               picklist / multipicklist values, in order (strings)
``restricted``           picklist only accepts ``values`` (``INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST``)
``externalId``           usable as an upsert key (``external_id`` also accepted)
``unique``               a second live record with the same value -> ``DUPLICATE_VALUE``
``caseSensitive``        uniqueness compares case (default: case-insensitive)
``hidden``               the field exists but the integration user cannot see it: absent from describe,
                         ``INVALID_FIELD`` on write and query; the admin API can still seed it
``referenceTo``          list of object names for ``reference`` fields
=======================  ===================================================================================

Example::

    {"object": "Lead", "fields": {
        "Plan_Tier__c": {"type": "picklist", "values": ["Free", "Pro"], "restricted": true},
        "Ext_Id__c": {"type": "string", "length": 40, "externalId": true, "unique": true},
        "Score__c": {"type": "double", "precision": 5, "scale": 2},
        "Secret__c": {"type": "string", "hidden": true}}}
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from .duplicates import DEFAULT_MESSAGE, RULE_KEYS, DuplicateRule
from .profiles import DEFAULT_PROFILE, Profile, get_profile
from .standard import ADDRESS, STANDARD_OBJECTS, SYSTEM

# type name -> JSON kind used by validation
STRING_TYPES = frozenset({"string", "textarea", "email", "phone", "url", "picklist", "multipicklist", "combobox"})
NUMBER_TYPES = frozenset({"int", "double", "currency", "percent"})
KNOWN_TYPES = STRING_TYPES | NUMBER_TYPES | {"boolean", "date", "datetime", "reference", "id"}
PICKLIST_TYPES = frozenset({"picklist", "multipicklist", "combobox"})
_SOAP_TYPES = {
    "boolean": "xsd:boolean",
    "int": "xsd:int",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
    "id": "tns:ID",
    "reference": "tns:ID",
    "address": "urn:address",
}
_NUMBER_DEFAULTS = {"currency": (18, 2), "double": (18, 0), "percent": (3, 0)}


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
    precision: int = 0
    scale: int = 0
    digits: int = 0
    values: tuple[str, ...] = ()
    restricted: bool = False
    defaulted_on_create: bool = False
    case_sensitive: bool = False
    unique: bool = False
    hidden: bool = False
    calculated: bool = False
    reference_to: tuple[str, ...] = ()
    compound: str | None = None

    @property
    def display_label(self) -> str:
        if self.label:
            return self.label
        base = self.name.removesuffix("__c").replace("_", " ")
        return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", base)

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")

    def describe(self) -> dict[str, Any]:
        text = self.type in STRING_TYPES
        default = self.values[0] if self.defaulted_on_create and self.values else None
        return {
            "name": self.name,
            "label": self.display_label,
            "type": self.type,
            "soapType": _SOAP_TYPES.get(self.type, "xsd:string"),
            "length": self.length,
            "byteLength": 3 * self.length if text else self.length if self.type in {"id", "reference"} else 0,
            "precision": self.precision,
            "scale": self.scale,
            "digits": self.digits,
            "nillable": self.nillable,
            "createable": self.createable,
            "updateable": self.updateable,
            "defaultedOnCreate": self.defaulted_on_create,
            "defaultValue": False if self.type == "boolean" else default,
            "custom": self.custom,
            "calculated": self.calculated,
            "autoNumber": False,
            "externalId": self.external_id,
            "idLookup": self.id_lookup or self.name == "Id",
            "unique": self.unique,
            "caseSensitive": self.case_sensitive,
            "picklistValues": [
                {"active": True, "defaultValue": v == default, "label": v, "validFor": None, "value": v}
                for v in self.values
            ],
            "restrictedPicklist": self.restricted,
            "dependentPicklist": False,
            "controllerName": None,
            "referenceTo": list(self.reference_to),
            "relationshipName": self.name[:-2] if self.type == "reference" and self.name.endswith("Id") else None,
            "compoundFieldName": self.compound,
            "htmlFormatted": False,
            "encrypted": False,
            "deprecatedAndHidden": False,
        }


@dataclass
class ObjectSpec:
    name: str
    key_prefix: str
    fields: dict[str, FieldSpec] = field(default_factory=dict)  # keyed by lower-case name, hidden ones included
    required: tuple[str, ...] = ()
    custom: bool = False
    booleans: tuple[str, ...] = ()

    def field(self, name: str) -> FieldSpec | None:
        """The field as the integration user sees it: hidden fields do not exist."""
        spec = self.fields.get(name.lower())
        return None if spec is None or spec.hidden else spec

    def any_field(self, name: str) -> FieldSpec | None:
        """The field as an admin sees it (seeding, request logs)."""
        return self.fields.get(name.lower())

    def visible(self) -> list[FieldSpec]:
        return [s for s in self.fields.values() if not s.hidden]

    def add(self, spec: FieldSpec) -> None:
        self.fields[spec.name.lower()] = spec
        self.booleans = tuple(s.name for s in self.fields.values() if s.type == "boolean")

    def boolean_fields(self) -> tuple[str, ...]:
        """Checkbox fields: never null, false unless set."""
        return self.booleans


ID_LOOKUP_FIELDS = {"Email", "Name", "Id"}
CUSTOM_OBJECT_PREFIX = "a0"
_NAME_PARTS = {"Salutation", "FirstName", "MiddleName", "LastName", "Suffix"}
_ADDRESS_PREFIXES = ("Mailing", "Other", "Billing", "Shipping", "")
_REFERENCE_TO = {
    "OwnerId": ("User",),
    "CreatedById": ("User",),
    "LastModifiedById": ("User",),
    "AccountId": ("Account",),
    "ParentId": ("Account",),
    "ReportsToId": ("Contact",),
    "ConvertedAccountId": ("Account",),
    "ConvertedContactId": ("Contact",),
    "ConvertedOpportunityId": ("Opportunity",),
    "IndividualId": ("Individual",),
    "RecordTypeId": ("RecordType",),
}
_SCALES = {"Latitude": 15, "Longitude": 15, "AnnualRevenue": 0}
_DEFAULTED = {"Lead": ("Status",)}


def _compound(obj: str, name: str) -> str | None:
    if obj in {"Lead", "Contact"} and name in _NAME_PARTS:
        return "Name"
    for prefix in _ADDRESS_PREFIXES:
        if name.startswith(prefix) and name[len(prefix) :] in ADDRESS and name[len(prefix) :] != "Address":
            return f"{prefix}Address"
    return None


def _spec(name: str, ftype: str, size: int, writable: bool, **kw: Any) -> FieldSpec:
    """A field from a table line; ``size`` as the tables define it (see the module docstring)."""
    length = size if ftype in STRING_TYPES or ftype in {"id", "reference"} else 0
    precision, scale = _NUMBER_DEFAULTS.get(ftype, (0, 0))
    if ftype in _NUMBER_DEFAULTS and size:
        precision = size
    scale = next((s for suffix, s in _SCALES.items() if name.endswith(suffix)), scale)
    return FieldSpec(
        name=name,
        type=ftype,
        length=length,
        createable=writable,
        updateable=writable,
        nillable=not writable or ftype != "boolean",
        id_lookup=name in ID_LOOKUP_FIELDS,
        precision=precision,
        scale=scale,
        digits=size if ftype == "int" else 0,
        defaulted_on_create=(not writable and name in SYSTEM) or ftype == "boolean" or name == "OwnerId",
        reference_to=_REFERENCE_TO.get(name, ()),
        **kw,
    )


def standard_object(name: str, profile: Profile) -> ObjectSpec:
    prefix, writable, readonly, required = STANDARD_OBJECTS[name]
    obj = ObjectSpec(name=name, key_prefix=prefix, required=required)
    removed = set(profile.removed.get(name, ()))
    lines = [(f, t, 18 if t in {"id", "reference"} else 0, False) for f, t in SYSTEM.items()]
    lines += [(f, t, size, False) for f, (t, size) in readonly.items()]
    lines += [(f, t, size, True) for f, (t, size) in writable.items()]
    for fname, ftype, size, can_write in lines:
        if fname in removed:
            continue
        spec = _spec(fname, ftype, size, can_write, compound=_compound(name, fname))
        if fname == "OwnerId" and name == "Lead":
            spec = replace(spec, reference_to=("Group", "User"))
        if fname == "MasterRecordId":
            spec = replace(spec, reference_to=(name,))
        if fname in _DEFAULTED.get(name, ()):
            spec = replace(spec, defaulted_on_create=True, nillable=False)
        if profile.required_not_nillable and fname in (*required, "OwnerId"):
            spec = replace(spec, nillable=False)
        if ftype in PICKLIST_TYPES:
            spec = replace(
                spec, values=profile.picklist(name, fname), restricted=profile.is_(profile.restricted, name, fname)
            )
        if profile.is_(profile.hidden, name, fname):
            spec = replace(spec, hidden=True)
        if profile.is_(profile.read_only, name, fname):
            spec = replace(spec, createable=False, updateable=False)
        obj.add(spec)
    return obj


def custom_object(name: str, key_prefix: str) -> ObjectSpec:
    obj = ObjectSpec(name=name, key_prefix=key_prefix, custom=True)
    for fname, ftype in SYSTEM.items():
        obj.add(_spec(fname, ftype, 18 if ftype in {"id", "reference"} else 0, False))
    obj.add(_spec("Name", "string", 80, True))
    obj.add(_spec("OwnerId", "reference", 18, True))
    return obj


_DECLARATION_KEYS = {
    "type",
    "length",
    "precision",
    "scale",
    "digits",
    "label",
    "nillable",
    "createable",
    "updateable",
    "values",
    "restricted",
    "externalId",
    "external_id",
    "unique",
    "caseSensitive",
    "hidden",
    "referenceTo",
}


def field_from_declaration(name: str, decl: dict[str, Any]) -> FieldSpec:
    """Build a field from an admin declaration such as ``{"type": "string", "length": 80, "externalId": true}``."""
    unknown = set(decl) - _DECLARATION_KEYS
    if unknown:
        raise ValueError(f"unknown declaration keys for {name}: {sorted(unknown)}; known: {sorted(_DECLARATION_KEYS)}")
    ftype = str(decl.get("type", "string"))
    if ftype not in KNOWN_TYPES:
        raise ValueError(f"unknown field type {ftype!r} for {name}")
    length = int(decl.get("length", 255 if ftype in STRING_TYPES else 18 if ftype in {"id", "reference"} else 0))
    precision, scale = _NUMBER_DEFAULTS.get(ftype, (0, 0))
    values = decl.get("values", [])
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ValueError(f"values of {name} must be a list of strings")
    if decl.get("restricted") and (ftype not in PICKLIST_TYPES or not values):
        raise ValueError(f"{name}: only a picklist with values can be restricted")
    external = bool(decl.get("externalId", decl.get("external_id", False)))
    return FieldSpec(
        name=name,
        type=ftype,
        length=length if ftype in STRING_TYPES or ftype in {"id", "reference"} else 0,
        createable=bool(decl.get("createable", True)),
        updateable=bool(decl.get("updateable", True)),
        nillable=bool(decl.get("nillable", ftype != "boolean")),
        external_id=external,
        id_lookup=external or name in ID_LOOKUP_FIELDS,
        label=str(decl.get("label", "")),
        precision=int(decl.get("precision", precision)),
        scale=int(decl.get("scale", scale)),
        digits=int(decl.get("digits", 18)) if ftype == "int" else 0,
        values=tuple(values),
        restricted=bool(decl.get("restricted", False)),
        defaulted_on_create=ftype == "boolean",
        case_sensitive=bool(decl.get("caseSensitive", False)),
        unique=bool(decl.get("unique", False)),
        hidden=bool(decl.get("hidden", False)),
        reference_to=tuple(str(o) for o in decl.get("referenceTo", [])),
    )


class Schema:
    """All objects of the org: the standard ones as the profile shapes them, plus whatever was declared."""

    def __init__(self, profile: str = DEFAULT_PROFILE) -> None:
        self.objects: dict[str, ObjectSpec] = {}
        self.declarations: list[dict[str, Any]] = []
        self.duplicate_rules: list[DuplicateRule] = []
        self.profile = get_profile(profile)
        self.reset()

    def reset(self, profile: str | None = None) -> None:
        if profile is not None:
            self.profile = get_profile(profile)
        self.objects = {name.lower(): standard_object(name, self.profile) for name in STANDARD_OBJECTS}
        self.declarations = []
        self.set_duplicate_rules(list(self.profile.duplicate_rules))

    def get(self, name: str) -> ObjectSpec | None:
        return self.objects.get(name.lower())

    def set_duplicate_rules(self, raw: Any) -> None:
        """Put rule declarations (format: ``duplicates.py``) in force, their object and field names made canonical.
        Raises ``ValueError`` on the first bad one, leaving the rules in force as they were."""
        if isinstance(raw, dict) and "rules" in raw:
            raw = raw["rules"]
        if not isinstance(raw, list):
            raise ValueError("duplicate rules must be a list")
        rules = []
        for item in raw:
            if not isinstance(item, dict) or set(item) - RULE_KEYS:
                raise ValueError(f"a duplicate rule is an object with keys {sorted(RULE_KEYS)}: {item!r}")
            obj, target = self.get(str(item.get("object", ""))), self.get(str(item.get("match_object", "")))
            if obj is None or target is None:
                raise ValueError(f"duplicate rule {item.get('name')!r}: unknown object or match_object")
            if item.get("action") not in {"alert", "block"}:
                raise ValueError(f"duplicate rule {item.get('name')!r}: action must be 'alert' or 'block'")
            names = item.get("match_fields")
            if not isinstance(names, list) or not names:
                raise ValueError(f"duplicate rule {item.get('name')!r}: match_fields must be a non-empty list")
            fields = []
            for name in names:
                mine, theirs = obj.any_field(str(name)), target.any_field(str(name))
                if mine is None or theirs is None:
                    raise ValueError(f"duplicate rule {item.get('name')!r}: {name} is not a field of both objects")
                fields.append(mine.name)
            rule_name = str(item.get("name") or "")
            if not rule_name:
                raise ValueError("a duplicate rule needs a name")
            rules.append(
                DuplicateRule(
                    name=rule_name,
                    object=obj.name,
                    action=str(item["action"]),
                    match_object=target.name,
                    match_fields=tuple(fields),
                    match_rule=str(item.get("match_rule") or f"{target.name}_Match_Rule"),
                    message=str(item.get("message") or DEFAULT_MESSAGE),
                )
            )
        self.duplicate_rules = rules

    def by_prefix(self, prefix: str) -> ObjectSpec | None:
        for obj in self.objects.values():
            if obj.key_prefix.lower() == prefix.lower():
                return obj
        return None

    def declare(self, object_name: str, fields: dict[str, dict[str, Any]]) -> ObjectSpec:
        """Add fields to an object; a ``__c`` object that does not exist yet is created."""
        if not object_name or not object_name.replace("_", "a").isalnum():
            raise ValueError(f"invalid object name {object_name!r}")
        specs = []
        for fname, decl in fields.items():
            if not fname or not fname.replace("_", "a").isalnum():
                raise ValueError(f"invalid field name {fname!r}")
            specs.append(field_from_declaration(fname, decl or {}))
        obj = self.get(object_name)
        if obj is None:
            if not object_name.endswith("__c"):
                raise ValueError(f"unknown standard object {object_name!r}; custom objects end in __c")
            customs = sum(1 for o in self.objects.values() if o.custom)
            obj = custom_object(object_name, f"{CUSTOM_OBJECT_PREFIX}{_base36(customs + 10)}")
            self.objects[object_name.lower()] = obj
        for spec in specs:
            obj.add(spec)
        self.declarations.append({"object": obj.name, "fields": fields})
        return obj


def _base36(n: int) -> str:
    return "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[n % 36]
