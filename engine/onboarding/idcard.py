"""The 18-digit PRC resident identity number (GB 11643-1999): check digit, birth date, sex.

Layout: 6 digits of the issuing area, the birth date YYYYMMDD, a 3-digit sequence (odd for
men, even for women) and a check character: Σ digitᵢ × (2^(17−i) mod 11) mod 11 indexes
"10X98765432". Onboarding derives the birth date and sex from the number instead of asking
for them twice (docs/domain.md §2.4: ages are computed from the ID card's birth date).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
_SHAPE = re.compile(r"^\d{17}[\dX]$")


@dataclass(frozen=True)
class ResidentId:
    number: str  # normalized: upper-case X
    birth_date: date
    gender: str  # "M" | "F"


class InvalidIdNumberError(ValueError):
    """Not a valid 18-digit PRC ID number; the message says why (zh-CN and English)."""


def check_char(first17: str) -> str:
    return CHECK_CHARS[sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True)) % 11]


def parse_id_number(raw: str, *, today: date | None = None) -> ResidentId:
    """Validate and decode ``raw``; raises InvalidIdNumberError (wrong shape, impossible date, bad check digit)."""
    number = raw.strip().upper()
    if not _SHAPE.match(number):
        raise InvalidIdNumberError("身份证号应为18位，最后一位可为X The ID number must have 18 characters (the last may be X)")
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidIdNumberError("身份证号中的出生日期无效 The birth date in the ID number is not a real date") from None
    if born.year < 1900 or (today is not None and born > today):
        raise InvalidIdNumberError("身份证号中的出生日期无效 The birth date in the ID number is not a real date")
    if check_char(number[:17]) != number[17]:
        raise InvalidIdNumberError("身份证号校验位不正确 The ID number's check digit is wrong")
    return ResidentId(number, born, "M" if int(number[16]) % 2 else "F")
