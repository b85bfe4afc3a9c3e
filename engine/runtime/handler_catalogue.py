"""What a designer needs to know about each service handler (like Camunda's element templates): what it does, in
Chinese and English, and its parameters (name, type, required, what it means).

A handler module declares it where it registers the handler: ``ctx.register_handler(name, fn, processes=...,
info=HandlerInfo(...))``. The bank's built-in handlers are described here, keyed by handler id, so their modules
need not change; an explicit ``info`` wins. Which processes may call a handler stays the registration's
``processes`` (engine.runtime.handlers), shown beside it in the catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HandlerParam:
    name: str
    type: str  # str | number | boolean | object | list | any
    required: bool
    description_zh: str
    description_en: str


@dataclass(frozen=True)
class HandlerInfo:
    description_zh: str
    description_en: str
    params: tuple[HandlerParam, ...] = ()
    writes_records: bool = False  # changes the bank's records (customers, cases, sales, messages)


def _p(name: str, type_: str, required: bool, zh: str, en: str) -> HandlerParam:
    return HandlerParam(name, type_, required, zh, en)


CUSTOMER = _p("customer_id", "str", True, "客户编号", "the customer's id")
CASE_NO = _p("case_no", "str", True, "投诉案件编号", "the complaint case number")
LEAD = _p("lead_id", "str", True, "销售线索编号", "the sales lead's id")

BUILTIN: dict[str, HandlerInfo] = {
    "careflow.notify": HandlerInfo(
        "按模板通知客户或员工（短信、邮件、微信、站内信），经发件箱投递，遵守联系时段与频次上限",
        "Notify a customer or staff member from a message template (SMS, email, WeChat, in-app) through the outbox, "
        "within the contact window and caps",
        (_p("template", "str", True, "消息模板名", "the message template's name"),
         _p("customer_id", "str", False, "收件客户（或由模板指定收件人）",
            "the customer to notify (or the template's recipient)"),
         _p("channel", "str", False, "渠道：auto、sms、email、wechat、inapp", "channel: auto, sms, email, wechat, inapp"),
         _p("key", "str", False, "去重键（默认：实例与任务）", "de-duplication key (default: instance and task)")),
        writes_records=True),
    "careflow.complaint.record": HandlerInfo(
        "记录投诉案件事件（受理、分派、答复、评价、复核…），使案件与流程同步",
        "Record a complaint case event (accepted, assigned, answered, rated, reviewed…) and keep the case in step",
        (CASE_NO, _p("event", "str", True, "事件名", "the event's name"),
         _p("answer", "str", False, "答复内容（answered 事件）", "the answer (for answered)")),
        writes_records=True),
    "careflow.complaint.deadline": HandlerInfo(
        "投诉时限：延期、暂停、恢复或重新起算，返回新的时限与预警日",
        "Complaint deadlines: extend, pause, resume or restart the clock; returns the new target and warning days",
        (CASE_NO, _p("clock", "object", True, "当前时限（流程变量 clock）", "the current clock (process variable clock)"),
         _p("action", "str", True, "extend、pause、resume 或 restart", "extend, pause, resume or restart"),
         _p("kind", "str", False, "延期类型 complex 或 special（extend 时）", "complex or special (for extend)"),
         _p("at", "str", False, "重新起算的时间（restart 时，ISO 8601）", "when the clock restarts (for restart, ISO 8601)")),
        writes_records=True),
    "careflow.customer.duplicate_check": HandlerInfo(
        "校验身份证号，推出出生日期与性别，并查找是否已有该客户（只读）",
        "Check the PRC ID number, derive birth date and sex, and look for an existing customer (read only)",
        (_p("name", "str", True, "客户姓名", "the customer's name"),
         _p("id_number", "str", True, "身份证号", "the PRC ID number"))),
    "careflow.customer.create": HandlerInfo(
        "建立客户档案（证件号与手机号加密）并登记营销同意",
        "Create the customer record (ID number and phone encrypted) with the marketing consents as ticked",
        (_p("applicant", "object", True, "开户申请信息", "the applicant's details"),
         _p("kyc", "object", True, "尽职调查（KYC）信息", "the KYC answers")),
        writes_records=True),
    "careflow.customer.risk_assess": HandlerInfo(
        "按问卷评定风险等级 C1–C5，有效期 12 个月",
        "Rate the customer C1–C5 from the questionnaire, valid for 12 months",
        (CUSTOMER, _p("answers", "object", True, "问卷答案", "the questionnaire's answers")), writes_records=True),
    "careflow.customer.set_tier": HandlerInfo(
        "设置客户等级（来自 customer_tier 决策表）", "Set the customer's tier (from the customer_tier decision table)",
        (CUSTOMER, _p("tier", "str", True, "客户等级", "the tier"), _p("aum", "number", False, "资产规模",
           "assets under management")),
        writes_records=True),
    "careflow.customer.assign_manager": HandlerInfo(
        "按资产段为客户分配负载最少的在岗客户经理", "Assign the least-loaded present relationship manager for the AUM band",
        (CUSTOMER, _p("aum", "number", True, "资产规模", "assets under management")), writes_records=True),
    "careflow.revisit.schedule_next": HandlerInfo(
        "按回访结果排定下次回访日期", "Schedule the next revisit after the outcome",
        (CUSTOMER, _p("months", "number", True, "间隔月数（revisit_frequency 决策表）",
           "months until the next (revisit_frequency)"),
         _p("channel", "str", False, "回访渠道", "the revisit channel")), writes_records=True),
    "sales.open_lead": HandlerInfo(
        "开立交叉销售线索", "Open a cross-selling lead",
        (LEAD, CUSTOMER, _p("product_code", "str", True, "产品代码", "the product's code"),
         _p("source", "str", True, "线索来源", "where the lead came from"),
         _p("reason", "str", False, "推荐理由", "why the product is proposed")), writes_records=True),
    "sales.suitability_facts": HandlerInfo(
        "读取适当性判断所需的客户与产品事实（只读）", "Read the customer and product facts for the suitability check (read only)",
        (LEAD, CUSTOMER, _p("product_code", "str", True, "产品代码", "the product's code"))),
    "sales.decide": HandlerInfo(
        "合并适当性判断（Python 规则与决策表取更严者）",
           "Merge the suitability decision (the stricter of the rules and the table)",
        (LEAD, _p("facts", "object", True, "适当性事实", "the suitability facts"),
         _p("level_decision", "str", False, "决策表结果", "the decision table's result")), writes_records=True),
    "sales.note_contact": HandlerInfo(
        "记录联系结果", "Record the contact's outcome",
        (LEAD, _p("contact_outcome", "str", True, "contacted、interested 或 declined", "contacted, interested or declined")),
        writes_records=True),
    "sales.close_lead": HandlerInfo(
        "关闭线索（拒绝或取消）", "Close the lead (declined or cancelled)",
        (LEAD, _p("status", "str", True, "declined 或 cancelled", "declined or cancelled")), writes_records=True),
    "sales.record_sale": HandlerInfo(
        "登记销售（网点销售须有双录编号）", "Record the sale (a branch sale needs the double-recording reference)",
        (LEAD, _p("amount", "number", True, "金额", "the amount"), _p("channel", "str", True, "销售渠道", "the sales channel"),
         _p("double_recording_ref", "str", False, "双录编号", "the double-recording reference")), writes_records=True),
    "sales.record_cancellation": HandlerInfo(
        "登记冷静期内撤销", "Record a cancellation in the cooling-off period", (LEAD,), writes_records=True),
    "sales.record_revisit": HandlerInfo(
        "登记售后回访结果", "Record the after-sale revisit's outcome",
        (LEAD, _p("revisit_outcome", "str", True, "confirmed、disputed 或 unreachable", "confirmed, disputed or unreachable")),
        writes_records=True),
}


def info_for(name: str, declared: HandlerInfo | None) -> HandlerInfo | None:
    """The handler's description: what its registration declared, else the built-in one, else None."""
    return declared or BUILTIN.get(name)
