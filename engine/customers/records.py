"""Customer records from core banking: the import formats, parsing, and each record's validation
(marshmallow schemas; messages in zh-CN and en). No database: ``customer_import`` stores what passes.

Formats (``fmt``):

- ``json`` — a list of objects, one per customer::

    {"id": "C0001", "name": "林晓雯", "gender": "F", "birth_date": "1988-02-29", "lunar_birthday": false,
     "phone": "13800000001", "email": "lin@example.cn", "id_number": "11010519880229002X",
     "branch": "朝阳支行", "manager": "zhang.wei", "tier": "gold", "language": "zh-CN",
     "preferred_channel": "sms", "risk_level": "C3", "risk_assessed_at": "2024-06-01",
     "consents": [{"channel": "all", "purpose": "marketing", "granted": true}],
     "accounts": [{"external_id": "A-1", "kind": "savings", "last4": "1234", "balance": "52000.00",
                   "avg_daily_balance": "50000.00", "opened_on": "2015-03-02"}],
     "holdings": [{"product_code": "WMP-FI-1Y", "amount": "100000", "bought_on": "2025-01-10",
                   "matures_on": "2026-01-10"}]}

- ``csv`` — UTF-8 (with or without BOM; GB18030 as saved by Excel is accepted too), a header row and
  one line per customer with the flat columns ``id, name, gender, birth_date, lunar_birthday, phone,
  email, id_number, branch, manager, tier, language, preferred_channel, risk_level, risk_assessed_at,
  consents`` (only ``id`` and ``name`` are required; ``consents`` is ``channel:purpose:Y|N`` items
  separated by ``;``, e.g. ``all:marketing:Y;sms:service:N``). Accounts and holdings come in optional
  separate CSVs keyed by ``customer_id``: ``customer_id, external_id, kind, last4, currency, balance,
  avg_daily_balance, opened_on`` and ``customer_id, product_code, amount, bought_on, matures_on``.
- ``http`` (or any iterable of dicts) — records in the JSON form, e.g. from an adapter in
  ``integrations.core_banking``.

Rows are numbered as a person finds them: the line in the CSV file (the header is line 1), the
position in the JSON list (from 1). A row's errors name the row, the field and a zh and en message —
never the value, which may be personal data.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from engine.customers.service import CHANNELS, TIERS
from engine.errors import InvalidInputError
from engine.privacy import normalise

FORMATS = ("csv", "json", "http")
ACCOUNT_KINDS = ("current", "savings", "time_deposit", "loan", "card", "investment")
NO_AUM_KINDS = frozenset({"loan"})  # a loan is a liability: it adds nothing to assets under management
RISK_VALID_MONTHS = 12  # docs/domain.md §2.3: re-assess after a year
MAX_MONEY = Decimal("1e15")
CUSTOMER_COLUMNS = ("id", "name", "gender", "birth_date", "lunar_birthday", "phone", "email", "id_number", "branch",
                    "manager", "tier", "language", "preferred_channel", "risk_level", "risk_assessed_at", "consents")
ACCOUNT_COLUMNS = ("customer_id", "external_id", "kind", "last4", "currency", "balance", "avg_daily_balance", "opened_on")
HOLDING_COLUMNS = ("customer_id", "product_code", "amount", "bought_on", "matures_on")
_DEFAULTED = frozenset({"lunar_birthday", "language", "preferred_channel"})  # empty CSV cell → the default
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)

# Error codes → (zh-CN, en). Validators raise the code; marshmallow's own messages are translated below.
MESSAGES: dict[str, tuple[str, str]] = {
    "phone": ("不是有效的中国大陆手机号", "not a mainland China mobile number"),
    "id_format": ("身份证号应为17位数字加1位校验码", "an ID number has 17 digits and a check character"),
    "id_checksum": ("身份证号校验码错误", "the ID number's check digit is wrong"),
    "id_birth": ("身份证号中的出生日期与出生日期不符", "the birth date in the ID number differs from birth_date"),
    "unknown_product": ("产品目录中没有该产品", "no such product in the catalogue"),
    "duplicate_id": ("文件中客户号重复（首次出现在第{first}行）", "customer id repeated in this file (first at row {first})"),
    "duplicate_account": ("同一客户的账户编号重复", "the same account id twice for this customer"),
    "account_taken": ("该账户已属于另一客户", "this account belongs to another customer"),
    "lunar_needs_birth_date": ("农历生日需要出生日期", "a lunar birthday needs the birth date"),
    "risk_pair": ("风险等级与评估日期须同时提供", "risk_level and risk_assessed_at go together"),
    "risk_level": ("风险等级应为 C1–C5", "risk level must be C1–C5"),
    "consents": ("授权格式应为 渠道:用途:Y|N", "consents must be channel:purpose:Y|N items"),
    "not_object": ("记录应为 JSON 对象", "a record must be a JSON object"),
    "orphan": ("客户文件中没有该客户号", "no such customer id in the customer file"),
    "matures_before_bought": ("到期日早于购买日", "matures_on is before bought_on"),
    "future_date": ("日期不能晚于今天", "the date is in the future"),
    "erased": ("该客户的个人信息已按规定删除，不再导入", "this customer's personal data was erased: not imported again"),
}
_MARSHMALLOW_ZH = {
    "Missing data for required field.": "缺少必填项",
    "Unknown field.": "未知字段",
    "Field may not be null.": "不能为空",
    "Not a valid date.": "日期格式应为 YYYY-MM-DD",
    "Not a valid email address.": "电子邮箱格式不正确",
    "Not a valid boolean.": "应为 是/否（Y/N）",
    "Not a valid number.": "不是有效的数字",
    "Not a valid string.": "应为文本",
    "Not a valid list.": "应为列表",
    "Invalid input type.": "类型不正确",
}


def _translate(message: str) -> tuple[str, str, str]:
    """(code, zh, en) for a validator's code or one of marshmallow's English messages."""
    if message in MESSAGES:
        return (message, *MESSAGES[message])
    if message.startswith("Must be one of"):
        return "choice", "取值不在允许范围内：" + message.partition(":")[2].strip(" ."), message
    if message.startswith(("Must be greater", "Must be less", "Length must", "Shorter than", "Longer than")):
        return "range", "长度或大小超出范围", message
    if message.startswith("String does not match"):
        return "format", "格式不正确", message
    return "invalid", _MARSHMALLOW_ZH.get(message, "格式不正确"), message


# --- validation ---------------------------------------------------------------------------------------------------


def valid_mobile(value: str) -> None:
    if not re.fullmatch(r"1[3-9]\d{9}", normalise(value)):
        raise ValidationError("phone")


def id_checksum_ok(number: str) -> bool:
    """GB 11643-1999: the 18th character is the ISO 7064 MOD 11-2 check of the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    return "10X98765432"[total % 11] == number[17].upper()


