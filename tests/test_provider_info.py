from __future__ import annotations

import subprocess
import sys
from importlib.metadata import distribution, entry_points

from airflow_provider_rudder_sf import get_provider_info


def test_entry_point_returns_provider_info_with_the_declarative_connection_form():
    (entry,) = [e for e in entry_points(group="apache_airflow_provider") if e.value.startswith("airflow_provider")]
    info = entry.load()()
    assert info["package-name"] == "airflow-provider-rudder-sf"
    (conn_type,) = info["connection-types"]
    assert conn_type["connection-type"] == "rudder_salesforce"
    assert conn_type["hook-class-name"] == "airflow_provider_rudder_sf.hooks.salesforce.RudderSalesforceHook"
    assert set(conn_type["conn-fields"]) >= {"security_token", "sandbox", "ca_bundle", "api_version"}
    assert conn_type["conn-fields"]["security_token"]["schema"]["format"] == "password"
    assert set(conn_type["ui-field-behaviour"]["hidden-fields"]) == {"schema", "port", "extra"}


def test_provider_info_validates_against_airflow_runtime_schema():
    import json
    from importlib.resources import files

    import jsonschema

    schema = json.loads(files("airflow").joinpath("provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_airflow_providers_list_shows_the_provider():
    out = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "list"], capture_output=True, text=True, check=True
    )
    assert "airflow-provider-rudder-sf" in out.stdout


def test_the_bulk_trigger_is_registered_and_importable():
    import importlib

    (entry,) = get_provider_info()["triggers"]
    (module,) = entry["python-modules"]
    assert importlib.import_module(module).BulkJobsTrigger.__module__ == module
    out = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "triggers"], capture_output=True, text=True, check=True
    )
    assert "BulkJobsTrigger" in out.stdout or module in out.stdout


def test_the_provider_distribution_declares_no_pytest_plugin_and_no_emulator_extra():
    # The emulator and its fixtures are the rudder-sf-emulator distribution: installing the provider must not load a
    # pytest plugin into every pytest run of a deployment.
    dist = distribution("airflow-provider-rudder-sf")
    assert {(e.group, e.name) for e in dist.entry_points} == {("apache_airflow_provider", "provider_info")}
    assert "emulator" not in (dist.metadata.get_all("Provides-Extra") or [])
