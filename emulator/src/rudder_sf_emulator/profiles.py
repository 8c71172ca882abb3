"""Org profiles: how one Salesforce org differs from another, as data.

The standard objects in ``schema.py`` hold every field any org may have. A profile says which of them this org
lacks (features off), which the integration user cannot see or cannot edit (field-level security), which picklists
are restricted and to what, which required fields describe honestly as not nillable, and which duplicate rules run.

``full``     today's emulator: every field, all writable, picklists listed but never restricted, no duplicate
             rules. The default everywhere, so existing tests see no change.
``minimal``  a realistic Enterprise org as its integration user sees it (see the tables below; the research note
             ``salesforce_schema_facts.md`` §2, §4, §5 explains each line).

To add a profile, add a ``Profile(...)`` to ``PROFILES``; every table is keyed by object name, then field name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

GEOCODE_ACCURACY = (
    "Address",
    "NearAddress",
    "Block",
    "Street",
    "ExtendedZip",
    "Zip",
    "Neighborhood",
    "City",
    "County",
    "State",
    "Unknown",
)
SALUTATION = ("Mr.", "Ms.", "Mrs.", "Dr.", "Prof.", "Mx.")
LEAD_STATUS = ("Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted")
LEAD_SOURCE = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")
RATING = ("Hot", "Warm", "Cold")
INDUSTRY = (
    "Agriculture",
    "Apparel",
    "Banking",
    "Biotechnology",
    "Chemicals",
    "Communications",
    "Construction",
    "Consulting",
    "Education",
    "Electronics",
    "Energy",
    "Engineering",
    "Entertainment",
    "Environmental",
    "Finance",
    "Food & Beverage",
    "Government",
    "Healthcare",
    "Hospitality",
    "Insurance",
    "Machinery",
    "Manufacturing",
    "Media",
    "Not For Profit",
    "Recreation",
    "Retail",
    "Shipping",
    "Technology",
    "Telecommunications",
    "Transportation",
    "Utilities",
    "Other",
)
STAGE_NAME = (
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Value Proposition",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
)

# Picklist values every profile lists (object -> field -> values, in describe order; first = default where the
# field is defaulted on create).
PICKLIST_VALUES: dict[str, dict[str, tuple[str, ...]]] = {
    "Lead": {
        "Salutation": SALUTATION,
        "Status": LEAD_STATUS,
        "LeadSource": LEAD_SOURCE,
        "Industry": INDUSTRY,
        "Rating": RATING,
        "GeocodeAccuracy": GEOCODE_ACCURACY,
    },
    "Contact": {
        "Salutation": SALUTATION,
        "LeadSource": LEAD_SOURCE,
        "MailingGeocodeAccuracy": GEOCODE_ACCURACY,
        "OtherGeocodeAccuracy": GEOCODE_ACCURACY,
    },
    "Account": {
        "Industry": INDUSTRY,
        "Rating": RATING,
        "AccountSource": LEAD_SOURCE,
        "BillingGeocodeAccuracy": GEOCODE_ACCURACY,
        "ShippingGeocodeAccuracy": GEOCODE_ACCURACY,
    },
    "Opportunity": {"StageName": STAGE_NAME, "LeadSource": LEAD_SOURCE},
}


@dataclass(frozen=True)
class Profile:
    name: str
    removed: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # the org has no such field
    hidden: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # FLS: no read access
    read_only: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # FLS: read, no edit
    restricted: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # restricted picklists
    picklist_overrides: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)
    required_not_nillable: bool = False  # describe required fields as nillable=false, as real orgs do
    duplicate_rules: tuple[Mapping[str, Any], ...] = ()

    def picklist(self, obj: str, name: str) -> tuple[str, ...]:
        override = self.picklist_overrides.get(obj, {}).get(name)
        return override if override is not None else PICKLIST_VALUES.get(obj, {}).get(name, ())

    def is_(self, table: Mapping[str, tuple[str, ...]], obj: str, name: str) -> bool:
        return name in table.get(obj, ())


_NO_FEATURES = (
    "CurrencyIsoCode",  # multi-currency off
    "Division",  # divisions off
    "IndividualId",  # data protection and privacy off
    "RecordTypeId",  # Master record type only
    "MiddleName",  # "middle names" user-interface setting off
    "Suffix",  # "name suffixes" setting off
    "Jigsaw",  # Data.com off
)

MINIMAL = Profile(
    name="minimal",
    removed={
        "Lead": (*_NO_FEATURES, "StateCode", "CountryCode", "CompanyDunsNumber"),
        "Contact": (*_NO_FEATURES, "MailingStateCode", "MailingCountryCode", "OtherStateCode", "OtherCountryCode"),
        "Account": (
            "CurrencyIsoCode",
            "Jigsaw",
            "BillingStateCode",
            "BillingCountryCode",
            "ShippingStateCode",
            "ShippingCountryCode",
        ),
    },
    hidden={"Lead": ("AnnualRevenue",), "Contact": ("Birthdate",)},
    read_only={"Lead": ("Rating",), "Contact": ("AssistantPhone",)},
    restricted={
        "Lead": ("GeocodeAccuracy", "Industry", "Salutation"),
        "Contact": ("MailingGeocodeAccuracy", "OtherGeocodeAccuracy", "Salutation"),
        "Account": ("BillingGeocodeAccuracy", "ShippingGeocodeAccuracy"),
    },
    # the demo's events carry Industry "Manufacturing" on purpose: this org refuses it
    picklist_overrides={"Lead": {"Industry": ("Technology", "Finance", "Healthcare", "Retail")}},
    required_not_nillable=True,
    duplicate_rules=(
        {
            "name": "Standard_Lead_Duplicate_Rule",
            "object": "Lead",
            "action": "alert",
            "match_object": "Contact",
            "match_fields": ["Email"],
            "match_rule": "Standard_Contact_Match_Rule_v1_1",
        },
        {
            "name": "Block_Lead_Same_Phone_Company",
            "object": "Lead",
            "action": "block",
            "match_object": "Lead",
            "match_fields": ["Phone", "Company"],
            "match_rule": "Lead_Phone_Company_Match_Rule",
        },
    ),
)

FULL = Profile(name="full")

PROFILES: dict[str, Profile] = {p.name: p for p in (FULL, MINIMAL)}
DEFAULT_PROFILE = "full"


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown org profile {name!r}; known: {sorted(PROFILES)}") from None
