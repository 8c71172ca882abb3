"""The spill spool: bounded by events and by bytes, private on disk, and cleaned up after a killed worker."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_rudder_sf.mapping import IdentifyEvent, MappingOptions, classify
from airflow_provider_rudder_sf.sync.spool import SPOOL_PREFIX, Spool, remove_stale_spools, spool_parent

OPTIONS = MappingOptions()


def _event(seq: int, pad: int = 0) -> IdentifyEvent:
    line = json.dumps(
        {
            "type": "identify",
            "integrations": {"Salesforce": True},
            "traits": {"email": f"p{seq % 50}@example.com", "note": "n" * pad},
        }
    )
    event = classify(line, seq, OPTIONS)
    assert isinstance(event, IdentifyEvent), event
    return event


def _spool(parent: Path, **kwargs: int) -> Spool:
    return Spool(spool_dir=parent, **kwargs)


def _fill(spool: Spool, count: int, pad: int = 0, start: int = 0) -> None:
    for seq in range(start, start + count):
        spool.add(_event(seq, pad), f"mem:{seq + 1}")


def test_a_few_small_events_stay_in_memory(tmp_path: Path) -> None:
    with _spool(tmp_path, memory_limit=100) as spool:
        _fill(spool, 100)
        assert not spool.spilled
        assert [len(group) for group in spool.groups_of_events()] == [100]


def test_spills_past_memory_bytes_before_memory_limit(tmp_path: Path) -> None:
    with _spool(tmp_path, memory_limit=1_000_000, memory_bytes=50_000, partitions=4) as spool:
        _fill(spool, 9, pad=5_000)  # about 45 kB of raw text
        assert not spool.spilled
        _fill(spool, 2, pad=5_000, start=9)
        assert spool.spilled
        groups = [{event.seq: event.email for event, _ in group} for group in spool.groups_of_events()]
    assert sorted(seq for group in groups for seq in group) == list(range(11))
    emails = [set(group.values()) for group in groups]
    assert sum(len(e) for e in emails) == len(set().union(*emails)), "a record's events span two partitions"


def test_spill_directory_is_0700_its_files_0600_and_named_by_pid(tmp_path: Path) -> None:
    with _spool(tmp_path, memory_limit=5) as spool:
        _fill(spool, 6)
        assert spool.directory is not None
        directory = Path(spool.directory)
        assert directory.parent == tmp_path
        assert directory.name.startswith(f"{SPOOL_PREFIX}{os.getpid()}-")
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        modes = {stat.S_IMODE(path.stat().st_mode) for path in directory.iterdir()}
        assert modes == {0o600}
    assert not directory.exists()


def test_default_parent_is_private_and_per_user(tmp_path: Path) -> None:
    with Spool(memory_limit=1) as spool:
        _fill(spool, 2)
        assert spool.directory is not None
        assert Path(spool.directory).parent == spool_parent()
    assert stat.S_IMODE(spool_parent().stat().st_mode) == 0o700
    assert spool_parent().name == f"rudder-sf-spool-u{os.getuid()}"


def test_a_parent_others_can_write_is_refused(tmp_path: Path) -> None:
    parent = tmp_path / "shared"
    parent.mkdir(mode=0o777)
    parent.chmod(0o777)
    with _spool(parent, memory_limit=1) as spool, pytest.raises(PermissionError, match="not a private directory"):
        _fill(spool, 2)


_KILLED_WORKER = """
import os, signal, sys
from airflow_provider_rudder_sf.mapping import MappingOptions, classify
from airflow_provider_rudder_sf.sync.spool import Spool

spool = Spool(memory_limit=1, spool_dir=sys.argv[1])
for seq in range(3):
    line = '{"type": "identify", "integrations": {"Salesforce": true}, "traits": {"email": "k%d@example.com"}}' % seq
    spool.add(classify(line, seq, MappingOptions()), "mem")
print(spool.directory, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_new_spool_removes_what_a_killed_worker_left_and_keeps_live_ones(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", _KILLED_WORKER, str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == -9, done.stderr
    left_behind = Path(done.stdout.strip())
    assert left_behind.is_dir() and any(left_behind.iterdir())

    with _spool(tmp_path, memory_limit=1) as live:  # this process's own spool: its owner is alive
        _fill(live, 2)
        assert live.directory is not None
        assert not left_behind.exists(), "the new spool did not remove the dead worker's directory"
        assert remove_stale_spools(tmp_path) == []
        assert Path(live.directory).is_dir()
        unrelated = tmp_path / "not-a-spool-123"
        unrelated.mkdir()
        _spool(tmp_path).close()
        assert unrelated.is_dir() and Path(live.directory).is_dir()


def test_memory_bytes_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="memory_bytes"):
        _spool(tmp_path, memory_bytes=0)


def test_spilled_events_come_back_exactly_as_they_were_classified(tmp_path: Path) -> None:
    lines: list[object] = [
        # context.traits merged under traits, a timestamp, a message id
        json.dumps(
            {
                "type": "identify",
                "messageId": "m-1",
                "timestamp": "2026-11-28T10:00:00.250Z",
                "integrations": {"Salesforce": True},
                "context": {"traits": {"title": "CTO", "email": "a@example.com"}},
                "traits": {"email": "a@example.com", "score": 0.1, "big": 2**70, "tags": ["x", None]},
            }
        ),
        # an rETL target: mapped to the destination, matched by an identifier field
        json.dumps(
            {
                "type": "identify",
                "integrations": {"Salesforce": True},
                "context": {
                    "mappedToDestination": True,
                    "externalId": [{"type": "Salesforce-Account", "id": 42, "identifierType": "AccountNumber"}],
                },
                "traits": {"Name": "Acme ✓"},
            }
        ),
        # an event handed over as a dict, with a lone surrogate JSON cannot encode as UTF-8
        {"type": "identify", "integrations": {"Salesforce": True}, "traits": {"email": "b@example.com", "x": "\ud800"}},
    ]
    events = [classify(line, seq, OPTIONS) for seq, line in enumerate(lines)]
    assert all(isinstance(event, IdentifyEvent) for event in events)
    with _spool(tmp_path, memory_limit=1, partitions=2) as spool:
        for event in events:
            spool.add(event, "origin")
        assert spool.spilled
        back = sorted((event for group in spool.groups_of_events() for event, _ in group), key=lambda e: e.seq)
    assert back == events
    assert [type(target) for target in back[1].targets] == [type(target) for target in events[1].targets]
