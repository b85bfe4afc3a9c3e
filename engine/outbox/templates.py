"""Message templates: zh-CN and English text with ``{{ field }}`` placeholders, checked on load.

A template may name the process keys allowed to send it (``processes``): the statutory complaint notices go out
only from ``complaint_handling``, and one-time codes from no process at all (checked at deploy and at send). A
template names its purpose (``service`` or ``marketing``: docs/domain.md §3.5 — any product mention
makes a message marketing, which needs opt-in; ``statutory`` for notices the bank owes by law, such
as a complaint's acknowledgement, extension and decision, docs/domain.md §1.4–1.5), whether it is ``urgent`` (one-time codes:
sent at
once, outside the contact window and despite do-not-disturb), whether it is ``festive`` (blocked on
Qingming and other mourning days), and the WeChat template id. Placeholders are filled from the
customer (``name``, ``salutation``, ``tier_name``) and from the parameters the process passes;
a placeholder that is neither is a load error, so a typo never reaches a customer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import ConfigurationError

PURPOSES = ("service", "marketing", "statutory")

LANGUAGES = ("zh-CN", "en")
CUSTOMER_FIELDS = frozenset({"name", "salutation", "tier_name"})
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
TIER_NAMES = {
    "zh-CN": {"mass": "普通客户", "gold": "金卡客户", "platinum": "白金客户", "diamond": "钻石客户", "private": "私人银行客户"},
    "en": {"mass": "customer", "gold": "Gold customer", "platinum": "Platinum customer", "diamond": "Diamond customer",
           "private": "Private Banking client"},
}


class TemplateError(ConfigurationError):
    """A template is missing, malformed, or uses a placeholder nobody fills."""


@dataclass(frozen=True)
class Rendered:
    subject: str | None
    body: str
    fields: dict[str, str]


@dataclass(frozen=True)
class MessageTemplate:
    key: str
    purpose: str
    texts: dict[str, dict[str, str]]  # lang -> {"subject": ..., "body": ...}
    params: frozenset[str] = frozenset()
    urgent: bool = False
    festive: bool = False
    wechat_template: str | None = None
    channels: tuple[str, ...] = ("sms", "email", "wechat", "inapp")
    extra: dict[str, Any] = field(default_factory=dict)
    # Parameters stored encrypted in the outbox row (one-time codes) and opened only to render the message.
    secret: frozenset[str] = frozenset()
    # The process keys whose careflow.notify may send it (the bank's statutory notices: only the process that owes
    # them); None: any process; (): none (sent by the engine itself, e.g. one-time codes).
    processes: tuple[str, ...] | None = None

    def render(self, lang: str, values: dict[str, Any]) -> Rendered:
        text = self.texts.get(lang) or self.texts["zh-CN"]
        missing = sorted(self.placeholders() - values.keys())
        if missing:
            raise TemplateError(f"template {self.key} needs {', '.join(missing)}")

        def fill(source: str) -> str:
            return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), source)

        fields_used = {name: str(values[name]) for name in self.placeholders()}
        return Rendered(fill(text["subject"]) if text.get("subject") else None, fill(text["body"]), fields_used)

    def placeholders(self) -> set[str]:
        found: set[str] = set()
        for text in self.texts.values():
            for part in text.values():
                found.update(_PLACEHOLDER.findall(part))
        return found


def parse_templates(raw: dict[str, Any], *, source: str = "templates") -> dict[str, MessageTemplate]:
    """Build and check every template; raises TemplateError naming the template and the problem."""
    if not isinstance(raw, dict):
        raise TemplateError(f"{source}: must be an object of templates")
    out: dict[str, MessageTemplate] = {}
    for key, spec in raw.items():
        if not isinstance(spec, dict):
            raise TemplateError(f"{source}: template {key} must be an object")
        purpose = spec.get("purpose")
        if purpose not in PURPOSES:
            raise TemplateError(f"{source}: template {key}: purpose must be one of {', '.join(PURPOSES)}")
        texts = {lang: spec[lang] for lang in LANGUAGES if lang in spec}
        if "zh-CN" not in texts:
            raise TemplateError(f"{source}: template {key} has no zh-CN text (the customers' default language)")
        for lang, text in texts.items():
            if not isinstance(text, dict) or not isinstance(text.get("body"), str) or not text["body"].strip():
                raise TemplateError(f"{source}: template {key} ({lang}) needs a non-empty body")
        template = MessageTemplate(
            key=key, purpose=purpose, texts=texts, params=frozenset(spec.get("params", [])),
            urgent=bool(spec.get("urgent", False)), festive=bool(spec.get("festive", False)),
            wechat_template=spec.get("wechat_template"),
            channels=tuple(spec.get("channels", ("sms", "email", "wechat", "inapp"))),
            secret=frozenset(spec.get("secret_params", [])),
            processes=tuple(spec["processes"]) if isinstance(spec.get("processes"), list) else None,
        )
        if not template.secret <= template.params:
            raise TemplateError(f"{source}: template {key}: secret_params must be among its params")
        unknown = template.placeholders() - CUSTOMER_FIELDS - template.params
        if unknown:
            raise TemplateError(f"{source}: template {key} uses unknown placeholders {sorted(unknown)}; "
                                f"declare them in params or use {sorted(CUSTOMER_FIELDS)}")
        out[key] = template
    return out


def load_templates(path: Path) -> dict[str, MessageTemplate]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise TemplateError(f"message templates not found at {path}") from exc
    except json.JSONDecodeError as exc:
        raise TemplateError(f"{path}: line {exc.lineno}: {exc.msg}") from exc
    return parse_templates(raw, source=str(path))


def salutation(name: str, gender: str | None, lang: str) -> str:
    """"王女士" in Chinese; in English "Ms Smith" for Latin names, else the full name as written
    (a title before a lone Chinese surname reads wrongly, and romanising names is not ours to guess)."""
    if lang == "en":
        if name.isascii() and gender in ("F", "M"):
            return f"{'Ms' if gender == 'F' else 'Mr'} {name.split()[-1]}"
        return name or "customer"
    return (name[:1] if name else "") + {"F": "女士", "M": "先生"}.get(gender or "", "客户")
