"""10,000 hostile lines mixed into good events: the task finishes, every bad line is a dead letter with a reason,
every good event is applied, and no hostile line becomes a record."""

from __future__ import annotations

import json
import random

import pytest

from airflow_provider_rudder_sf.deadletter import read_dead_letters
from airflow_provider_rudder_sf.operators.identify import IdentifyToSalesforceOperator

from .conftest import assert_counts_add_up, assert_exactly_once, latest_traits, synthetic_lines

HOSTILE = 10_000
BASE = '{"type":"identify","integrations":{"Salesforce":true},'


def _event(traits: object, **extra: object) -> str:
    event = {"type": "identify", "integrations": {"Salesforce": True}, "traits": traits, **extra}
    return json.dumps(event)


def hostile_line(rng: random.Random, i: int) -> bytes:
    """One line that must end in the dead letter: it names no synthetic ``user...`` e-mail, so it can never
    share a record (and a fold) with a good event."""
    email = f"hostile{i}@attack.example"
    kind = i % 20
    if kind == 0:  # random bytes (never a newline), starting with a byte no JSON text starts with
        return b"\x00" + bytes(
            rng.choice([b for b in range(256) if b not in (10, 13)]) for _ in range(rng.randrange(1, 300))
        )
    if kind == 1:  # a huge e-mail
        return _event({"email": "a" * (2_000_000 if i % 1_000 == 1 else 20_000) + "@attack.example"}).encode()
    if kind == 2:  # a huge value in a mapped field (longer than the describe's length: a field error)
        return _event({"email": email, "firstName": "F" * (1_000_000 if i % 1_000 == 2 else 5_000)}).encode()
    if kind == 3:  # deep nesting, just under Python's recursion limit (deeper: see the test below)
        depth = 900
        return (BASE + '"traits":' + '{"a":' * depth + "1" + "}" * depth + "}").encode()
    if kind == 4:  # deeply nested arrays as the whole line
        return ("[" * 900 + "]" * 900).encode()
    if kind == 5:  # wrong types everywhere
        return _event(rng.choice([[], "traits", 42, True]), context=rng.choice(["ctx", 1, []])).encode()
    if kind == 6:
        return _event({"email": rng.choice([42, True, ["a@b.co"], {"x": 1}, 1.5])}).encode()
    if kind == 7:
        return _event(
            {"email": email}, timestamp=rng.choice([123, {"t": 1}, [], "not a time", "2026-13-45T99:99"])
        ).encode()
    if kind == 8:
        return _event({"email": email, "firstName": {"nested": ["x"]}}).encode()
    if kind == 9:  # a lone surrogate in the e-mail
        return (BASE + '"traits":{"email":"\\ud800' + str(i) + '@attack.example"}}').encode()
    if kind == 10:  # NUL and a lone surrogate inside a trait key
        return (BASE + '"traits":{"email":"' + email + '","a\\u0000b":1,"\\udfff":2}}').encode()
    if kind == 11:  # unicode look-alikes of "@", line and paragraph separators inside the e-mail
        return _event(
            {"email": rng.choice([f"x{i}\uff20attack.example", f"x{i}\u2028@attack.example", f"\u2029{i}@a.example"])}
        ).encode()
    if kind == 12:  # numbers out of range
        return (BASE + '"traits":{"email":"' + email + '","logins":1e400}}').encode()
    if kind == 13:
        return (BASE + '"traits":{"email":"' + email + '","logins":-1e400,"plan":1' + "0" * 5000 + "}}").encode()
    if kind == 14:  # very long keys
        return _event({"email": email, "k" * (100_000 if i % 1_000 == 14 else 1_000): 1}).encode()
    if kind == 15:  # keys that cannot be field names
        return _event({"email": email, rng.choice(["Id; DROP", "a b", "", "__c", "ünïcode", "x.y"]): "v"}).encode()
    if kind == 16:  # an externalId naming a bad object or id
        return _event({"email": email}, context={"externalId": [{"type": "Salesforce-../../x", "id": "1"}]}).encode()
    if kind == 17:
        return _event(
            {"email": email}, context={"externalId": [{"type": "Salesforce-Lead", "id": "' OR 1=1"}]}
        ).encode()
    if kind == 18:  # truncated JSON
        return _event({"email": email, "title": "cut"}).encode()[: rng.randrange(5, 40)]
    return _event({"email": email, "logins": "not a number"}).encode()  # wrong type for a double field


