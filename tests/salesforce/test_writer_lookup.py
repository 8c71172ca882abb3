"""Look-ups over HTTPS: escaping, chunking under the 16 KB URL cap, paging, case-insensitivity."""

from __future__ import annotations

import pytest

from airflow_provider_rudder_sf.salesforce.writer import SalesforceWriter

ODD_EMAILS = [
    "o'brien@example.com",
    "back\\slash@example.com",
    "fifty%off@example.com",
    "first+tag@example.com",
    "zoë.ünïcode@exämple.com",
    'quote"d@example.com',
]


def _lead(email: str, **extra):
    return {"LastName": "Doe", "Company": "Acme", "Email": email, **extra}


def test_lookup_finds_emails_with_quotes_backslashes_percent_plus_and_unicode(salesforce_emulator, make_client):
    ids = salesforce_emulator.seed("Lead", [_lead(e) for e in ODD_EMAILS])
    writer = SalesforceWriter(make_client(api_reserve=0))
    found = writer.lookup_leads([e.upper() for e in ODD_EMAILS] + ["missing@example.com"])
    assert set(found) == {e.lower() for e in ODD_EMAILS}
    assert {m.id for matches in found.values() for m in matches} == set(ids)


def test_lookup_values_cannot_inject_soql(salesforce_emulator, make_client):
    salesforce_emulator.seed("Lead", [_lead("victim@example.com")])
    writer = SalesforceWriter(make_client(api_reserve=0))
    assert writer.lookup_leads(["x' OR Email != 'y", "x\\' OR Email != \\'y"]) == {}


def test_lookup_reports_conversion_and_duplicates(salesforce_emulator, make_client):
    (contact,) = salesforce_emulator.seed("Contact", [{"LastName": "Doe", "Email": "conv@example.com"}])
    salesforce_emulator.seed(
        "Lead",
        [
            _lead("conv@example.com", IsConverted=True, ConvertedContactId=contact),
            _lead("twice@example.com"),
            _lead("TWICE@example.com"),
        ],
    )
    found = SalesforceWriter(make_client(api_reserve=0)).lookup_leads(["conv@example.com", "twice@example.com"])
    (conv,) = found["conv@example.com"]
    assert conv.is_converted and conv.converted_contact_id == contact
    assert len(found["twice@example.com"]) == 2


def test_two_thousand_emails_take_several_requests_each_under_16kb(salesforce_emulator, make_client):
    emails = [f"person.{n:05d}+tag'{n % 7}@example-{n % 13}.com" for n in range(2_000)]
    salesforce_emulator.seed("Lead", [_lead(e) for e in emails])
    client = make_client(api_reserve=0)
    urls: list[str] = []
    client.session.hooks["response"].append(lambda r, *a, **k: urls.append(r.request.url))
    found = SalesforceWriter(client).lookup_leads(emails)
    assert len(found) == 2_000
    query_urls = [u for u in urls if "/query/" in u]
    assert len(query_urls) >= 5
    assert all(len(u.encode()) < 16_384 for u in query_urls)
    assert all(len(u.encode()) <= 10_000 for u in query_urls)
    assert salesforce_emulator.counters()["by_endpoint"] == {"GET query": len(query_urls)}
    print(f"2,000 e-mails: {len(query_urls)} query calls, longest URL {max(map(len, query_urls))} bytes")


def test_find_ids_follows_next_records_url(salesforce_emulator, make_client):
    salesforce_emulator.seed("Lead", [_lead(f"p{n}@example.com", Company="Paged Co") for n in range(2_500)])
    client = make_client(api_reserve=0)
    found = SalesforceWriter(client).find_ids("Lead", "Company", ["paged co"])
    assert len(found["paged co"]) == 2_500
    assert client.api_calls == 2  # one query, one nextRecordsUrl page


@pytest.mark.parametrize(("sobject", "field"), [("Lead WHERE", "Email"), ("Lead", "Email) OR (Id")])
def test_find_ids_validates_names_before_querying(salesforce_emulator, make_client, sobject, field):
    client = make_client(api_reserve=0)
    with pytest.raises(ValueError, match="not a valid Salesforce API name"):
        SalesforceWriter(client).find_ids(sobject, field, ["x"])
    assert client.api_calls == 0
