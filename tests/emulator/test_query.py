"""SOQL over HTTPS: filters, escaping, paging, errors and the 16 KB URL limit."""

from __future__ import annotations

import pytest
from conftest import VERSION
from simple_salesforce import Salesforce, SalesforceMalformedRequest, SalesforceResourceNotFound
from simple_salesforce.format import format_soql

from rudder_sf_emulator.client import EmulatorHandle

TRICKY = [
    "o'neil@example.com",
    "back\\slash@example.com",
    "per%cent@example.com",
    "under_score@example.com",
    "zoë@exämple.com",
    'dq"uote@example.com',
]


def _leads(n: int, start: int = 0) -> list[dict[str, object]]:
    return [{"LastName": f"L{i}", "Company": "Acme", "Email": f"user{i}@example.com"} for i in range(start, n)]


def test_in_and_equality_are_case_insensitive(salesforce_emulator: EmulatorHandle, sf: Salesforce) -> None:
    ids = salesforce_emulator.seed("Lead", _leads(5))
    res = sf.query("SELECT Id, Email FROM Lead WHERE Email IN ('USER1@example.com', 'user3@EXAMPLE.com')")
    assert [r["Id"] for r in res["records"]] == [ids[1], ids[3]]
    assert res["records"][0]["attributes"] == {
        "type": "Lead",
        "url": f"/services/data/v{VERSION}/sobjects/Lead/{ids[1]}",
    }
    assert sf.query("SELECT Id FROM Lead WHERE Email = 'user4@example.com'")["records"][0]["Id"] == ids[4]
    assert sf.query("SELECT Id FROM Lead WHERE Email != 'user4@example.com'")["totalSize"] == 4
    assert sf.query("SELECT Id FROM Lead WHERE Email NOT IN ('user4@example.com')")["totalSize"] == 4


@pytest.mark.parametrize("email", TRICKY)
def test_escaped_values_match_exactly(salesforce_emulator: EmulatorHandle, sf: Salesforce, email: str) -> None:
    salesforce_emulator.seed("Lead", [{"LastName": "x", "Company": "c", "Email": e} for e in TRICKY])
    salesforce_emulator.seed("Lead", [{"LastName": "x", "Company": "c", "Email": "perXcent@example.com"}])
    res = sf.query(format_soql("SELECT Email FROM Lead WHERE Email IN {}", [email, "none@example.com"]))
    assert [r["Email"] for r in res["records"]] == [email]


def test_escape_sequences_decode() -> None:
    from rudder_sf_emulator.soql import decode_string

    assert decode_string(r"a\'b\\c\"d\ne\tf\u00e9") == "a'b\\c\"d\ne\tf\u00e9"


def test_and_or_parentheses_booleans_null_numbers(salesforce_emulator: EmulatorHandle, sf: Salesforce) -> None:
    salesforce_emulator.seed(
        "Lead",
        [
            {"LastName": "A", "Company": "X", "IsConverted": True, "NumberOfEmployees": 10},
            {"LastName": "B", "Company": "Y", "NumberOfEmployees": 50, "Email": "b@example.com"},
            {"LastName": "C", "Company": "X"},
        ],
    )
    q = "SELECT LastName FROM Lead WHERE (Company = 'x' AND IsConverted = false) OR NumberOfEmployees > 20"
    assert [r["LastName"] for r in sf.query(q)["records"]] == ["B", "C"]
    assert sf.query("SELECT Id FROM Lead WHERE Email = null")["totalSize"] == 2
    assert sf.query("SELECT Id FROM Lead WHERE IsConverted = TRUE")["totalSize"] == 1
    res = sf.query("SELECT LastName FROM Lead ORDER BY LastName DESC LIMIT 2")
    assert [r["LastName"] for r in res["records"]] == ["C", "B"]
    assert sf.query("SELECT COUNT() FROM Lead WHERE Company = 'X'")["totalSize"] == 2
    assert sf.query("SELECT Id FROM Lead WHERE LastName LIKE 'a%'")["totalSize"] == 1


def test_paging_4500_records_in_3_pages(salesforce_emulator: EmulatorHandle, sf: Salesforce) -> None:
    salesforce_emulator.seed("Lead", _leads(4500))
    first = sf.query("SELECT Id, Email FROM Lead")
    assert first["totalSize"] == 4500 and first["done"] is False and len(first["records"]) == 2000
    assert first["nextRecordsUrl"].startswith(f"/services/data/v{VERSION}/query/01g")
    assert first["nextRecordsUrl"].endswith("-2000")
    second = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    third = sf.query_more(second["nextRecordsUrl"], identifier_is_url=True)
    assert (len(second["records"]), second["done"]) == (2000, False)
    assert (len(third["records"]), third["done"]) == (500, True) and "nextRecordsUrl" not in third
    emails = [r["Email"] for r in sf.query_all_iter("SELECT Email FROM Lead")]
    assert len(set(emails)) == 4500


def test_query_all_includes_deleted(salesforce_emulator: EmulatorHandle, sf: Salesforce) -> None:
    ids = salesforce_emulator.seed("Lead", _leads(2))
    sf.Lead.delete(ids[0])
    assert sf.query("SELECT Id FROM Lead")["totalSize"] == 1
    assert sf.query_all("SELECT Id FROM Lead", include_deleted=True)["totalSize"] == 2


@pytest.mark.parametrize(
    ("soql_text", "code"),
    [
        ("SELEC Id FROM Lead", "MALFORMED_QUERY"),
        ("SELECT Id FROM Lead WHERE Email = 'unterminated", "MALFORMED_QUERY"),
        ("SELECT Id FROM Lead WHERE Email = 'a\\qb'", "MALFORMED_QUERY"),
        ("SELECT Id FROM Lead WHERE Email = 'a\\%b'", "MALFORMED_QUERY"),
        ("SELECT Id FROM Lead LIMIT", "MALFORMED_QUERY"),
        ("SELECT Id, Nope__c FROM Lead", "INVALID_FIELD"),
        ("SELECT Id FROM Lead WHERE Nope = 1", "INVALID_FIELD"),
    ],
)
def test_bad_soql_is_400(sf: Salesforce, soql_text: str, code: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query(soql_text)
    assert err.value.status == 400
    assert err.value.content[0]["errorCode"] == code


def test_unknown_object_is_invalid_type(sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound) as err:
        sf.query("SELECT Id FROM Nope__c")
    assert err.value.content[0]["errorCode"] == "INVALID_TYPE"


def test_url_over_16kb_is_414(salesforce_emulator: EmulatorHandle, data_url: str, sf: Salesforce) -> None:
    http = salesforce_emulator.session()
    headers = {"Authorization": f"Bearer {sf.session_id}"}
    prefix = f"/services/data/v{VERSION}/query/?q="
    base = "SELECT+Id+FROM+Lead+WHERE+LastName+!%3D+%27"
    fits = base + "a" * (16_384 - len(prefix) - len(base) - 3) + "%27"
    assert len(prefix + fits) == 16_384
    ok = http.get(f"{salesforce_emulator.base_url}{prefix}{fits}", headers=headers)
    assert ok.status_code == 200
    over = base + "a" * (16_384 - len(prefix) - len(base) - 2) + "%27"
    resp = http.get(f"{salesforce_emulator.base_url}{prefix}{over}", headers=headers)
    assert resp.status_code == 414
    assert resp.json()[0]["errorCode"] == "URI_TOO_LONG"