def valid_id_number(value: str) -> None:
    if not re.fullmatch(r"\d{17}[\dXx]", value):
        raise ValidationError("id_format")
    if not id_checksum_ok(value):
        raise ValidationError("id_checksum")


def _money(**kw: Any) -> fields.Decimal:
    return fields.Decimal(places=2, validate=validate.Range(min=-MAX_MONEY, max=MAX_MONEY), **kw)


class AccountIn(Schema):
    class Meta:
        unknown = RAISE

    external_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    kind = fields.String(required=True, validate=validate.OneOf(ACCOUNT_KINDS))
    last4 = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(r"^\d{4}$"))
    currency = fields.String(load_default="CNY", validate=validate.Regexp(r"^[A-Z]{3}$"))
    balance = _money(load_default=Decimal("0"))
    avg_daily_balance = _money(load_default=Decimal("0"))
    opened_on = fields.Date(load_default=None, allow_none=True)


class HoldingIn(Schema):
    class Meta:
        unknown = RAISE

    product_code = fields.String(required=True, validate=validate.Length(min=1, max=32))
    amount = fields.Decimal(places=2, required=True, validate=validate.Range(min=Decimal("0"), max=MAX_MONEY))
    bought_on = fields.Date(required=True)
    matures_on = fields.Date(load_default=None, allow_none=True)

    @validates_schema
    def _dates(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("matures_on") and data["matures_on"] < data["bought_on"]:
            raise ValidationError("matures_before_bought", "matures_on")


class ConsentIn(Schema):
    channel = fields.String(required=True, validate=validate.OneOf((*CHANNELS, "all")))
    purpose = fields.String(required=True, validate=validate.OneOf(("service", "marketing")))
    granted = fields.Boolean(required=True)


class RiskLevel(fields.Field):
    """"C3", "c3" or 3 → 3."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        text = str(value).strip().upper().removeprefix("C")
        if text not in {"1", "2", "3", "4", "5"}:
            raise ValidationError("risk_level")
        return int(text)


class CustomerIn(Schema):
    """One customer record. Absent keys keep the stored value; ``null`` clears a nullable one."""

    class Meta:
        unknown = RAISE

    id = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_-]{1,32}$"))
    name = fields.String(required=True, validate=validate.Length(min=1, max=128))
    gender = fields.String(allow_none=True, validate=validate.OneOf(("F", "M")))
    birth_date = fields.Date(allow_none=True)
    lunar_birthday = fields.Boolean()
    phone = fields.String(allow_none=True, validate=valid_mobile)
    email = fields.Email(allow_none=True, validate=validate.Length(max=254))
    id_number = fields.String(allow_none=True, validate=valid_id_number)
    branch = fields.String(allow_none=True, validate=validate.Length(max=64))
    manager = fields.String(allow_none=True, validate=validate.Length(max=128))
    tier = fields.String(allow_none=True, validate=validate.OneOf(TIERS))
    language = fields.String(validate=validate.OneOf(("zh-CN", "en")))  # absent: kept (new customers: zh-CN)
    preferred_channel = fields.String(validate=validate.OneOf(CHANNELS))  # absent: kept (new customers: sms)
    risk_level = RiskLevel(allow_none=True)
    risk_assessed_at = fields.Date(allow_none=True)
    consents = fields.List(fields.Nested(ConsentIn), allow_none=True)
    accounts = fields.List(fields.Nested(AccountIn), allow_none=True)
    holdings = fields.List(fields.Nested(HoldingIn), allow_none=True)

    @validates_schema
    def _together(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("lunar_birthday") and not data.get("birth_date"):
            raise ValidationError("lunar_needs_birth_date", "lunar_birthday")
        if (data.get("risk_level") is None) != (data.get("risk_assessed_at") is None):
            raise ValidationError("risk_pair", "risk_level")
        number, born = data.get("id_number"), data.get("birth_date")
        if number and born and number[6:14] != born.strftime("%Y%m%d"):
            raise ValidationError("id_birth", "id_number")
        ids = [a["external_id"] for a in data.get("accounts") or []]
        if len(ids) != len(set(ids)):
            raise ValidationError("duplicate_account", "accounts")


def _flatten(messages: Any, prefix: str = "") -> list[tuple[str, str]]:
    """marshmallow's nested error dict → [(field path, message)], e.g. ``accounts[0].balance``."""
    out: list[tuple[str, str]] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            path = f"{prefix}[{key}]" if isinstance(key, int) else (f"{prefix}.{key}" if prefix else str(key))
            out += _flatten(value, path)
    elif isinstance(messages, list):
        for item in messages:
            out += _flatten(item, prefix) if isinstance(item, (dict, list)) else [(prefix or "_schema", str(item))]
    else:
        out.append((prefix or "_schema", str(messages)))
    return out


def row_error(row: int | None, customer_id: str | None, field: str, code_or_message: str,
              **params: Any) -> dict[str, Any]:
    code, zh, en = _translate(code_or_message)
    if field.endswith("_schema"):
        field = field.removesuffix("._schema").removesuffix("_schema") or "_record"
    return {"row": row, "customer_id": customer_id, "field": field, "code": code,
            "message": zh.format(**params), "message_en": en.format(**params)}


def validate_record(row: int, record: Any, products: set[str], today: date) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The cleaned record, or None and its errors (never containing the submitted values)."""
    if not isinstance(record, dict):
        return None, [row_error(row, None, "_record", "not_object")]
    cid = record.get("id") if isinstance(record.get("id"), str) else None
    try:
        data: dict[str, Any] = CustomerIn().load(record)
    except ValidationError as exc:
        return None, [row_error(row, cid, path, msg) for path, msg in _flatten(exc.messages)]
    if data.get("phone"):
        data["phone"] = normalise(data["phone"])  # stored and indexed in one form: 13800138000
    if data.get("id_number"):
        data["id_number"] = data["id_number"].upper()
    errors = [row_error(row, cid, f"holdings[{i}].product_code", "unknown_product")
              for i, h in enumerate(data.get("holdings") or []) if h["product_code"] not in products]
    for name in ("birth_date", "risk_assessed_at"):
        if data.get(name) and data[name] > today:
            errors.append(row_error(row, cid, name, "future_date"))
    return (None, errors) if errors else (data, [])


# --- parsing ------------------------------------------------------------------------------------------------------


def _text(content: bytes) -> str:
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return content.decode("gb18030")  # what Excel saves a Chinese CSV as


def _csv_rows(content: bytes, columns: tuple[str, ...], file: str) -> tuple[list[tuple[int, dict[str, str]]], list[str]]:
    reader = csv.DictReader(io.StringIO(_text(content)))
    header = [h.strip() for h in reader.fieldnames or []]
    unknown = [h for h in header if h not in columns]
    if unknown or not header:
        return [], [f"{file}: unknown columns {', '.join(unknown) or '(no header)'}; expected {', '.join(columns)}"]
    reader.fieldnames = header
    return [(reader.line_num, {k: (v or "").strip() for k, v in line.items() if k}) for line in reader], []


def _consents(text: str) -> list[dict[str, str]] | str:
    items = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        bits = part.split(":")
        if len(bits) != 3:
            return part
        items.append({"channel": bits[0], "purpose": bits[1], "granted": bits[2]})
    return items


def _from_csv_line(line: dict[str, str]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for key, value in line.items():
        if value == "" and key in _DEFAULTED:
            continue
        record[key] = value or None
    if record.get("consents"):
        parsed = _consents(record["consents"])
        record["consents"] = parsed if isinstance(parsed, list) else [{"channel": parsed}]
    elif "consents" in record:
        del record["consents"]  # an empty cell says nothing about consents
    return record


def parse_records(fmt: str, content: bytes | Iterable[Mapping[str, Any]], *, accounts: bytes | None = None,
                  holdings: bytes | None = None) -> tuple[list[tuple[int, Any]], list[dict[str, Any]]]:
    """(row number, raw record) pairs and file-level problems (an unreadable file stops the run)."""
    if fmt not in FORMATS:
        raise InvalidInputError(f"format must be one of {', '.join(FORMATS)}")
    if not isinstance(content, (bytes, bytearray)):
        return [(n, dict(r) if isinstance(r, Mapping) else r) for n, r in enumerate(content, start=1)], []
    if fmt != "csv":
        try:
            data = json.loads(_text(bytes(content)))
        except (ValueError, UnicodeDecodeError) as exc:
            return [], [row_error(None, None, "_file", "invalid") | {"message_en": f"not JSON: {exc}"}]
        if not isinstance(data, list):
            return [], [row_error(None, None, "_file", "invalid") | {"message_en": "the JSON must be a list of customers"}]
        return list(enumerate(data, start=1)), []
    rows, problems = _csv_rows(bytes(content), CUSTOMER_COLUMNS, "customers")
    records = [(n, _from_csv_line(line)) for n, line in rows]
    orphans: list[dict[str, Any]] = []
    by_id: dict[Any, dict[str, Any]] = {}
    for _, record in records:
        by_id.setdefault(record.get("id"), record)  # a repeated id is reported; its first row gets the accounts
    for key, extra, columns in (("accounts", accounts, ACCOUNT_COLUMNS), ("holdings", holdings, HOLDING_COLUMNS)):
        if extra is None:
            continue
        lines, more = _csv_rows(extra, columns, key)
        problems += more
        for owner_record in by_id.values():
            owner_record.setdefault(key, [])
        for n, line in lines:
            owner = by_id.get(line.pop("customer_id", ""))
            if owner is None:
                orphans.append(row_error(n, None, "customer_id", "orphan") | {"file": key})
                continue
            owner[key].append({k: v for k, v in line.items() if v != ""})
    if problems:
        return [], [row_error(None, None, "_file", "invalid") | {"message_en": p} for p in problems]
    return records, orphans
