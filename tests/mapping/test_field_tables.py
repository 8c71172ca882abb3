"""Every row of the Lead and Contact tables (design.md rule 4), driven from one table of cases."""

from __future__ import annotations

import pytest

from airflow_provider_rudder_sf.mapping import LeadMatch, MappingOptions
from airflow_provider_rudder_sf.mapping.fields import (
    CONTACT_ROWS,
    LEAD_ROWS,
    LEAD_SYSTEM_FIELDS,
    LEAD_TABLE,
    TRANSFORMS,
    Direct,
    Nested,
    NotCopied,
    Sole,
    Source,
    SystemOnly,
    compile_table,
)

from .helpers import identify, only_write_fields, plan_for

EMAIL = "ada@example.com"

# (Salesforce field, traits, expected value). One case per table row and per fallback source.
LEAD_CASES = [
    ("AnnualRevenue", {"company": {"annualRevenue": 1000000}}, 1000000),
    ("City", {"address": {"city": "Berlin"}}, "Berlin"),
    ("City", {"city": "Paris"}, "Paris"),
    ("Company", {"company": {"name": "Acme"}}, "Acme"),
    ("Company", {"company": "Globex"}, "Globex"),
    ("CompanyDunsNumber", {"company": {"companyDunsNumber": "123456789"}}, "123456789"),
    ("CompanyDunsNumber", {"companyDunsNumber": "987654321"}, "987654321"),
    ("Country", {"address": {"country": "DE"}}, "DE"),
    ("Country", {"country": "FR"}, "FR"),
    ("CountryCode", {"address": {"countryCode": "DE"}}, "DE"),
    ("CountryCode", {"countryCode": "FR"}, "FR"),
    ("CurrencyIsoCode", {"currencyIsoCode": "EUR"}, "EUR"),
    ("Description", {"description": "A lead"}, "A lead"),
    ("Division", {"division": "EMEA"}, "EMEA"),
    ("Email", {}, EMAIL),
    ("EmailBouncedDate", {"emailBouncedDate": "2026-01-01T00:00:00Z"}, "2026-01-01T00:00:00Z"),
    ("EmailBouncedReason", {"emailBouncedReason": "mailbox full"}, "mailbox full"),
    ("Fax", {"fax": "+1-555-0100"}, "+1-555-0100"),
    ("FirstName", {"firstName": "Ada"}, "Ada"),
    ("FirstName", {"name": "Grace Brewster Hopper"}, "Grace"),
    ("GeocodeAccuracy", {"geocodeAccuracy": "Street"}, "Street"),
    # RudderStack's documented "Accuracy" row names no Salesforce field: its keys feed GeocodeAccuracy.
    ("GeocodeAccuracy", {"address": {"accuracy": "Address"}}, "Address"),
    ("GeocodeAccuracy", {"accuracy": "Zip"}, "Zip"),
    ("HasOptedOutOfEmail", {"hasOptedOutOfEmail": True}, True),
    ("HasOptedOutOfFax", {"hasOptedOutOfFax": False}, False),
    ("IndividualId", {"individualId": "0PKxx0000000001"}, "0PKxx0000000001"),
    ("Industry", {"company": {"industry": "Technology"}}, "Technology"),
    ("IsUnreadByOwner", {"isUnreadByOwner": True}, True),
    ("Jigsaw", {"jigsaw": "J1"}, "J1"),
    ("LastName", {"lastName": "Lovelace"}, "Lovelace"),
    ("LastName", {"name": "Grace Brewster Hopper"}, "Hopper"),
    ("Latitude", {"address": {"latitude": 52.5}}, 52.5),
    ("Latitude", {"latitude": 48.8}, 48.8),
    ("LeadSource", {"LeadSource": "Web"}, "Web"),
    ("Longitude", {"address": {"longitude": 13.4}}, 13.4),
    ("Longitude", {"longitude": 2.35}, 2.35),
    ("MiddleName", {"middleName": "Brewster"}, "Brewster"),
    ("MobilePhone", {"mobilePhone": "+49 170 0000000"}, "+49 170 0000000"),
    ("NumberOfEmployees", {"company": {"employee_count": 250}}, 250),
    ("OwnerId", {"ownerId": "005000000000001"}, "005000000000001"),
    ("Phone", {"phone": "+1-555-0101"}, "+1-555-0101"),
    ("PostalCode", {"address": {"postalCode": "10115"}}, "10115"),
    ("PostalCode", {"postalCode": "75001"}, "75001"),
    ("Rating", {"rating": "Hot"}, "Hot"),
    ("RecordTypeId", {"recordTypeId": "012000000000001"}, "012000000000001"),
    ("Salutation", {"salutation": "Dr."}, "Dr."),
    ("State", {"address": {"state": "Berlin"}}, "Berlin"),
    ("State", {"state": "Texas"}, "Texas"),
    ("StateCode", {"address": {"stateCode": "BE"}}, "BE"),
    ("StateCode", {"stateCode": "TX"}, "TX"),
    ("Status", {"status": "Working"}, "Working"),
    ("Street", {"address": {"street": "1 Main St"}}, "1 Main St"),
    ("Street", {"street": "2 High St"}, "2 High St"),
    ("Suffix", {"suffix": "Jr."}, "Jr."),
    ("Title", {"title": "CTO"}, "CTO"),
    ("Website", {"website": "https://example.com"}, "https://example.com"),
]

