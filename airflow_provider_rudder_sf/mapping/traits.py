"""Map one event's traits to the field values of one Salesforce record (design.md rules 4 to 7).

Returns a :class:`Mapped` value or a :class:`MappingError` value; never raises on bad traits.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from airflow_provider_rudder_sf.mapping.fields import (
    COMMON_SYSTEM_FIELDS,
    TABLES,
    Direct,
    FieldTable,
    Nested,
    Sole,
    Source,
    SystemOnly,
)
from airflow_provider_rudder_sf.mapping.names import custom_field_name, is_field_name

_SCALARS = (str, int, float, bool)
_SCALAR_TYPES = frozenset(_SCALARS)
_UNRANKED = 1 << 30  # exact types: decoded JSON never holds subclasses, and a set test is cheaper


class Mapped(NamedTuple):
    """Field values for one record, the read-only fields the traits named but that are never sent, and the fields
    set through an explicit ``field_map`` (which may write protected fields).

    :func:`map_traits` makes ``fields`` a new dict on every call: the caller owns it (the planner folds into it).
    """

    fields: Mapping[str, Any]
    dropped_system_fields: tuple[str, ...]
    explicit: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MappingError:
    code: str
    reason: str


def map_traits(
    traits: Mapping[str, Any],
    sobject: str,
    *,
    map_properties: bool,
    explicit: Mapping[str, str] | None = None,
) -> Mapped | MappingError:
    """Lead and Contact go through their tables when ``map_properties``; anything else goes as it is.

    ``explicit`` (one object's ``field_map``: trait path -> field) wins over both: each path's value goes to its
    field, and the path is no longer read by the table or copied as ``<key>__c``.
    """
    picked: dict[str, Any] | None = None
    if explicit:
        traits, picked = _take_explicit(traits, explicit)
    table = TABLES.get(sobject)
    if table is not None and map_properties:
        mapped = _map_with_table(traits, table)
    else:
        mapped = _as_is(traits, table.system.values() if table is not None else ())
    if not picked or isinstance(mapped, MappingError):
        return mapped
    return Mapped({**mapped.fields, **picked}, mapped.dropped_system_fields, tuple(picked))


def _take_explicit(traits: Mapping[str, Any], explicit: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split off the values of the explicit paths; returns the remaining traits and ``{field: value}``."""
    rest: dict[str, Any] = dict(traits)
    picked: dict[str, Any] = {}
    for path, target in explicit.items():
        value = _pop_path(rest, path.split("."))
        if value is None or value == "":
            continue
        if type(value) not in _SCALAR_TYPES:
            value = _as_json_text(value)
            if value is None:
                continue
        picked[target] = value
    return rest, picked


def _pop_path(container: dict[str, Any], parts: list[str]) -> Any:
    """Remove and return the value at ``parts`` (copying the objects on the way, never mutating the event)."""
    head = parts[0]
    if len(parts) == 1:
        return container.pop(head, None)
    child = container.get(head)
    if type(child) is not dict:
        return None
    copy = dict(child)
    container[head] = copy
    return _pop_path(copy, parts[1:])


def _map_with_table(traits: Mapping[str, Any], table: FieldTable) -> Mapped | MappingError:
    # The hot loop of a run: one dictionary look-up per trait, then a dispatch on the type of its route.
    fields: dict[str, Any] = {}
    ranks: dict[str, int] = {}
    dropped: list[str] = []
    route_of = table.route.get
    for key, value in traits.items():
        if value is None or value == "":
            continue
        route = route_of(key)
        if route is None:  # not in the table: a custom field
            custom = custom_field_name(key)
            if custom is None:
                return _bad_field_name(str(key))
            if type(value) not in _SCALAR_TYPES:
                value = _as_json_text(value)
                if value is None:
                    return _too_deep(key)
            fields[custom] = value
        elif type(route) is Sole:  # ``type(route) is X``: exact, cheap, and narrowed by mypy
            if type(value) not in _SCALAR_TYPES:
                return _not_scalar(key, value)
            fields[route.field] = value
        elif type(route) is Nested:
            if type(value) is dict:
                error = _offer_children(fields, ranks, route.children, key, value)
                if error is not None:
                    return error
            elif route.scalar_sources:
                if type(value) not in _SCALAR_TYPES:
                    return _not_scalar(key, value)
                _offer(fields, ranks, route.scalar_sources, value)
        elif type(route) is Direct:
            if type(value) not in _SCALAR_TYPES:
                return _not_scalar(key, value)
            _offer(fields, ranks, route.sources, value)
        elif type(route) is SystemOnly:
            dropped.append(route.field)
        # NotCopied: nothing to do
    return Mapped(fields, tuple(dropped))


def _offer_children(
    fields: dict[str, Any], ranks: dict[str, int], children: Mapping[str, Source], key: str, value: dict[str, Any]
) -> MappingError | None:
    """``address``/``company`` as an object: each child the table reads goes to its field, as :func:`_offer` does."""
    for child, child_value in value.items():
        source = children.get(child)
        if source is None or child_value is None or child_value == "":
            continue
        if type(child_value) not in _SCALAR_TYPES:
            return _not_scalar(f"{key}.{child}", child_value)
        if source.rank < ranks.get(source.field, _UNRANKED):
            fields[source.field] = child_value
            ranks[source.field] = source.rank
    return None


def _offer(fields: dict[str, Any], ranks: dict[str, int], sources: tuple[Source, ...], value: Any) -> None:
    """Give ``value`` to each field it feeds, unless a stronger (lower-ranked) source already did."""
    for source in sources:
        candidate = value if source.transform is None else source.transform(value)
        if candidate is None or candidate == "":
            continue
        if source.rank < ranks.get(source.field, _UNRANKED):
            fields[source.field] = candidate
            ranks[source.field] = source.rank


def _as_is(traits: Mapping[str, Any], system_fields: Any) -> Mapped | MappingError:
    read_only = COMMON_SYSTEM_FIELDS | {name.lower() for name in system_fields}
    fields: dict[str, Any] = {}
    dropped: list[str] = []
    for key, value in traits.items():
        if _absent(value):
            continue
        if not isinstance(key, str):
            return _bad_field_name(str(key))
        if key.lower() in read_only:
            dropped.append(key)
            continue
        if not is_field_name(key):
            return _bad_field_name(key)
        if isinstance(value, _SCALARS):
            fields[key] = value
        else:
            text = _as_json_text(value)
            if text is None:
                return _too_deep(key)
            fields[key] = text
    return Mapped(fields, tuple(dropped))


def _absent(value: Any) -> bool:
    return value is None or value == ""


def _as_json_text(value: Any) -> str | None:
    """Arrays and objects bound for a custom field become compact JSON text with sorted keys (deterministic).

    None when the value nests deeper than Python can serialise.
    """
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except RecursionError:
        return None


def _too_deep(key: str) -> MappingError:
    return MappingError("invalid_trait_type", f"Trait {key[:60]!r} nests objects too deeply to store as JSON text.")


def _not_scalar(key: str, value: Any) -> MappingError:
    kind = "array" if isinstance(value, list) else "object"
    return MappingError(
        "invalid_trait_type",
        f"Trait {key!r} is a JSON {kind}, but its Salesforce field takes a single value.",
    )


def _bad_field_name(key: str) -> MappingError:
    shown = key if len(key) <= 60 else key[:59] + "…"
    return MappingError(
        "invalid_field_name",
        f"Trait {shown!r} cannot be a Salesforce field name (a letter, then letters, digits and single "
        "underscores, at most 40 characters).",
    )
