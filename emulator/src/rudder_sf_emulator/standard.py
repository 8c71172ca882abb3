"""The standard objects' fields as data: every field any org may have (profiles remove, hide or lock some).

One line per field: ``name: (type, size)``; ``size`` is the length of text types, the ``digits`` of ``int`` and
the ``precision`` of ``currency``/``percent``/``double`` (0 = 18). Facts from Salesforce's field reference
(research notes §1.5, §4).
"""

from __future__ import annotations

# Read-only system fields every object has.
SYSTEM: dict[str, str] = {
    "Id": "id",
    "IsDeleted": "boolean",
    "CreatedDate": "datetime",
    "CreatedById": "reference",
    "LastModifiedDate": "datetime",
    "LastModifiedById": "reference",
    "SystemModstamp": "datetime",
}

ADDRESS = {
    "Street": ("textarea", 255),
    "City": ("string", 40),
    "State": ("string", 80),
    "PostalCode": ("string", 20),
    "Country": ("string", 80),
    "StateCode": ("picklist", 10),
    "CountryCode": ("picklist", 10),
    "Latitude": ("double", 0),
    "Longitude": ("double", 0),
    "GeocodeAccuracy": ("picklist", 40),
}

PERSON = {
    "Salutation": ("picklist", 40),
    "FirstName": ("string", 40),
    "MiddleName": ("string", 40),
    "LastName": ("string", 80),
    "Suffix": ("string", 40),
    "Title": ("string", 128),
    "Email": ("email", 80),
    "Phone": ("phone", 40),
    "MobilePhone": ("phone", 40),
    "Fax": ("phone", 40),
    "Description": ("textarea", 32000),
    "LeadSource": ("picklist", 255),
    "OwnerId": ("reference", 18),
    "HasOptedOutOfEmail": ("boolean", 0),
    "HasOptedOutOfFax": ("boolean", 0),
    "DoNotCall": ("boolean", 0),
    "EmailBouncedReason": ("string", 255),
    "EmailBouncedDate": ("datetime", 0),
    "Jigsaw": ("string", 20),
    "IndividualId": ("reference", 18),
    "RecordTypeId": ("reference", 18),
}

LEAD_WRITABLE: dict[str, tuple[str, int]] = {
    **PERSON,
    **ADDRESS,
    "Company": ("string", 255),
    "Website": ("url", 255),
    "Status": ("picklist", 255),
    "Industry": ("picklist", 255),
    "Rating": ("picklist", 255),
    "AnnualRevenue": ("currency", 18),
    "NumberOfEmployees": ("int", 8),
    "IsUnreadByOwner": ("boolean", 0),
    "CompanyDunsNumber": ("string", 9),
}
LEAD_READONLY: dict[str, tuple[str, int]] = {
    "Name": ("string", 121),
    "MasterRecordId": ("reference", 18),
    "PhotoUrl": ("url", 255),
    "IsConverted": ("boolean", 0),
    "ConvertedDate": ("date", 0),
    "ConvertedAccountId": ("reference", 18),
    "ConvertedContactId": ("reference", 18),
    "ConvertedOpportunityId": ("reference", 18),
    "LastActivityDate": ("date", 0),
    "LastViewedDate": ("datetime", 0),
    "LastReferencedDate": ("datetime", 0),
    "JigsawContactId": ("string", 20),
    "Address": ("address", 0),
}

CONTACT_WRITABLE: dict[str, tuple[str, int]] = {
    **PERSON,
    **{f"Mailing{k}": v for k, v in ADDRESS.items()},
    **{f"Other{k}": v for k, v in ADDRESS.items()},
    "AccountId": ("reference", 18),
    "ReportsToId": ("reference", 18),
    "HomePhone": ("phone", 40),
    "OtherPhone": ("phone", 40),
    "AssistantName": ("string", 40),
    "AssistantPhone": ("phone", 40),
    "Department": ("string", 80),
    "Birthdate": ("date", 0),
}
CONTACT_READONLY: dict[str, tuple[str, int]] = {
    "Name": ("string", 121),
    "MasterRecordId": ("reference", 18),
    "PhotoUrl": ("url", 255),
    "LastActivityDate": ("date", 0),
    "LastViewedDate": ("datetime", 0),
    "LastReferencedDate": ("datetime", 0),
    "IsEmailBounced": ("boolean", 0),
    "JigsawContactId": ("string", 20),
    "MailingAddress": ("address", 0),
    "OtherAddress": ("address", 0),
    "LastCURequestDate": ("datetime", 0),
    "LastCUUpdateDate": ("datetime", 0),
}

ACCOUNT_WRITABLE: dict[str, tuple[str, int]] = {
    "Name": ("string", 255),
    "Type": ("picklist", 255),
    "ParentId": ("reference", 18),
    **{f"Billing{k}": v for k, v in ADDRESS.items()},
    **{f"Shipping{k}": v for k, v in ADDRESS.items()},
    "Phone": ("phone", 40),
    "Fax": ("phone", 40),
    "AccountNumber": ("string", 40),
    "Website": ("url", 255),
    "Industry": ("picklist", 255),
    "AnnualRevenue": ("currency", 18),
    "NumberOfEmployees": ("int", 8),
    "Description": ("textarea", 32000),
    "OwnerId": ("reference", 18),
    "Site": ("string", 80),
    "AccountSource": ("picklist", 255),
    "Rating": ("picklist", 255),
    "Jigsaw": ("string", 20),
}

OPPORTUNITY_WRITABLE: dict[str, tuple[str, int]] = {
    "Name": ("string", 120),
    "AccountId": ("reference", 18),
    "StageName": ("picklist", 255),
    "CloseDate": ("date", 0),
    "Amount": ("currency", 18),
    "Probability": ("percent", 3),
    "Description": ("textarea", 32000),
    "LeadSource": ("picklist", 255),
    "OwnerId": ("reference", 18),
    "Type": ("picklist", 255),
    "NextStep": ("string", 255),
}

# object name -> (key prefix, writable fields, read-only fields, required on create)
STANDARD_OBJECTS: dict[str, tuple[str, dict[str, tuple[str, int]], dict[str, tuple[str, int]], tuple[str, ...]]] = {
    "Lead": ("00Q", LEAD_WRITABLE, LEAD_READONLY, ("LastName", "Company")),
    "Contact": ("003", CONTACT_WRITABLE, CONTACT_READONLY, ("LastName",)),
    "Account": ("001", ACCOUNT_WRITABLE, {"MasterRecordId": ("reference", 18)}, ("Name",)),
    "Opportunity": (
        "006",
        OPPORTUNITY_WRITABLE,
        {"IsClosed": ("boolean", 0), "IsWon": ("boolean", 0)},
        ("Name", "StageName", "CloseDate"),
    ),
}
