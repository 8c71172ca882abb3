"""Every Airflow name this package uses that moved between Airflow 3.0 and 3.3, from one place.

The package imports these names only from here (``tests/test_compat.py`` scans the source to keep it so). Each
name is looked up on first use, newest location first, so importing this module does not import Airflow, and a
module that needs only ``ObjectStoragePath`` does not pull in the trigger machinery.

Where each name lives, checked by importing it in real installs of 3.0.6, 3.1.8, 3.2.2 and 3.3.2 (Python 3.11):

=========================== ============================ ============================ =============================
Name                        3.0.x                        3.1.x                        3.2.x / 3.3.x
=========================== ============================ ============================ =============================
``AirflowException``        ``airflow.exceptions`` only  both (the same class)        ``airflow.sdk.exceptions``
                                                                                      (``airflow.exceptions`` is an
                                                                                      alias)
``AirflowFailException``    ``airflow.exceptions``       ``airflow.exceptions``       ``airflow.sdk.exceptions``
``AirflowSkipException``    ``airflow.exceptions``       ``airflow.exceptions``       ``airflow.sdk.exceptions``
``AirflowNotFoundException`` ``airflow.exceptions``      ``airflow.exceptions``       ``airflow.sdk.exceptions``
``TaskDeferred``            ``airflow.exceptions``       ``airflow.exceptions``       ``airflow.sdk.exceptions``
``BaseHook``                ``airflow.hooks.base``       ``airflow.sdk``              ``airflow.sdk``
                            (not in ``airflow.sdk``)
``BaseOperator``            ``airflow.sdk``              ``airflow.sdk``              ``airflow.sdk``
``Asset``                   ``airflow.sdk``              ``airflow.sdk``              ``airflow.sdk``
``ObjectStoragePath``       ``airflow.sdk``              ``airflow.sdk``              ``airflow.sdk``
``Context``                 ``airflow.sdk``              ``airflow.sdk``              ``airflow.sdk``
``mask_secret``             ``airflow.sdk.log``          ``airflow.sdk.log``          ``airflow.sdk.log``
``conf``                    ``airflow.configuration``    ``airflow.configuration``    ``airflow.sdk``
``BaseTrigger``             ``airflow.triggers.base``    ``airflow.triggers.base``    ``airflow.triggers.base``
``TriggerEvent``            ``airflow.triggers.base``    ``airflow.triggers.base``    ``airflow.triggers.base``
=========================== ============================ ============================ =============================

In every version the old and the new location give the *same* class where both exist, so ``except
AirflowException`` here catches what Airflow itself raises. The Task SDK's ``BaseOperator`` on 3.0 has no
``xcom_push`` helper: push through ``context["ti"].xcom_push`` instead.

This module deliberately does not use ``apache-airflow-providers-common-compat``: a runtime dependency on it would
tie our Airflow floor to its own.
"""

from __future__ import annotations

import importlib
from importlib import metadata
from typing import TYPE_CHECKING, Any

from packaging.version import Version

if TYPE_CHECKING:  # type checkers see the newest locations (the pinned development Airflow)
    from airflow.sdk import Asset, BaseHook, BaseOperator, Context, ObjectStoragePath, conf
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowNotFoundException,
        AirflowSkipException,
        TaskDeferred,
    )
    from airflow.sdk.log import mask_secret
    from airflow.triggers.base import BaseTrigger, TriggerEvent

_EXCEPTIONS = ("airflow.sdk.exceptions", "airflow.exceptions")

#: name -> modules to try, newest first.
LOCATIONS: dict[str, tuple[str, ...]] = {
    "AirflowException": _EXCEPTIONS,
    "AirflowFailException": _EXCEPTIONS,
    "AirflowSkipException": _EXCEPTIONS,
    "AirflowNotFoundException": _EXCEPTIONS,
    "TaskDeferred": _EXCEPTIONS,
    "BaseHook": ("airflow.sdk", "airflow.hooks.base"),
    "BaseOperator": ("airflow.sdk", "airflow.models.baseoperator"),
    "Asset": ("airflow.sdk",),
    "ObjectStoragePath": ("airflow.sdk", "airflow.io.path"),
    "Context": ("airflow.sdk", "airflow.utils.context"),
    "mask_secret": ("airflow.sdk.log", "airflow.sdk.execution_time.secrets_masker"),
    "conf": ("airflow.sdk", "airflow.configuration"),
    "BaseTrigger": ("airflow.triggers.base",),
    "TriggerEvent": ("airflow.triggers.base",),
}


def _airflow_version() -> Version:
    for distribution in ("apache-airflow-core", "apache-airflow"):
        try:
            return Version(Version(metadata.version(distribution)).base_version)
        except metadata.PackageNotFoundError:
            continue
    import airflow  # a source checkout without installed metadata

    return Version(Version(airflow.__version__).base_version)


#: The installed Airflow (release part only: ``3.1.0rc1`` counts as ``3.1.0``).
AIRFLOW_VERSION: Version = _airflow_version()
AIRFLOW_V_3_1_PLUS: bool = Version("3.1.0") <= AIRFLOW_VERSION
AIRFLOW_V_3_2_PLUS: bool = Version("3.2.0") <= AIRFLOW_VERSION
AIRFLOW_V_3_3_PLUS: bool = Version("3.3.0") <= AIRFLOW_VERSION

__all__ = [
    "AIRFLOW_VERSION",
    "AIRFLOW_V_3_1_PLUS",
    "AIRFLOW_V_3_2_PLUS",
    "AIRFLOW_V_3_3_PLUS",
    "LOCATIONS",
    "AirflowException",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowSkipException",
    "Asset",
    "BaseHook",
    "BaseOperator",
    "BaseTrigger",
    "Context",
    "ObjectStoragePath",
    "TaskDeferred",
    "TriggerEvent",
    "conf",
    "mask_secret",
]


def resolve(name: str) -> tuple[str, Any]:
    """Return ``(module, object)`` for a name of :data:`LOCATIONS`: the first module, newest first, that has it."""
    tried = []
    for module_name in LOCATIONS[name]:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name is None or not (module_name + ".").startswith(error.name + "."):
                raise  # a dependency of that module is missing: a real error, not an older Airflow
            tried.append(f"{module_name} (no such module)")
            continue
        if hasattr(module, name):
            return module_name, getattr(module, name)
        tried.append(f"{module_name} (no {name})")
    raise ImportError(
        f"airflow-provider-rudder-sf cannot find {name} in Airflow {AIRFLOW_VERSION}: tried {', '.join(tried)}"
    )


def __getattr__(name: str) -> Any:
    if name not in LOCATIONS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    _, value = resolve(name)
    globals()[name] = value  # later look-ups are plain attribute reads
    return value