@pytest.mark.slow
def test_hostile_lines_are_dead_lettered_with_reasons_and_good_events_are_applied(crm, tmp_path):
    rng = random.Random(2026)
    good = synthetic_lines(3_000, 2_000, seed=21, bad_fraction=0.0)
    expected = latest_traits(good)
    lines: list[bytes] = [line.encode() for line in good]
    hostile_at: set[int] = set()
    for i in range(HOSTILE):
        position = rng.randrange(len(lines) + 1)
        lines.insert(position, hostile_line(rng, i))
    good_objects = set()
    for seq, line in enumerate(lines):  # after all insertions: a synthetic line starts like this, no hostile one does
        if line.startswith(b'{"type":"identify","messageId"') or line.startswith(b'{"type":"track"'):
            good_objects.add(seq)
        else:
            hostile_at.add(seq)
    assert len(hostile_at) == HOSTILE and len(good_objects) == len(good)
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")

    summary = IdentifyToSalesforceOperator(
        task_id="sync",
        events=str(path),
        dead_letter=str(tmp_path / "dead"),
        max_dead_letter_ratio=1.0,
        on_field_error="reject",  # a hostile field makes the whole event a dead letter, never a partial record
    ).execute(context={})

    dead = list(read_dead_letters(tmp_path / "dead"))
    by_seq = {d["seq"]: d for d in dead}
    assert len(by_seq) == len(dead), "one dead letter per event"
    not_dead = sorted(hostile_at - by_seq.keys())
    assert not not_dead, (
        f"{len(not_dead)} hostile lines are not dead letters, e.g. {[lines[s][:120] for s in not_dead[:3]]}"
    )
    wrongly_dead = sorted(by_seq.keys() - hostile_at)
    assert not wrongly_dead, f"good events dead-lettered: {[by_seq[s]['code'] for s in wrongly_dead[:5]]}"
    for letter in dead:
        assert letter["stage"] in {"parse", "validate", "schema", "salesforce"}
        assert isinstance(letter["code"], str) and letter["code"]
        assert isinstance(letter["reason"], str) and len(letter["reason"]) > 10
        assert "event" in letter
    assert summary["unsent"] == 0
    assert summary["dead_lettered"] == HOSTILE
    assert_counts_add_up(summary)
    assert_exactly_once(crm, expected)  # also: no Lead for any hostile e-mail


@pytest.mark.parametrize("depth", [1_500, 100_000])
def test_a_line_nested_too_deeply_is_a_dead_letter_not_a_crash(crm, tmp_path, depth):
    good = synthetic_lines(20, 20, seed=4, bad_fraction=0.0, not_enabled_fraction=0.0, track_fraction=0.0)
    deep = BASE + '"traits":' + '{"a":' * depth + "1" + "}" * depth + "}"
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join([good[0], "[" * depth + "]" * depth, deep, *good[1:]]) + "\n")

    summary = IdentifyToSalesforceOperator(
        task_id="sync",
        events=str(path),
        dead_letter=str(tmp_path / "dead"),
        max_dead_letter_ratio=1.0,
        on_field_error="reject",  # a hostile field makes the whole event a dead letter, never a partial record
    ).execute(context={})

    dead = list(read_dead_letters(tmp_path / "dead"))
    assert sorted(d["seq"] for d in dead) == [1, 2]
    assert all(d["code"] == "invalid_json" and d["reason"] for d in dead)
    assert summary["applied"] == 20
    assert_exactly_once(crm, latest_traits(good))


def test_an_email_with_invisible_or_control_characters_is_a_dead_letter(crm, tmp_path):
    emails = ["nul\u0000x@attack.example", "a\u200bb@attack.example", "\u202ertl@attack.example"]
    summary = IdentifyToSalesforceOperator(
        task_id="sync",
        events=[json.loads(_event({"email": e})) for e in emails],
        dead_letter=str(tmp_path / "dead"),
        max_dead_letter_ratio=1.0,
    ).execute(context={})
    assert crm.records("Lead") == []
    assert summary["dead_lettered"] == 3
