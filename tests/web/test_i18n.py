"""The UI speaks Chinese by default and English on request; every UI message has its Chinese translation."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.pofile import read_po

from web.i18n import CATALOGUES, compiled_catalogues

WEB = Path(__file__).resolve().parents[2] / "web"
# _("..."), _('...'), _l("..."), gettext("...") — the first argument, a literal.
CALL = re.compile(r"""(?<![\w.])(?:_|_l|gettext|lazy_gettext)\(\s*(?P<q>["'])(?P<msg>.+?)(?<!\\)(?P=q)""")


def used_messages() -> set[str]:
    found: set[str] = set()
    for path in [*WEB.rglob("*.html"), *WEB.rglob("*.py")]:
        found.update(m.group("msg") for m in CALL.finditer(path.read_text(encoding="utf-8")))
    return found


def chinese_catalogue() -> dict[str, str]:
    with (CATALOGUES / "zh" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle, locale="zh")
    return {m.id: m.string for m in catalog if m.id}


def test_every_message_has_a_chinese_translation_and_none_is_stale():
    used, catalogue = used_messages(), chinese_catalogue()
    assert len(used) > 50  # the extractor found the UI's messages
    assert sorted(used - catalogue.keys()) == []
    assert sorted(m for m in used if not catalogue.get(m)) == []
    assert sorted(catalogue.keys() - used) == []


def test_catalogue_compiles_once_per_content(tmp_path):
    source = tmp_path / "src" / "zh" / "LC_MESSAGES"
    source.mkdir(parents=True)
    (source / "messages.po").write_text('msgid ""\nmsgstr ""\n\nmsgid "Inbox"\nmsgstr "任务箱"\n', encoding="utf-8")
    first = compiled_catalogues(tmp_path / "src")
    assert (first / "zh" / "LC_MESSAGES" / "messages.mo").stat().st_size > 0
    assert compiled_catalogues(tmp_path / "src") == first
    (source / "messages.po").write_text('msgid ""\nmsgstr ""\n\nmsgid "Inbox"\nmsgstr "收件箱"\n', encoding="utf-8")
    assert compiled_catalogues(tmp_path / "src") != first


def test_chinese_by_default_english_on_request_and_remembered(ctx):
    from web import create_app

    client = create_app({"TESTING": True}, engine=ctx).test_client()
    page = client.get("/login").get_data(as_text=True)
    assert '<html lang="zh-CN">' in page and "用户名" in page and "User name" not in page
    page = client.get("/login?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in page and "User name" in page and "用户名" not in page
    assert "User name" in client.get("/login").get_data(as_text=True)  # the cookie remembers the choice
    switched = client.get("/lang/zh?next=/login")
    assert switched.status_code == 302 and switched.headers["Location"] == "/login"
    assert "用户名" in client.get("/login").get_data(as_text=True)


def test_language_switch_never_redirects_off_site(ctx):
    from web import create_app

    client = create_app({"TESTING": True}, engine=ctx).test_client()
    for target in ("//evil.example/x", "https://evil.example/", "javascript:alert(1)", "evil"):
        assert client.get("/lang/en", query_string={"next": target}).headers["Location"] == "/"
