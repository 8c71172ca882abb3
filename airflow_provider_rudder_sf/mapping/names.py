"""Validation of Salesforce API names and record ids, before they can reach a URL or a SOQL query."""

from __future__ import annotations

import re
from collections.abc import Set as AbstractSet
from functools import lru_cache

_API_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_RECORD_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
_CUSTOM_SUFFIX = "__c"
_MAX_CUSTOM_FIELD_BASE = 40


# Names already seen to be API names. Every record of a run repeats the same few field names, so a record's names
# are checked with one set comparison at C speed. Bounded, because the names come from event data.
_SEEN_API_NAMES: set[str] = set()
_MAX_SEEN_API_NAMES = 4096


def is_api_name(name: object) -> bool:
    """An sObject or field API name: a letter, then letters, digits and underscores."""
    if not isinstance(name, str):
        return False
    if name in _SEEN_API_NAMES:
        return True
    if _API_NAME.fullmatch(name) is None:
        return False
    if len(_SEEN_API_NAMES) < _MAX_SEEN_API_NAMES:
        _SEEN_API_NAMES.add(name)
    return True


def all_api_names(names: AbstractSet[object]) -> bool:
    """Whether every one of ``names`` (a record's keys), read as text, is an API name."""
    return names <= _SEEN_API_NAMES or all(is_api_name(str(name)) for name in names)


def is_record_id(value: object) -> bool:
    """A 15- or 18-character Salesforce record id."""
    return isinstance(value, str) and _RECORD_ID.fullmatch(value) is not None


def record_key_id(record_id: str) -> str:
    """The case-sensitive 15-character form, so 15- and 18-character ids of one record fold together."""
    return record_id[:15]


@lru_cache(maxsize=4096)  # a run sees the same few custom trait keys millions of times
def custom_field_name(trait_key: object) -> str | None:
    """``newProp`` -> ``newProp__c``; a key already ending in ``__c`` is kept. None if it cannot be a field.

    Salesforce custom field names start with a letter, hold letters, digits and single underscores, do not
    end with an underscore, and are at most 40 characters before the suffix.
    """
    if not isinstance(trait_key, str):
        return None
    base = trait_key[: -len(_CUSTOM_SUFFIX)] if trait_key.endswith(_CUSTOM_SUFFIX) else trait_key
    if (
        not base
        or len(base) > _MAX_CUSTOM_FIELD_BASE
        or _API_NAME.fullmatch(base) is None
        or "__" in base
        or base.endswith("_")
    ):
        return None
    return base + _CUSTOM_SUFFIX


def is_field_name(name: str) -> bool:
    """A standard (``FirstName``) or custom (``Plan__c``) field name, as sent with ``map_properties=False``."""
    if name.endswith(_CUSTOM_SUFFIX):
        return custom_field_name(name) is not None
    return _API_NAME.fullmatch(name) is not None and "__" not in name
