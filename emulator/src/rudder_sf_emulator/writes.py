"""Record validation and the write operations (create, update, upsert, delete) shared by every endpoint.

Each operation works on a ``Txn`` and raises ``RecordError`` carrying Salesforce-shaped errors
(``{"statusCode", "message", "fields"}``) that the endpoints render as collection results or REST error lists.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from . import duplicates, ids
from .ids import USER_ID
from .schema import NUMBER_TYPES, STRING_TYPES, FieldSpec, ObjectSpec, Schema
from .store import Record, Txn

_EMAIL_RE = re.compile(r"^(?!\.)[^\s@\"(),:;<>\[\]\\]+@(?:[^\W_](?:[\w-]*[^\W_])?\.)+[^\W\d_]{2,}$", re.UNICODE)
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")


class RecordError(Exception):
    """One record refused. ``parser_message`` marks a value of the wrong JSON type: single-record REST answers
    those for the whole request as ``JSON_PARSER_ERROR`` (as Salesforce does), while Collections and Bulk keep them
    per record as ``INVALID_TYPE_ON_FIELD_IN_RECORD`` so that one bad record cannot hide the others in tests."""

    def __init__(
        self,
        code: str,
        message: str,
        fields: list[str] | None = None,
        status: int = 400,
        duplicate: dict[str, Any] | None = None,
        parser_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields or []
        self.status = status
        self.duplicate = duplicate
        self.parser_message = parser_message

    def save_error(self) -> dict[str, Any]:
        error: dict[str, Any] = {"statusCode": self.code, "message": self.message, "fields": self.fields}
        if self.duplicate is not None:
            error["duplicateResult"] = self.duplicate
        return error

    def rest_error(self) -> dict[str, Any]:
        if self.duplicate is not None:  # the misspelled key is what Salesforce really sends here (note §5.2)
            return {"errorCode": self.code, "message": self.message, "duplicateResut": self.duplicate}
        return {"message": self.message, "errorCode": self.code, "fields": self.fields}


_clock: list[Any] = [0, ""]


def now_iso() -> str:
    """The current time as Salesforce prints it (cached per second: seeding 100,000 records calls this a lot)."""
    second = int(time.time())
    if _clock[0] != second:
        stamp = dt.datetime.fromtimestamp(second, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        _clock[0], _clock[1] = second, stamp
    return str(_clock[1])


def label(spec: FieldSpec) -> str:
    return spec.display_label


_JAVA_TYPES = {"boolean": "boolean", "int": "int", "date": "date", "datetime": "datetime"}


def _token(value: Any) -> str:
    if isinstance(value, bool):
        return "VALUE_TRUE" if value else "VALUE_FALSE"
    if isinstance(value, int):
        return "VALUE_NUMBER_INT"
    if isinstance(value, float):
        return "VALUE_NUMBER_FLOAT"
    if isinstance(value, dict):
        return "START_OBJECT"
    return "START_ARRAY" if isinstance(value, list) else "VALUE_STRING"


def wrong_type(spec: FieldSpec, value: Any) -> RecordError:
    shown = json.dumps(value) if isinstance(value, (dict, list)) else value
    java = _JAVA_TYPES.get(spec.type, "double" if spec.type in NUMBER_TYPES else spec.type)
    if spec.type not in {*_JAVA_TYPES, *NUMBER_TYPES, "multipicklist"}:
        java = "string"
    return RecordError(
        "INVALID_TYPE_ON_FIELD_IN_RECORD",
        f"{label(spec)}: value not of required type: {shown}",
        [spec.name],
        parser_message=f"Cannot deserialize instance of {java} from {_token(value)} value {shown} or request may be"
        " missing a required field",
    )


def _valid_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text[:10])
    except ValueError:
        return False
    return True


@dataclass
class Writer:
    """Writes through one ``Txn``. ``allow_save``: the request carried ``Sforce-Duplicate-Rule-Header:
    allowSave=true``; ``csv``: values come from Bulk CSV cells (all text), so numbers and booleans are parsed;
    ``same_request``: ids already saved by the same request, which duplicate rules do not compare with."""

    schema: Schema
    txn: Txn
    allow_save: bool = False
    version: str = "59.0"
    csv: bool = False
    same_request: Collection[str] = ()

    # -- validation --
    def _number(self, spec: FieldSpec, value: Any) -> Any:
        if isinstance(value, bool) or (isinstance(value, str) and not self.csv):
            raise wrong_type(spec, value)
        if isinstance(value, str):
            try:
                value = float(value) if any(c in value for c in ".eE") else int(value)
            except ValueError:
                raise wrong_type(spec, value) from None
        if not isinstance(value, (int, float)) or (isinstance(value, float) and not math.isfinite(value)):
            raise wrong_type(spec, value)
        if spec.type == "int":
            if isinstance(value, float) and not value.is_integer():
                raise wrong_type(spec, value)
            value = int(value)
        integer_digits = (spec.digits or 18) if spec.type == "int" else spec.precision - spec.scale
        if (spec.precision or spec.type == "int") and abs(value) >= 10**integer_digits:
            raise RecordError(
                "NUMBER_OUTSIDE_VALID_RANGE",
                f"{label(spec)}: value outside of valid range on numeric field: {value}",
                [spec.name],
            )
        return value

    def _restricted(self, spec: FieldSpec, text: str) -> None:
        for choice in text.split(";") if spec.type == "multipicklist" else [text]:
            if choice not in spec.values:
                raise RecordError(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"{label(spec)}: bad value for restricted picklist field: {choice}",
                    [spec.name],
                )

    def _coerce(self, obj: ObjectSpec, spec: FieldSpec, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, (dict, list)):
            raise wrong_type(spec, value)
        if spec.type in STRING_TYPES:
            if isinstance(value, float) and not math.isfinite(value):
                raise wrong_type(spec, value)
            text = value if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
            if spec.restricted and text != "":
                self._restricted(spec, text)
            if spec.length and len(text) > spec.length:
                raise RecordError(
                    "STRING_TOO_LONG",
                    f"{label(spec)}: data value too large: {text[:100]} (max length={spec.length})",
                    [spec.name],
                )
            if spec.type == "email":
                if text == "":
                    return None
                if not _EMAIL_RE.match(text):
                    raise RecordError(
                        "INVALID_EMAIL_ADDRESS", f"{label(spec)}: invalid email address: {text}", [spec.name]
                    )
                return text.lower()
            return text if text != "" else None
        if spec.type == "boolean":
            if isinstance(value, bool):
                return value
            # JSON accepts exactly "true"/"false" (note §3); Bulk CSV cells in any case
            word = value.lower() if self.csv and isinstance(value, str) else value
            if word in {"true", "false"}:
                return word == "true"
            raise wrong_type(spec, value)
        if spec.type in NUMBER_TYPES:
            return self._number(spec, value)
        if spec.type in {"date", "datetime"}:
            pattern = _DATE_RE if spec.type == "date" else _DATETIME_RE
            if not isinstance(value, str) or not pattern.match(value) or not _valid_date(value):
                raise wrong_type(spec, value)
            return value
        if spec.type == "reference":
            if not isinstance(value, str):
                raise wrong_type(spec, value)
            if not ids.is_well_formed(value):
                raise RecordError("MALFORMED_ID", f"{label(spec)}: id value of incorrect type: {value}", [spec.name])
            target = self.schema.by_prefix(str(value)[:3])
            if target is not None and self.txn.get(target.name, ids.lookup_key(value)) is None:
                raise RecordError(
                    "INVALID_CROSS_REFERENCE_KEY", f"{label(spec)}: id value of incorrect type: {value}", [spec.name]
                )
            return value if len(value) == 18 else value + ids.checksum(value)
        return value

    def clean(self, obj: ObjectSpec, body: dict[str, Any], creating: bool, system: bool = False) -> Record:
        """Validate a request body into canonical field names and stored values."""
        if not isinstance(body, dict):
            raise RecordError("JSON_PARSER_ERROR", "Cannot deserialize instance of SObject from a non-object value")
        specs: list[tuple[FieldSpec, Any]] = []
        for name, value in body.items():
            if name == "attributes":
                continue
            spec = obj.field(name)
            if spec is None:
                raise RecordError("INVALID_FIELD", f"No such column '{name}' on sobject of type {obj.name}", [name])
            specs.append((spec, value))
        if not system:
            readonly = [s.name for s, _ in specs if not (s.createable if creating else s.updateable)]
            if readonly:
                raise RecordError(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {', '.join(readonly)}. Please check the security settings of"
                    " this field and verify that it is read/write for your profile or permission set.",
                    readonly,
                )
        return {spec.name: self._coerce(obj, spec, value) for spec, value in specs}

    def _check_required(self, obj: ObjectSpec, record: Record) -> None:
        missing = [name for name in obj.required if record.get(name) in (None, "")]
        if missing:
            raise RecordError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing)

    @staticmethod
    def _derive(obj: ObjectSpec, record: Record) -> None:
        if obj.name in {"Lead", "Contact"}:
            parts = [record.get(k) for k in ("FirstName", "MiddleName", "LastName", "Suffix")]
            record["Name"] = " ".join(p for p in parts if p)
        record["LastModifiedDate"] = record["SystemModstamp"] = now_iso()
        record["LastModifiedById"] = USER_ID

    # -- operations --
    def new_record(self, obj: ObjectSpec, values: Record, record_id: str | None = None) -> Record:
        record: Record = {"Id": record_id or self.txn.new_id(obj.key_prefix), "IsDeleted": False}
        record["CreatedDate"] = now_iso()
        record["CreatedById"] = USER_ID
        if obj.field("OwnerId") is not None:
            record["OwnerId"] = USER_ID
        for name in obj.boolean_fields():
            record.setdefault(name, False)
        if obj.name == "Lead":
            record["Status"] = "Open - Not Contacted"
        record.update({k: v for k, v in values.items() if v is not None})
        self._derive(obj, record)
        return record

    def create(self, obj: ObjectSpec, body: dict[str, Any]) -> str:
        if isinstance(body, dict) and any(k.lower() == "id" for k in body):
            raise RecordError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                "Unable to create/update fields: Id. Please check the security"
                " settings of this field and verify that it is read/write for your profile or permission set.",
                ["Id"],
            )
        values = self.clean(obj, body, creating=True)
        record = self.new_record(obj, values)
        self._check_required(obj, record)
        self._check_unique(obj, record)
        self._check_duplicates(obj, record)
        self.txn.put(obj.name, record)
        self.txn.stats[(obj.name, "created")] += 1
        return str(record["Id"])

    def _check_unique(self, obj: ObjectSpec, record: Record) -> None:
        for spec in obj.fields.values():
            value = record.get(spec.name)
            if not spec.unique or value is None:
                continue
            for key in self.txn.find_by(obj.name, spec.name, value):
                other = self.txn.get(obj.name, key)
                if other is None or other["Id"] == record["Id"] or other.get("IsDeleted"):
                    continue
                if spec.case_sensitive and other.get(spec.name) != value:
                    continue
                raise RecordError(
                    "DUPLICATE_VALUE",
                    f"duplicate value found: {spec.name} duplicates value on record with id: {other['Id']}",
                    [spec.name],
                )

    def _check_duplicates(self, obj: ObjectSpec, record: Record) -> None:
        for rule in self.schema.duplicate_rules:
            if rule.object != obj.name or (rule.action == "alert" and self.allow_save):
                continue
            found = [i for i in duplicates.matches(rule, record, self.txn.store) if i not in self.same_request]
            if found:
                raise RecordError(
                    "DUPLICATES_DETECTED", rule.message, [], duplicate=duplicates.result(rule, found, self.version)
                )

    def existing(self, obj: ObjectSpec, record_id: Any, status: int = 404) -> Record:
        if not ids.is_well_formed(record_id):
            raise RecordError("MALFORMED_ID", f"{obj.name} ID: id value of incorrect type: {record_id}", ["Id"], 400)
        record = self.txn.get(obj.name, ids.lookup_key(record_id))
        if record is None:
            raise (
                RecordError("NOT_FOUND", "The requested resource does not exist", [], status)
                if str(record_id)[:3].lower() == obj.key_prefix.lower()
                else RecordError("MALFORMED_ID", f"{obj.name} ID: id value of incorrect type: {record_id}", ["Id"], 400)
            )
        if record.get("IsDeleted"):
            raise RecordError("ENTITY_IS_DELETED", "entity is deleted", [], status)
        return record

    def update(self, obj: ObjectSpec, record_id: Any, body: dict[str, Any]) -> str:
        current = self.existing(obj, record_id)
        body = {k: v for k, v in body.items() if k.lower() != "id"} if isinstance(body, dict) else body
        values = self.clean(obj, body, creating=False)
        if obj.name == "Lead" and current.get("IsConverted"):
            raise RecordError("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", [])
        record = dict(current)
        for name, value in values.items():
            if value is None:
                record.pop(name, None)
            else:
                record[name] = value
        self._check_required(obj, record)
        self._check_unique(obj, record)
        self._derive(obj, record)
        self.txn.put(obj.name, record)
        self.txn.stats[(obj.name, "updated")] += 1
        return str(record["Id"])

    def upsert(self, obj: ObjectSpec, ext_field: str, value: Any, body: dict[str, Any]) -> tuple[str, bool]:
        spec = self.external_field(obj, ext_field)
        if value in (None, ""):
            raise RecordError("MISSING_ARGUMENT", f"{spec.name} not specified", [spec.name])
        keys = self.txn.find_by(obj.name, spec.name, value)
        body = dict(body) if isinstance(body, dict) else body
        if isinstance(body, dict):
            body.pop(spec.name, None)
        if len(keys) > 1:
            found = [str(self.txn.get(obj.name, k)["Id"]) for k in keys]  # type: ignore[index]
            raise RecordError(
                "DUPLICATE_EXTERNAL_ID",
                f"{spec.name}: more than one record found for external id field: {found}",
                [spec.name],
                300,
            )
        if keys:
            existing = self.txn.get(obj.name, keys[0])
            assert existing is not None
            return self.update(obj, existing["Id"], body), False
        create_body = {**body, spec.name: value} if isinstance(body, dict) else body
        return self.create(obj, create_body), True

    def external_field(self, obj: ObjectSpec, name: str) -> FieldSpec:
        spec = obj.field(name)
        if spec is None or not (spec.external_id or spec.id_lookup) or spec.name == "Id":
            raise RecordError(
                "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {name}", [], 404
            )
        return spec

    def delete(self, obj: ObjectSpec, record_id: Any) -> None:
        record = dict(self.existing(obj, record_id))
        record["IsDeleted"] = True
        self._derive(obj, record)
        self.txn.put(obj.name, record)
        self.txn.stats[(obj.name, "deleted")] += 1
