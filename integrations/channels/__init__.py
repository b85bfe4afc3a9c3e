"""Channel adapters behind the outbox port (:mod:`engine.outbox.ports`): e-mail, SMS, WeChat.

Each adapter carries one rendered message to one address and maps the provider's answer to
"delivered", "retry later" or "give up"; the engine owns consent, timing, caps and retries.

:func:`build_channels` turns environment-style settings into adapters. Only configured channels
are built, so a deployment without WeChat simply has no ``"wechat"`` entry; a half-configured or
malformed channel is an error at start-up (naming the variable) rather than at the first send.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import parse_qs, unquote, urlsplit

from engine.context import EngineContext
from engine.outbox.ports import Channel
from integrations.channels.sandbox import SandboxChannel, mailbox_path, sandbox_channels
from integrations.channels.sms_http import SmsGatewayChannel
from integrations.channels.smtp import SmtpChannel
from integrations.channels.wechat import WeChatTemplateChannel

__all__ = ["SandboxChannel", "SmsGatewayChannel", "SmtpChannel", "WeChatTemplateChannel", "build_channels", "register"]

DEFAULT_WECHAT_API_URL = "https://api.weixin.qq.com"
_SMTP_OPTIONS = frozenset({"starttls", "from", "timeout"})
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def build_channels(env: Mapping[str, str]) -> dict[str, Channel]:
    """The channels configured in ``env`` (e.g. ``os.environ``), keyed by channel name."""
    channels: dict[str, Channel] = {}
    smtp_url = _get(env, "CAREFLOW_SMTP_URL")
    if smtp_url:
        channels["email"] = _smtp_from_url(smtp_url)
    sms = _sms_from_env(env)
    if sms is not None:
        channels["sms"] = sms
    wechat = _wechat_from_env(env)
    if wechat is not None:
        channels["wechat"] = wechat
    return channels


def _get(env: Mapping[str, str], name: str) -> str:
    return env.get(name, "").strip()


def _smtp_from_url(url: str, var: str = "CAREFLOW_SMTP_URL") -> SmtpChannel:
    parts = urlsplit(url)
    if parts.scheme != "smtp":
        raise ValueError(f"{var}: scheme must be smtp://, got {parts.scheme!r}")
    if not parts.hostname:
        raise ValueError(f"{var}: missing host (expected smtp://[user:pass@]host[:port]?from=...)")
    try:
        port = parts.port or 25
    except ValueError as exc:
        raise ValueError(f"{var}: invalid port ({exc})") from exc
    options = {key: values[-1] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
    unknown = sorted(set(options) - _SMTP_OPTIONS)
    if unknown:
        raise ValueError(f"{var}: unknown option(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_SMTP_OPTIONS))}")
    sender = options.get("from", "").strip()
    if "@" not in sender:
        raise ValueError(f"{var}: from=<sender address> is required, e.g. ?from=careflow@bank.example")
    starttls_text = options.get("starttls", "0").strip().lower()
    if starttls_text not in _TRUE | _FALSE:
        raise ValueError(f"{var}: starttls must be 0 or 1, got {starttls_text!r}")
    return SmtpChannel(
        host=parts.hostname,
        port=port,
        sender=sender,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        starttls=starttls_text in _TRUE,
        timeout=_timeout(options.get("timeout", "10"), var),
    )


def _timeout(text: str, var: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{var}: timeout must be a number of seconds, got {text!r}") from None
    if not 0 < value <= 300:
        raise ValueError(f"{var}: timeout must be between 0 and 300 seconds, got {value}")
    return value


def _http_url(url: str, var: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # The URL itself is not echoed: it may carry credentials.
        raise ValueError(f"{var}: expected an http(s):// URL with a host (got scheme {parts.scheme!r})")
    try:
        parts.port  # noqa: B018 - evaluated for its validation
    except ValueError as exc:
        raise ValueError(f"{var}: invalid port ({exc})") from exc
    return url


def _require(env: Mapping[str, str], name: str, because: str) -> str:
    value = _get(env, name)
    if not value:
        raise ValueError(f"{name} is required when {because} is set")
    return value


def _sms_from_env(env: Mapping[str, str]) -> SmsGatewayChannel | None:
    url, secret = _get(env, "CAREFLOW_SMS_GATEWAY_URL"), _get(env, "CAREFLOW_SMS_GATEWAY_SECRET")
    if not url and not secret:
        return None
    if not url:
        raise ValueError("CAREFLOW_SMS_GATEWAY_URL is required when CAREFLOW_SMS_GATEWAY_SECRET is set")
    secret = _require(env, "CAREFLOW_SMS_GATEWAY_SECRET", "CAREFLOW_SMS_GATEWAY_URL")
    return SmsGatewayChannel(_http_url(url, "CAREFLOW_SMS_GATEWAY_URL"), secret)


def _wechat_from_env(env: Mapping[str, str]) -> WeChatTemplateChannel | None:
    names = ("CAREFLOW_WECHAT_API_URL", "CAREFLOW_WECHAT_APPID", "CAREFLOW_WECHAT_SECRET")
    present = [name for name in names if _get(env, name)]
    if not present:
        return None
    because = present[0]
    appid = _require(env, "CAREFLOW_WECHAT_APPID", because)
    secret = _require(env, "CAREFLOW_WECHAT_SECRET", because)
    base = _http_url(_get(env, "CAREFLOW_WECHAT_API_URL") or DEFAULT_WECHAT_API_URL, "CAREFLOW_WECHAT_API_URL")
    return WeChatTemplateChannel(base, appid, secret)


def register(ctx: EngineContext) -> None:
    """Engine plug-in hook (``CAREFLOW_HANDLER_MODULES``): add the channels configured in the environment.

    Channels named in ``CAREFLOW_CHANNEL_SANDBOX`` (comma-separated) that have no real gateway get
    the logging sandbox, for development only.
    """
    configured = build_channels(os.environ)
    for name in sandbox_channels():
        if name not in configured:
            configured[name] = SandboxChannel(name, mailbox_path(), ctx.clock)
    for channel in configured.values():
        ctx.register_channel(channel)