CONTACT_CASES = [
    ("AccountId", {"accountId": "001000000000001"}, "001000000000001"),
    ("AssistantName", {"assistantName": "Jo"}, "Jo"),
    ("AssistantPhone", {"assistantPhone": "+1-555-0102"}, "+1-555-0102"),
    ("Birthdate", {"birthday": "1990-12-10"}, "1990-12-10"),
    ("CanAllowPortalSelfReg", {"canAllowPortalSelfReg": True}, True),
    ("CleanStatus", {"cleanStatus": "Matched"}, "Matched"),
    ("Department", {"department": "R&D"}, "R&D"),
    ("Description", {"description": "A contact"}, "A contact"),
    ("DoNotCall", {"doNotCall": True}, True),
    ("Email", {}, EMAIL),
    ("EmailBouncedDate", {"emailBouncedDate": "2026-01-02T00:00:00Z"}, "2026-01-02T00:00:00Z"),
    ("EmailBouncedReason", {"emailBouncedReason": "unknown user"}, "unknown user"),
    ("Fax", {"fax": "+1-555-0103"}, "+1-555-0103"),
    ("FirstName", {"firstName": "Ada"}, "Ada"),
    ("FirstName", {"name": "Katherine Johnson"}, "Katherine"),
    ("HasOptedOutOfEmail", {"hasOptedOutOfEmail": False}, False),
    ("HasOptedOutOfFax", {"hasOptedOutOfFax": True}, True),
    ("HomePhone", {"homePhone": "+1-555-0104"}, "+1-555-0104"),
    ("IndividualId", {"individualId": "0PKxx0000000002"}, "0PKxx0000000002"),
    ("Jigsaw", {"jigsaw": "J2"}, "J2"),
    ("LastName", {"lastName": "Lovelace"}, "Lovelace"),
    ("LastName", {"name": "Katherine Johnson"}, "Johnson"),
    ("LeadSource", {"LeadSource": "Partner"}, "Partner"),
    ("MailingCity", {"address": {"city": "Osaka"}}, "Osaka"),
    ("MailingCity", {"city": "Austin"}, "Austin"),
    ("MailingCountry", {"address": {"country": "JP"}}, "JP"),
    ("MailingCountry", {"country": "US"}, "US"),
    ("MailingCountryCode", {"address": {"countryCode": "JP"}}, "JP"),
    ("MailingCountryCode", {"countryCode": "US"}, "US"),
    ("MailingGeocodeAccuracy", {"geocodeAccuracy": "Block"}, "Block"),
    ("MailingLatitude", {"address": {"latitude": 34.7}}, 34.7),
    ("MailingLatitude", {"latitude": 30.3}, 30.3),
    ("MailingLongitude", {"address": {"longitude": 135.5}}, 135.5),
    ("MailingLongitude", {"longitude": -97.7}, -97.7),
    ("MailingPostalCode", {"address": {"postalCode": "530-0001"}}, "530-0001"),
    ("MailingPostalCode", {"postalCode": "73301"}, "73301"),
    ("MailingState", {"address": {"state": "Osaka"}}, "Osaka"),
    ("MailingState", {"state": "Texas"}, "Texas"),
    ("MailingStateCode", {"address": {"stateCode": "27"}}, "27"),
    ("MailingStateCode", {"stateCode": "TX"}, "TX"),
    ("MailingStreet", {"address": {"street": "1 Chome"}}, "1 Chome"),
    ("MailingStreet", {"street": "3 Congress Ave"}, "3 Congress Ave"),
    ("MiddleName", {"middleName": "M"}, "M"),
    ("MobilePhone", {"mobilePhone": "+1-555-0105"}, "+1-555-0105"),
    ("OwnerId", {"ownerId": "005000000000002"}, "005000000000002"),
    ("Phone", {"phone": "+1-555-0106"}, "+1-555-0106"),
    ("RecordTypeId", {"recordTypeId": "012000000000002"}, "012000000000002"),
    ("ReportsToId", {"reportsToId": "003000000000009"}, "003000000000009"),
    ("Salutation", {"salutation": "Ms."}, "Ms."),
    ("Suffix", {"suffix": "III"}, "III"),
    ("Title", {"title": "VP"}, "VP"),
]

