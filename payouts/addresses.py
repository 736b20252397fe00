"""Ethereum address hygiene (EIP-55), vectorized over unique values.

Accepted: `0x` + 40 hex digits, all lowercase, all uppercase (hex part) or a valid EIP-55 mixed-case
checksum. Everything else - whitespace, a homoglyph, a wrong length, a mixed-case string whose
checksum fails - is refused. Accepted values are returned in EIP-55 form.
"""

from __future__ import annotations

import re

import pandas as pd
from eth_utils import to_checksum_address

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
_HEX40 = re.compile(r"0x[0-9a-fA-F]{40}")

OK = ""
BAD_FORMAT = "address_format"
BAD_CHECKSUM = "address_checksum"


def check_address(value: str) -> tuple[str | None, str]:
    """(EIP-55 form or None, problem code) for one address string."""
    if not isinstance(value, str) or _HEX40.fullmatch(value) is None:
        return None, BAD_FORMAT
    checksummed = to_checksum_address(value)
    hexpart = value[2:]
    if hexpart == hexpart.lower() or hexpart == hexpart.upper() or value == checksummed:
        return checksummed, OK
    return None, BAD_CHECKSUM


def is_checksummed(value: str) -> bool:
    """True when `value` is exactly its own EIP-55 form (what signers and the builder require)."""
    return (
        isinstance(value, str) and _HEX40.fullmatch(value) is not None and to_checksum_address(value) == value
    )


def check_address_series(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Vectorized `check_address`: each unique value is checked once, then mapped back.

    Returns (checksummed or <NA>, problem code or "") aligned with `values`.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    results = [check_address(u) for u in uniques]
    fixed = pd.array([r[0] for r in results] + [None], dtype="string")
    problems = pd.array([r[1] for r in results] + [BAD_FORMAT], dtype="string")
    # factorize gives -1 for NA; index -1 picks the appended sentinel entry.
    idx = codes.copy()
    idx[idx < 0] = len(uniques)
    return (
        pd.Series(fixed[idx], index=values.index, dtype="string"),
        pd.Series(problems[idx], index=values.index, dtype="string"),
    )


def identify_address_series(values: pd.Series) -> pd.Series:
    """The EIP-55 form of each value's *lowercase* address when it is 0x + 40 hex, else <NA>.

    Identifies the account a row is about even when its checksum is wrong or it carries stray
    whitespace - used to hold a node
    whose row was rejected, never to accept an address.
    """
    lowered = values.astype("string").str.strip().str.lower()  # " 0xAbC..." is the same account
    fixed, _ = check_address_series(lowered)
    return fixed
