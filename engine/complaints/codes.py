"""Complaint classification codes after JR/T 0169-2018 (docs/domain.md §1.7): A channel, B business type, C cause.

The standard codes complaints on three axes. CareFlow stores stable slugs (``mobile_app``,
``bank_cards``, ``marketing``) and keeps the bilingual labels here; the ``group`` of a channel is the
standard's A-branch (front office: counter, self-service, electronic, third-party; back office; and
``regulator`` for cases the NFRA passes on, which carry their own due date, docs/domain.md §1.6). "Other"
entries exist on every axis, as the standard's 9/99 codes do.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import InvalidInputError


@dataclass(frozen=True)
class Code:
    code: str
    zh: str
    en: str
    group: str = ""

    @property
    def label(self) -> str:
        """"中文 English", the UI's bilingual form."""
        return f"{self.zh} {self.en}"


def _table(*codes: Code) -> dict[str, Code]:
    return {c.code: c for c in codes}


# A — channel (渠道). Electronic channels split as the standard does: online banking, phone, app, public platform, SMS.
CHANNELS = _table(
    Code("branch_counter", "营业网点柜面", "Branch counter", "front_office"),
    Code("self_service", "自助设备", "Self-service machine", "front_office"),
    Code("online_banking", "网上银行", "Online banking", "electronic"),
    Code("phone", "电话银行/客服热线", "Phone banking / hotline", "electronic"),
    Code("mobile_app", "手机银行", "Mobile app", "electronic"),
    Code("wechat", "网络公众平台（微信）", "Online public platform (WeChat)", "electronic"),
    Code("sms", "短信", "SMS", "electronic"),
    Code("email", "电子邮件", "E-mail", "electronic"),
    Code("portal", "客户门户", "Customer portal", "electronic"),
    Code("letter", "信函", "Letter", "front_office"),
    Code("third_party", "第三方渠道", "Third-party channel", "third_party"),
    Code("back_office", "中后台", "Middle and back office", "back_office"),
    Code("regulator_transfer", "监管转办", "Transferred by the regulator", "regulator"),
    Code("other", "其他渠道", "Other channel", "other"),
)

# B — business type (业务办理类型).
BUSINESS_TYPES = _table(
    Code("rmb_savings", "人民币储蓄", "RMB savings"),
    Code("loans", "贷款", "Loans"),
    Code("bank_cards", "银行卡", "Bank cards"),
    Code("payment_settlement", "支付结算", "Payment and settlement"),
    Code("rmb_cash", "人民币现金管理", "RMB cash management"),
    Code("personal_financial_info", "个人金融信息", "Personal financial information"),
    Code("wealth_management", "理财及代销产品", "Wealth management and distributed products"),
    Code("insurance_agency", "代理保险", "Bancassurance"),
    Code("foreign_exchange", "外汇", "Foreign exchange"),
    Code("other", "其他业务", "Other business"),
)

# C — cause (投诉原因).
CAUSES = _table(
    Code("service_attitude", "服务态度及服务质量", "Service attitude or quality"),
    Code("facilities_systems", "服务设施、设备、业务系统", "Facilities, equipment or systems"),
    Code("rules_processes", "管理制度、业务规则与流程", "Rules and processes"),
    Code("marketing", "营销方式和手段", "Marketing practices"),
    Code("disclosure", "信息披露", "Information disclosure"),
    Code("product_yield", "产品收益", "Product yield"),
    Code("freedom_of_choice", "自主选择权", "Freedom of choice"),
    Code("pricing_terms", "定价收费及合同条款", "Pricing, fees and contract terms"),
    Code("fund_safety", "资金安全", "Safety of funds"),
    Code("personal_info_security", "个人信息安全", "Safety of personal information"),
    Code("debt_collection", "债务催收方式和手段", "Debt collection practices"),
    Code("other", "其他原因", "Other cause"),
)

AXES = {"channel": CHANNELS, "business_type": BUSINESS_TYPES, "cause": CAUSES}


def check(axis: str, code: str) -> Code:
    """The code on ``axis`` ("channel", "business_type", "cause"), or InvalidInputError listing the valid ones."""
    table = AXES[axis]
    found = table.get(code)
    if found is None:
        raise InvalidInputError(f"unknown {axis} {code!r}", details={"field": axis, "allowed": sorted(table)})
    return found


def label(axis: str, code: str) -> str:
    """Bilingual label of a stored code (the raw code if the table no longer knows it)."""
    found = AXES[axis].get(code)
    return found.label if found else code
