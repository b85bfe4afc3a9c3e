"""Channel adapters against real servers: aiosmtpd for e-mail, a local HTTP fake for SMS and WeChat.

The point is the error contract the outbox relies on: success gives a receipt, anything worth
retrying raises TransientChannelError, anything a retry cannot fix raises PermanentChannelError,
and resends with the same idempotency key are recognisable downstream.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from engine.clock import FrozenClock
from engine.outbox.ports import Channel, OutboundMessage, PermanentChannelError, TransientChannelError
from integrations.channels import SmsGatewayChannel, SmtpChannel, WeChatTemplateChannel, build_channels
from integrations.channels.smtp import message_id_for
from tests.support.gateway import FakeGateway
from tests.support.mail import MailSink, free_port

PHONE = "13812345678"
OPENID = "oUser-openid-1"
NOW = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)


def msg(channel: str, address: str, key: str = "key-1", **extra: Any) -> OutboundMessage:
    values: dict[str, Any] = {"subject": "您的贷款申请已受理", "body": "尊敬的客户：您的申请已受理，请留意短信通知。"} | extra
    return OutboundMessage(idempotency_key=key, channel=channel, address=address, **values)


# -- SMTP ------------------------------------------------------------------------------------
def test_smtp_delivers_chinese_once_with_message_id_from_key(sink: tuple[MailSink, int]) -> None:
    handler, port = sink
    receipt = SmtpChannel("127.0.0.1", port, "careflow@bank.example").send(msg("email", "li.wei@example.cn", key="n-42"))
    assert len(handler.messages) == 1
    mail = handler.messages[0]
    assert mail["Subject"] == "您的贷款申请已受理"
    assert mail.get_content().strip() == "尊敬的客户：您的申请已受理，请留意短信通知。"
    assert mail["Message-ID"] == "<n-42@careflow>" == receipt.provider_id
    assert (mail["From"], mail["To"]) == ("careflow@bank.example", "li.wei@example.cn")


def test_smtp_resend_carries_the_same_message_id(sink: tuple[MailSink, int]) -> None:
    handler, port = sink
    channel = SmtpChannel("127.0.0.1", port, "careflow@bank.example")
    channel.send(msg("email", "a@example.cn", key="outbox:7"))
    channel.send(msg("email", "a@example.cn", key="outbox:7"))
    assert [m["Message-ID"] for m in handler.messages] == ["<outbox%3A7@careflow>"] * 2 == [message_id_for("outbox:7")] * 2


def test_smtp_login(sink: tuple[MailSink, int]) -> None:
    handler, port = sink
    SmtpChannel("127.0.0.1", port, "careflow@bank.example", username="careflow", password="pa:ss").send(
        msg("email", "a@example.cn")
    )
    assert len(handler.messages) == 1
    with pytest.raises(PermanentChannelError, match="535"):
        SmtpChannel("127.0.0.1", port, "careflow@bank.example", username="careflow", password="wrong").send(
            msg("email", "a@example.cn")
        )


def test_smtp_4xx_is_transient_and_5xx_permanent(sink: tuple[MailSink, int]) -> None:
    handler, port = sink
    channel = SmtpChannel("127.0.0.1", port, "careflow@bank.example")
    handler.defer = 1
    with pytest.raises(TransientChannelError, match="451"):
        channel.send(msg("email", "a@example.cn"))
    handler.greylist.add("grey@example.cn")
    with pytest.raises(TransientChannelError, match="450"):
        channel.send(msg("email", "grey@example.cn"))
    handler.reject.add("gone@example.cn")
    with pytest.raises(PermanentChannelError, match="550"):
        channel.send(msg("email", "gone@example.cn"))
    assert handler.messages == []
    channel.send(msg("email", "a@example.cn"))  # the deferred one goes through on retry
    assert len(handler.messages) == 1


def test_smtp_unreachable_or_silent_server_is_transient() -> None:
    with pytest.raises(TransientChannelError):
        SmtpChannel("127.0.0.1", free_port(), "careflow@bank.example", timeout=2).send(msg("email", "a@example.cn"))
    with socket.socket() as silent:  # accepts TCP (kernel backlog) but never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        with pytest.raises(TransientChannelError):
            SmtpChannel("127.0.0.1", silent.getsockname()[1], "careflow@bank.example", timeout=0.2).send(
                msg("email", "a@example.cn")
            )


# -- SMS -------------------------------------------------------------------------------------
@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    with FakeGateway() as gw:
        yield gw


@pytest.fixture
def client(gateway: FakeGateway) -> Iterator[httpx.Client]:
    with httpx.Client() as http:
        yield http


@pytest.fixture
def sms(gateway: FakeGateway, client: httpx.Client) -> SmsGatewayChannel:
    return SmsGatewayChannel(gateway.sms_url, gateway.sms_secret, client=client, clock=FrozenClock(NOW))


def test_sms_success_is_signed_and_recorded(gateway: FakeGateway, sms: SmsGatewayChannel) -> None:
    receipt = sms.send(msg("sms", PHONE))
    assert receipt.provider_id == "sms-1"
    [sent] = gateway.sms_messages
    assert (sent["to"], sent["text"], sent["idempotency_key"]) == (PHONE, "尊敬的客户：您的申请已受理，请留意短信通知。", "key-1")
    assert sent["timestamp"] == str(int(NOW.timestamp()))


def test_sms_bad_signature_is_rejected_by_the_gateway(gateway: FakeGateway, client: httpx.Client) -> None:
    with pytest.raises(PermanentChannelError, match="401"):
        SmsGatewayChannel(gateway.sms_url, "wrong-secret", client=client).send(msg("sms", PHONE))
    assert gateway.sms_messages == []


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (503, TransientChannelError),
        (500, TransientChannelError),
        (429, TransientChannelError),
        (400, PermanentChannelError),
        (404, PermanentChannelError),
    ],
)
def test_sms_status_mapping(gateway: FakeGateway, sms: SmsGatewayChannel, status: int, error: type[Exception]) -> None:
    gateway.fail_next(1, status=status)
    with pytest.raises(error, match=str(status)):
        sms.send(msg("sms", PHONE))
    assert gateway.sms_messages == []


def test_sms_resend_with_same_key_is_recorded_once(gateway: FakeGateway, sms: SmsGatewayChannel) -> None:
    first, second = sms.send(msg("sms", PHONE)), sms.send(msg("sms", PHONE))
    assert first.provider_id == second.provider_id == "sms-1"
    assert len(gateway.sms_messages) == 1


def test_sms_timeouts_and_connection_errors_are_transient() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow gateway", request=request)

    with httpx.Client(transport=httpx.MockTransport(timeout)) as slow, pytest.raises(TransientChannelError, match="timed out"):
        SmsGatewayChannel("http://sms.invalid/send", "s", client=slow).send(msg("sms", PHONE))
    channel = SmsGatewayChannel(f"http://127.0.0.1:{free_port()}/sms", "s")
    with pytest.raises(TransientChannelError, match="unreachable"):
        channel.send(msg("sms", PHONE))
    channel.close()


def test_sms_never_logs_the_full_number(gateway: FakeGateway, sms: SmsGatewayChannel, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="integrations")
    sms.send(msg("sms", PHONE))
    gateway.fail_next(1, status=400)
    with pytest.raises(PermanentChannelError) as failure:
        sms.send(msg("sms", PHONE, key="key-2"))
    assert "138****5678" in caplog.text and PHONE not in caplog.text and PHONE not in str(failure.value)


# -- WeChat ----------------------------------------------------------------------------------
class Ticker:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ticker() -> Ticker:
    return Ticker()


@pytest.fixture
def wechat(gateway: FakeGateway, client: httpx.Client, ticker: Ticker) -> WeChatTemplateChannel:
    return WeChatTemplateChannel(gateway.base_url, gateway.appid, gateway.app_secret, client=client, clock=ticker)


def wx(key: str = "key-1", openid: str = OPENID, template: str | None = "TPL-loan") -> OutboundMessage:
    return msg(
        "wechat", openid, key=key, provider_template=template, fields={"first": "贷款申请已受理", "keyword1": "CF-2025-001"}
    )


def test_wechat_token_is_fetched_once_and_reused(gateway: FakeGateway, wechat: WeChatTemplateChannel, ticker: Ticker) -> None:
    assert wechat.send(wx("k1")).provider_id == "1001"
    ticker.now += 6800  # still inside expires_in (7200) minus the refresh margin
    assert wechat.send(wx("k2")).provider_id == "1002"
    assert gateway.tokens_issued == 1
    first = gateway.wechat_messages[0]
    assert (first["touser"], first["template_id"], first["client_msg_id"]) == (OPENID, "TPL-loan", "k1")
    assert first["data"] == {"first": {"value": "贷款申请已受理"}, "keyword1": {"value": "CF-2025-001"}}
    ticker.now += 200  # now within the margin: refreshed before WeChat would reject it
    wechat.send(wx("k3"))
    assert gateway.tokens_issued == 2


def test_wechat_expired_token_is_refetched_and_the_send_retried(gateway: FakeGateway, wechat: WeChatTemplateChannel) -> None:
    wechat.send(wx("k1"))
    gateway.expire_tokens()
    assert wechat.send(wx("k2")).provider_id == "1002"
    assert gateway.tokens_issued == 2 and len(gateway.wechat_messages) == 2


def test_wechat_token_rejected_twice_is_transient(gateway: FakeGateway, wechat: WeChatTemplateChannel) -> None:
    gateway.wechat_fail_next(2, errcode=40001)
    with pytest.raises(TransientChannelError, match="40001"):
        wechat.send(wx())
    assert gateway.tokens_issued == 2 and gateway.wechat_messages == []


@pytest.mark.parametrize(
    ("errcode", "error"),
    [
        (-1, TransientChannelError),
        (45009, TransientChannelError),
        (43004, PermanentChannelError),
        (40003, PermanentChannelError),
        (40037, PermanentChannelError),
    ],
)
def test_wechat_errcode_mapping(
    gateway: FakeGateway, wechat: WeChatTemplateChannel, errcode: int, error: type[Exception]
) -> None:
    gateway.wechat_fail_next(1, errcode=errcode)
    with pytest.raises(error, match=str(errcode)):
        wechat.send(wx())
    assert gateway.wechat_messages == []


def test_wechat_unsubscribed_user_and_missing_template_are_permanent(gateway: FakeGateway, wechat: WeChatTemplateChannel) -> None:
    gateway.unsubscribed.add("oGone")
    with pytest.raises(PermanentChannelError, match="43004"):
        wechat.send(wx(openid="oGone"))
    with pytest.raises(PermanentChannelError, match="provider_template"):
        wechat.send(wx(template=None))


def test_wechat_http_failures_and_bad_credentials_are_transient(
    gateway: FakeGateway, client: httpx.Client, wechat: WeChatTemplateChannel
) -> None:
    gateway.fail_next(1, status=502)
    with pytest.raises(TransientChannelError, match="502"):
        wechat.send(wx())
    with pytest.raises(TransientChannelError, match="40125"):
        WeChatTemplateChannel(gateway.base_url, gateway.appid, "wrong", client=client).send(wx())
    assert wechat.send(wx()).provider_id == "1001"


def test_wechat_resend_with_same_key_is_recorded_once(gateway: FakeGateway, wechat: WeChatTemplateChannel) -> None:
    assert wechat.send(wx("k1")).provider_id == wechat.send(wx("k1")).provider_id
    assert len(gateway.wechat_messages) == 1


# -- the contract every channel keeps -----------------------------------------------------------
@dataclass
class Harness:
    channel: Channel
    message: OutboundMessage
    delivered: Callable[[], int]
    break_once: Callable[[], None]  # the next send meets a transient failure
    reject_address: Callable[[], None]  # the address becomes permanently undeliverable


@pytest.fixture(params=["email", "sms", "wechat"])
def harness(
    request: pytest.FixtureRequest,
    sink: tuple[MailSink, int],
    gateway: FakeGateway,
    sms: SmsGatewayChannel,
    wechat: WeChatTemplateChannel,
) -> Harness:
    handler, port = sink
    if request.param == "email":
        return Harness(
            SmtpChannel("127.0.0.1", port, "careflow@bank.example"),
            msg("email", "a@example.cn"),
            lambda: len(handler.messages),
            lambda: setattr(handler, "defer", 1),
            lambda: handler.reject.add("a@example.cn"),
        )
    if request.param == "sms":
        return Harness(
            sms,
            msg("sms", PHONE),
            lambda: len(gateway.sms_messages),
            lambda: gateway.fail_next(1, 503),
            lambda: gateway.fail_next(1, 400),
        )
    return Harness(
        wechat,
        wx(),
        lambda: len(gateway.wechat_messages),
        lambda: gateway.wechat_fail_next(1, -1),
        lambda: gateway.unsubscribed.add(OPENID),
    )


def test_channel_contract(harness: Harness) -> None:
    assert harness.channel.name == harness.message.channel
    harness.break_once()
    with pytest.raises(TransientChannelError):
        harness.channel.send(harness.message)
    assert harness.delivered() == 0
    receipt = harness.channel.send(harness.message)
    assert receipt.provider_id and harness.delivered() == 1
    harness.reject_address()
    with pytest.raises(PermanentChannelError):
        harness.channel.send(replace(harness.message, idempotency_key="key-2"))
    assert harness.delivered() == 1


# -- configuration -------------------------------------------------------------------------------
def test_build_channels_builds_only_what_is_configured() -> None:
    assert build_channels({}) == {}
    channels = build_channels(
        {
            "CAREFLOW_SMTP_URL": "smtp://careflow:p%40ss@mail.bank.example:2525?starttls=1&from=careflow@bank.example&timeout=3",
            "CAREFLOW_SMS_GATEWAY_URL": "https://sms.bank.example/send",
            "CAREFLOW_SMS_GATEWAY_SECRET": "s",
            "CAREFLOW_WECHAT_APPID": "wx1",
            "CAREFLOW_WECHAT_SECRET": "w",
        }
    )
    email, sms, wechat = channels["email"], channels["sms"], channels["wechat"]
    assert isinstance(email, SmtpChannel) and isinstance(sms, SmsGatewayChannel) and isinstance(wechat, WeChatTemplateChannel)
    assert (email.host, email.port, email.sender, email.username, email.starttls, email.timeout) == (
        "mail.bank.example",
        2525,
        "careflow@bank.example",
        "careflow",
        True,
        3.0,
    )
    assert "p@ss" not in repr(email) and wechat.base_url == "https://api.weixin.qq.com"
    sms.close()
    wechat.close()


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"CAREFLOW_SMTP_URL": "http://mail.bank.example?from=a@b"}, "CAREFLOW_SMTP_URL"),
        ({"CAREFLOW_SMTP_URL": "smtp://u:secret@mail.bank.example:99999?from=a@b"}, "CAREFLOW_SMTP_URL"),
        ({"CAREFLOW_SMTP_URL": "smtp://u:secret@mail.bank.example"}, "CAREFLOW_SMTP_URL"),
        ({"CAREFLOW_SMTP_URL": "smtp://u:secret@mail.bank.example?from=a@b&starttls=maybe"}, "CAREFLOW_SMTP_URL"),
        ({"CAREFLOW_SMTP_URL": "smtp://u:secret@mail.bank.example?from=a@b&timout=5"}, "CAREFLOW_SMTP_URL"),
        ({"CAREFLOW_SMS_GATEWAY_URL": "sms.bank.example/send", "CAREFLOW_SMS_GATEWAY_SECRET": "s"}, "CAREFLOW_SMS_GATEWAY_URL"),
        ({"CAREFLOW_SMS_GATEWAY_URL": "https://sms.bank.example/send"}, "CAREFLOW_SMS_GATEWAY_SECRET"),
        ({"CAREFLOW_WECHAT_APPID": "wx1"}, "CAREFLOW_WECHAT_SECRET"),
        (
            {"CAREFLOW_WECHAT_API_URL": "ftp://x", "CAREFLOW_WECHAT_APPID": "wx1", "CAREFLOW_WECHAT_SECRET": "w"},
            "CAREFLOW_WECHAT_API_URL",
        ),
    ],
)
def test_build_channels_rejects_bad_config_naming_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ValueError, match=variable) as failure:
        build_channels(env)
    assert "secret" not in str(failure.value).replace("SECRET", "")
