"""Salesforce-shaped record ids: 15-character case-sensitive ids plus the 3-character checksum suffix."""

from __future__ import annotations

import re
import string

_ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase
_CHECKSUM_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID_RE = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-5]{3})?$")

# The emulated org and its one user (the integration user everyone logs in as): the owner and creator of records
# and jobs, and the ids a login answers with.
ORG_ID = "00D8Z0000000001AAA"
USER_ID = "0058Z0000000001AAA"


def checksum(id15: str) -> str:
    """The 3-character suffix that encodes the case of the 15-character id."""
    suffix = ""
    for block in range(3):
        bits = 0
        for pos, char in enumerate(id15[block * 5 : block * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << pos
        suffix += _CHECKSUM_CHARS[bits]
    return suffix


def make_id(prefix: str, number: int) -> str:
    """The 18-character id number ``number`` for key prefix ``prefix`` (e.g. ``00Q`` for Lead)."""
    body = ""
    n = number
    while n:
        n, rem = divmod(n, len(_ALPHABET))
        body = _ALPHABET[rem] + body
    id15 = prefix + "8Z" + body.rjust(10, "0")  # prefix, a pod-like marker, the sequence number
    return id15 + checksum(id15)


def is_well_formed(value: object) -> bool:
    return isinstance(value, str) and bool(_ID_RE.match(value))


def lookup_key(value: str) -> str:
    """A case-insensitive key for an id given as 15 or 18 characters (caller checked well-formedness)."""
    if len(value) == 15:
        value = value + checksum(value)
    return value.lower()
