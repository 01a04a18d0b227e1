"""The mainland resident ID number (居民身份证号码, GB 11643-1999): 6-digit area, 8-digit birth
date, 3-digit sequence, and a check character by ISO 7064 MOD 11-2 (digits or X).

Only the number's own consistency is checked here; whether it belongs to the applicant is the
operator's review (and, later, a real-name verification provider behind an interface)."""

from __future__ import annotations

import datetime as dt
import re

from freshloop.core import crypto

_SHAPE = re.compile(r"^[1-8]\d{16}[\dX]$")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARACTERS = "10X98765432"
EARLIEST_BIRTH = dt.date(1900, 1, 1)
ADULT_AGE = 18
"""A leader signs a commission agreement, which takes full civil capacity (18 in the PRC)."""


def id_number_normalise(raw: str) -> str:
    """Spaces dropped, a lowercase x made X: what people type for the same number."""
    return re.sub(r"\s+", "", raw).upper()


def id_number_check_character(first_17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of the first 17 digits."""
    total = sum(int(digit) * weight for digit, weight in zip(first_17, _WEIGHTS, strict=True))
    return _CHECK_CHARACTERS[total % 11]


def id_number_birth_date(number: str) -> dt.date | None:
    try:
        return dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return None


def id_number_problem(number: str, *, today: dt.date) -> str | None:
    """Why `number` (normalised) is not a plausible adult's resident ID, or None when it is."""
    if not _SHAPE.match(number):
        return "身份证号应为 18 位，前 17 位为数字，最后一位为数字或 X"
    if id_number_check_character(number[:17]) != number[17]:
        return "身份证号校验位不正确，请核对后重新填写"
    born = id_number_birth_date(number)
    if born is None or not EARLIEST_BIRTH <= born <= today:
        return "身份证号中的出生日期不正确"
    adult_from = _birthday_in(born, born.year + ADULT_AGE)
    if today < adult_from:
        return f"团长须年满 {ADULT_AGE} 周岁"
    return None


def _birthday_in(born: dt.date, year: int) -> dt.date:
    # Someone born on 29 February comes of age on 1 March in a common year.
    try:
        return born.replace(year=year)
    except ValueError:
        return dt.date(year, 3, 1)


def id_number_index(number: str) -> str:
    """The keyed hash (blind index) of a normalised ID number: found and kept unique without
    the database ever holding the number in clear."""
    return crypto.blind_index(number, purpose="groupbuy:id_number")


def id_number_mask(number: str) -> str:
    """110105**********2X-style: enough for a person to recognise their own number."""
    if len(number) < 8:
        return "*" * len(number)
    return f"{number[:4]}{'*' * (len(number) - 8)}{number[-4:]}"
