"""Org profiles: what describe says on ``full`` and ``minimal``, switching profiles, declarations' new keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import login
from simple_salesforce import Salesforce

from rudder_sf_emulator import EmulatorHandle, start_emulator

GEOCODE = ["Address", "NearAddress", "Block", "Street", "ExtendedZip", "Zip"]
GEOCODE += ["Neighborhood", "City", "County", "State", "Unknown"]
FIELD_KEYS = {
    "name",
    "label",
    "type",
    "soapType",
    "length",
    "byteLength",
    "precision",
    "scale",
    "digits",
    "nillable",
    "createable",
    "updateable",
    "defaultedOnCreate",
    "custom",
    "calculated",
    "externalId",
    "idLookup",
    "unique",
    "caseSensitive",
    "picklistValues",
    "restrictedPicklist",
    "referenceTo",
    "compoundFieldName",
}


def _fields(sf: Salesforce, obj: str) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in getattr(sf, obj).describe()["fields"]}


def _values(field: dict[str, Any]) -> list[str]:
    return [v["value"] for v in field["picklistValues"]]


def test_full_profile_keeps_every_standard_field_writable(sf: Salesforce) -> None:
    lead = _fields(sf, "Lead")
    assert {"StateCode", "CountryCode", "MiddleName", "Suffix", "Jigsaw", "AnnualRevenue", "RecordTypeId"} <= set(lead)
    assert lead["Rating"]["createable"] is True and lead["Rating"]["updateable"] is True
    assert lead["Industry"]["restrictedPicklist"] is False and "Manufacturing" in _values(lead["Industry"])
    assert lead["GeocodeAccuracy"]["restrictedPicklist"] is False
    assert "CurrencyIsoCode" not in lead and "Division" not in lead


@pytest.mark.parametrize(
    ("obj", "name"),
    [
        ("Lead", "StateCode"),
        ("Lead", "CountryCode"),
        ("Lead", "IndividualId"),
        ("Lead", "RecordTypeId"),
        ("Lead", "MiddleName"),
        ("Lead", "Suffix"),
        ("Lead", "Jigsaw"),
        ("Lead", "CompanyDunsNumber"),
        ("Contact", "MailingStateCode"),
        ("Contact", "MailingCountryCode"),
        ("Contact", "OtherStateCode"),
        ("Contact", "OtherCountryCode"),
        ("Contact", "MiddleName"),
    ],
)
def test_minimal_describe_has_no_feature_field(msf: Salesforce, obj: str, name: str) -> None:
    fields = _fields(msf, obj)
    assert name not in fields
    assert "LastName" in fields


@pytest.mark.parametrize(("obj", "name"), [("Lead", "AnnualRevenue"), ("Contact", "Birthdate")])
def test_minimal_describe_hides_fields_from_the_integration_user(msf: Salesforce, obj: str, name: str) -> None:
    assert name not in _fields(msf, obj)


@pytest.mark.parametrize(("obj", "name"), [("Lead", "Rating"), ("Contact", "AssistantPhone")])
def test_minimal_describe_shows_read_only_fields(msf: Salesforce, obj: str, name: str) -> None:
    field = _fields(msf, obj)[name]
    assert (field["createable"], field["updateable"]) == (False, False)


def test_minimal_restricted_picklists_carry_their_values(msf: Salesforce) -> None:
    lead, contact = _fields(msf, "Lead"), _fields(msf, "Contact")
    assert lead["GeocodeAccuracy"]["restrictedPicklist"] is True and _values(lead["GeocodeAccuracy"]) == GEOCODE
    assert _values(contact["MailingGeocodeAccuracy"]) == GEOCODE
    assert contact["MailingGeocodeAccuracy"]["restrictedPicklist"] is True
    assert _values(lead["Industry"]) == ["Technology", "Finance", "Healthcare", "Retail"]
    assert lead["Industry"]["restrictedPicklist"] is True
    assert _values(lead["Salutation"]) == ["Mr.", "Ms.", "Mrs.", "Dr.", "Prof.", "Mx."]
    entry = lead["GeocodeAccuracy"]["picklistValues"][0]
    assert entry == {"active": True, "defaultValue": False, "label": "Address", "validFor": None, "value": "Address"}


def test_minimal_unrestricted_picklists_still_list_values(msf: Salesforce) -> None:
    lead = _fields(msf, "Lead")
    for name in ("Status", "LeadSource", "Rating"):
        assert lead[name]["restrictedPicklist"] is False and _values(lead[name]), name
    status = lead["Status"]
    assert status["defaultedOnCreate"] is True and status["nillable"] is False
    assert [v["value"] for v in status["picklistValues"] if v["defaultValue"]] == ["Open - Not Contacted"]


def test_describe_field_keys_and_values(sf: Salesforce) -> None:
    lead = _fields(sf, "Lead")
    for field in lead.values():
        assert set(field) >= FIELD_KEYS, field["name"]
    email = lead["Email"]
    assert (email["soapType"], email["length"], email["byteLength"], email["idLookup"]) == ("xsd:string", 80, 240, True)
    assert (lead["Latitude"]["precision"], lead["Latitude"]["scale"], lead["Latitude"]["length"]) == (18, 15, 0)
    assert (lead["NumberOfEmployees"]["digits"], lead["NumberOfEmployees"]["soapType"]) == (8, "xsd:int")
    assert (lead["AnnualRevenue"]["precision"], lead["AnnualRevenue"]["scale"]) == (18, 0)
    assert lead["OwnerId"]["referenceTo"] == ["Group", "User"] and lead["OwnerId"]["soapType"] == "tns:ID"
    assert lead["FirstName"]["compoundFieldName"] == "Name"
    assert lead["GeocodeAccuracy"]["compoundFieldName"] == "Address"
    assert _fields(sf, "Contact")["MailingCity"]["compoundFieldName"] == "MailingAddress"
    assert lead["AnnualRevenue"]["label"] == "Annual Revenue"


def test_describe_top_level_and_counted_as_one_call(salesforce_emulator: EmulatorHandle, sf: Salesforce) -> None:
    described = sf.Lead.describe()
    assert {"name", "label", "keyPrefix", "custom", "createable", "updateable", "queryable", "fields", "urls"} <= set(
        described
    )
    assert (described["name"], described["keyPrefix"], described["custom"]) == ("Lead", "00Q", False)
    assert described["urls"]["describe"] == "/services/data/v59.0/sobjects/Lead/describe"
    assert salesforce_emulator.counters()["by_endpoint"] == {"GET describe": 1}


def test_profile_switches_through_reset_and_back(salesforce_emulator: EmulatorHandle) -> None:
    assert salesforce_emulator.profile() == "full"
    salesforce_emulator.reset(schema=True, profile="minimal")
    assert salesforce_emulator.profile() == "minimal"
    assert "AnnualRevenue" not in _fields(login(salesforce_emulator), "Lead")
    salesforce_emulator.reset()
    assert salesforce_emulator.profile() == "full"
    assert "AnnualRevenue" in _fields(login(salesforce_emulator), "Lead")


def test_unknown_profile_is_refused(salesforce_emulator: EmulatorHandle) -> None:
    with pytest.raises(RuntimeError, match="unknown org profile 'huge'"):
        salesforce_emulator.reset(profile="huge")
    assert salesforce_emulator.profile() == "full"


def test_start_emulator_with_org_profile_and_schema_file(tmp_path: Path) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"object": "Lead", "fields": {"Tier__c": {"type": "picklist", "values": ["A"]}}}))
    with start_emulator(tmp_path / "data", org_profile="minimal", schema=str(schema)) as emu:
        assert emu.profile() == "minimal"
        emu.reset(schema=True)  # back to the start-up profile, which is minimal here; the file still applies
        assert emu.profile() == "minimal"
        lead = _fields(login(emu), "Lead")
        assert "StateCode" not in lead and _values(lead["Tier__c"]) == ["A"]


def test_declarations_work_on_minimal_with_every_key(minimal: EmulatorHandle, msf: Salesforce) -> None:
    minimal.declare_fields(
        "Lead",
        {
            "Plan__c": {"type": "picklist", "values": ["Free", "Pro"], "restricted": True, "label": "Plan"},
            "Code__c": {"type": "string", "length": 10, "unique": True, "caseSensitive": True, "externalId": True},
            "Score__c": {"type": "double", "precision": 5, "scale": 2},
            "Locked__c": {"type": "string", "createable": False, "updateable": False},
            "Once__c": {"type": "string", "updateable": False},
            "Secret__c": {"type": "string", "hidden": True},
        },
    )
    lead = _fields(msf, "Lead")
    assert lead["Plan__c"]["restrictedPicklist"] is True and _values(lead["Plan__c"]) == ["Free", "Pro"]
    assert lead["Plan__c"]["label"] == "Plan" and lead["Plan__c"]["custom"] is True
    code = lead["Code__c"]
    assert (code["unique"], code["caseSensitive"], code["externalId"], code["byteLength"]) == (True, True, True, 30)
    assert (lead["Score__c"]["precision"], lead["Score__c"]["scale"]) == (5, 2)
    assert (lead["Locked__c"]["createable"], lead["Locked__c"]["updateable"]) == (False, False)
    assert (lead["Once__c"]["createable"], lead["Once__c"]["updateable"]) == (True, False)
    assert "Secret__c" not in lead


def test_declaration_with_unknown_key_is_refused(salesforce_emulator: EmulatorHandle) -> None:
    with pytest.raises(RuntimeError, match="unknown declaration keys"):
        salesforce_emulator.declare_fields("Lead", {"X__c": {"type": "string", "restrict": True}})


def test_admin_seed_can_fill_a_hidden_field(minimal: EmulatorHandle, msf: Salesforce) -> None:
    [lead_id] = minimal.seed("Lead", [{"LastName": "a", "Company": "b", "AnnualRevenue": 5}])
    assert minimal.records("Lead")[0]["AnnualRevenue"] == 5
    with pytest.raises(Exception, match="INVALID_FIELD"):
        msf.query("SELECT AnnualRevenue FROM Lead")
    assert "AnnualRevenue" not in msf.Lead.get(lead_id)