CONVERTED = {EMAIL: (LeadMatch("00Q000000000001AAA", True, "003000000000001AAA"),)}


def test_every_lead_row_and_every_contact_row_has_a_case():
    assert {row[0] for row in LEAD_ROWS} == {case[0] for case in LEAD_CASES}
    assert {row[0] for row in CONTACT_ROWS} == {case[0] for case in CONTACT_CASES}
    sources = sum(len(keys) for _, keys in LEAD_ROWS)
    assert len(LEAD_CASES) == sources


@pytest.mark.parametrize(
    ("field", "traits", "expected"), LEAD_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(LEAD_CASES)]
)
def test_lead_row(field, traits, expected):
    fields = only_write_fields([identify({"email": EMAIL, **traits})])
    assert fields[field] == expected


@pytest.mark.parametrize(
    ("field", "traits", "expected"), CONTACT_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CONTACT_CASES)]
)
def test_contact_row_for_a_converted_lead(field, traits, expected):
    fields = only_write_fields(
        [identify({"email": EMAIL, **traits})], matches=CONVERTED, options=MappingOptions(use_contact_id=True)
    )
    assert fields[field] == expected


def test_accuracy_is_never_sent_and_geocode_accuracy_wins_over_its_fallbacks():
    fields = only_write_fields(
        [identify({"email": EMAIL, "geocodeAccuracy": "Street", "accuracy": "Zip", "address": {"accuracy": "City"}})]
    )
    assert "Accuracy" not in fields and "accuracy__c" not in fields
    assert fields["GeocodeAccuracy"] == "Street"
    fields = only_write_fields([identify({"email": EMAIL, "accuracy": "Zip", "address": {"accuracy": "City"}})])
    assert fields["GeocodeAccuracy"] == "City"


def test_address_object_wins_over_the_flat_key():
    fields = only_write_fields([identify({"email": EMAIL, "city": "Flat", "address": {"city": "Nested"}})])
    assert fields["City"] == "Nested"


def test_explicit_first_and_last_name_win_over_name():
    fields = only_write_fields(
        [identify({"email": EMAIL, "name": "Grace Hopper", "firstName": "Ada", "lastName": "Lovelace"})]
    )
    assert (fields["FirstName"], fields["LastName"]) == ("Ada", "Lovelace")


def test_a_one_word_name_is_a_first_name_and_leaves_last_name_to_the_create_default():
    fields = only_write_fields([identify({"email": EMAIL, "name": "Cher"})])
    assert (fields["FirstName"], fields["LastName"]) == ("Cher", "n/a")


def test_contact_mapping_has_no_company_and_no_industry():
    fields = only_write_fields(
        [identify({"email": EMAIL, "company": {"name": "Acme", "industry": "Tech"}})],
        matches=CONVERTED,
        options=MappingOptions(use_contact_id=True),
    )
    assert "Company" not in fields
    assert "Industry" not in fields
    assert "company__c" not in fields


def test_a_split_name_is_used_not_reported_as_a_dropped_read_only_field():
    plan = plan_for([identify({"email": EMAIL, "name": "Ada Lovelace", "createdAt": "2026-01-01"})])
    assert plan.dropped_system_fields == {"CreatedDate": 1}


def test_the_compiled_lead_table_names_each_route_by_its_kind():
    route = LEAD_TABLE.route
    assert route["email"] == Sole("Email")
    assert route["firstName"] == Direct((Source("FirstName", 0, None),))
    assert route["name"] == Direct(
        (Source("FirstName", 1, TRANSFORMS["first_word"]), Source("LastName", 1, TRANSFORMS["last_word"]))
    )
    assert route["company"] == Nested(
        {
            "annualRevenue": Source("AnnualRevenue", 0, None),
            "name": Source("Company", 0, None),
            "companyDunsNumber": Source("CompanyDunsNumber", 0, None),
            "industry": Source("Industry", 0, None),
            "employee_count": Source("NumberOfEmployees", 0, None),
        },
        (Source("Company", 1, None),),
    )
    address = route["address"]
    assert isinstance(address, Nested) and address.scalar_sources == ()  # "address": "text" feeds nothing
    assert route["createdAt"] == SystemOnly("CreatedDate")
    assert route["userId"] == NotCopied()
    assert "plan" not in route  # a custom field


def test_a_nested_trait_key_feeding_two_fields_is_refused_when_the_table_compiles():
    rows = (("City", ("address.city",)), ("MailingCity", ("address.city",)))
    with pytest.raises(ValueError, match=r"address\.city must feed exactly one field"):
        compile_table("Lead", rows, LEAD_SYSTEM_FIELDS, ())
