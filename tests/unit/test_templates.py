"""Message templates are checked when they load, and secret parameters never rest readable in the outbox."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.bpmn.workflow import ServiceCall
from engine.config import DEFAULT_TEMPLATES
from engine.outbox.store import OutboxIntent, make_notify_handler, open_params
from engine.outbox.templates import TemplateError, load_templates, parse_templates
from engine.privacy import CiphertextMismatchError, FieldCipher, new_data_key

OK = {"zh-CN": {"body": "您的验证码是{{ code }}"}, "en": {"body": "Your code is {{ code }}"}}


def test_the_shipped_templates_load():
    templates = load_templates(DEFAULT_TEMPLATES)
    assert templates["one_time_code"].secret == {"code"} and templates["complaint_answer"].purpose == "statutory"


@pytest.mark.parametrize(("spec", "problem"), [
    ({"purpose": "service", "en": OK["en"]}, "no zh-CN text"),
    ({"purpose": "promotion", **OK, "params": ["code"]}, "purpose must be one of"),
    ({"purpose": "service", **OK}, "declare them in params"),  # {{ code }} is neither a parameter nor a customer field
    ({"purpose": "service", **OK, "params": ["code"], "secret_params": ["pin"]}, "secret_params must be among"),
])
def test_a_broken_template_fails_loudly_naming_it(spec, problem):
    with pytest.raises(TemplateError, match=problem) as raised:
        parse_templates({"otp": spec})
    assert "otp" in str(raised.value)


def test_notify_seals_secret_parameters_and_the_dispatcher_opens_them():
    cipher = FieldCipher(new_data_key())
    templates = parse_templates({"otp": {"purpose": "service", **OK, "params": ["code"], "secret_params": ["code"]}})
    notify = make_notify_handler(lambda: templates, {}, cipher)
    call = ServiceCall("i-1", "send", datetime(2025, 3, 3, tzinfo=UTC), task_id="t-1")
    notify({"template": "otp", "customer_id": "C1", "code": "428731"}, call)
    [intent] = call.effects
    assert isinstance(intent, OutboxIntent) and "428731" not in str(intent.params)
    assert open_params(cipher, intent.params, intent.key) == {"code": "428731"}
    with pytest.raises(CiphertextMismatchError):  # sealed for its own message only
        open_params(cipher, intent.params, "another-message")
