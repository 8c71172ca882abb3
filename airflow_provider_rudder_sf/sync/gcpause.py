"""The cyclic garbage collector during a run: a run builds millions of short-lived objects without cycles, and
each collection would walk them (and everything Airflow imported) for nothing."""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

_F = TypeVar("_F", bound=Callable[..., Any])


def gc_frozen(run: _F) -> _F:
    """What exists when a run starts (Airflow, its providers, their imports: hundreds of thousands of objects)
    outlives it; a full garbage collection would walk all of it again each time. Frozen, it is left out."""

    @functools.wraps(run)
    def frozen(*args: Any, **kwargs: Any) -> Any:
        gc.freeze()
        try:
            return run(*args, **kwargs)
        finally:
            gc.unfreeze()

    return cast("_F", frozen)


@contextmanager
def gc_paused() -> Iterator[None]:
    """The CPU-bound phases build millions of short-lived acyclic objects; cyclic GC passes only slow them down.
    The few cycles the HTTP calls leave wait until the pause ends. Also a decorator."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
