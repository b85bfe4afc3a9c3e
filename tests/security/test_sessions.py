"""Sessions and login: finding 8 of the trust probe, pinned point by point.

Each test does what the probe did (replay a cookie after logout, wait out a session, lock an account, guess
passwords from one address, time unknown names, look at the headers) and checks the answer. Timeouts run on the
injected FrozenClock: no sleeps.
"""

from __future__ import annotations

import os
import stat
from dataclasses import replace
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner
from sqlalchemy import select

from engine.context import build_engine
from engine.db.models import ApiToken, AuditEvent
from engine.errors import AuthenticationError, PermissionDeniedError, RateLimitedError
from engine.services import identity
from tests.support.care import RecordingChannel, add_customers, customer
from tests.support.portal import portal_login
from tests.support.web import PASSWORD, login
from web import create_app

WANG = "13912345678"


@pytest.fixture
def sms(ctx):
    channel = RecordingChannel("sms")
    ctx.register_channel(channel)
    return channel


@pytest.fixture
def app(ctx, people, sms):
    add_customers(ctx, customer("C1001", name="王建国", phone=WANG))
    return create_app({"TESTING": True, "SECRET_KEY": "test"}, engine=ctx)


def _replay(app, client, *, https: bool = False):
    """A fresh client carrying the cookie ``client`` holds now (what an attacker who copied it would send)."""
    cookie = client.get_cookie("session", domain="localhost")
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie("session", cookie.value, domain="localhost", secure=https)
    return thief


def _from(app, address: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _actions(ctx, username: str) -> list[str]:
    with ctx.sessions() as session:
        return list(session.scalars(select(AuditEvent.action).where(AuditEvent.stream == f"user:{username}")
                                    .order_by(AuditEvent.id)))


def _form_login(client, username: str, password: str = PASSWORD, **kwargs):
    page = client.get("/login", **kwargs).get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token}, **kwargs)


# --- logout really ends the session -------------------------------------------------------------------------------

def test_a_staff_cookie_replayed_after_logout_gets_the_login_page_and_a_401(app, ctx):
    alice, csrf = login(app, "alice")
    copied = _replay(app, alice)
    assert copied.get("/").status_code == 200  # the copy works while the session lives
    assert alice.post("/logout", data={"csrf_token": csrf}).status_code == 302
    replayed = copied.get("/")
    assert replayed.status_code == 302 and "/login" in replayed.headers["Location"]
    assert copied.get("/api/v1/tasks").status_code == 401
    assert _actions(ctx, "alice")[-2:] == ["login.succeeded", "logout"]


def test_a_portal_cookie_replayed_after_logout_gets_the_login_page(app, ctx, sms):
    client, token = portal_login(app, ctx, sms, WANG)
    copied = _replay(app, client)
    assert copied.get("/portal/complaints").status_code == 200
    client.post("/portal/logout", data={"csrf_token": token})
    replayed = copied.get("/portal/complaints")
    assert replayed.status_code == 302 and replayed.headers["Location"].endswith("/portal/login")


# --- timeouts -----------------------------------------------------------------------------------------------------

def test_a_staff_session_ends_after_15_idle_minutes(app, clock):
    alice, _ = login(app, "alice")
    clock.advance(timedelta(minutes=14))
    assert alice.get("/").status_code == 200  # activity keeps it alive
    clock.advance(timedelta(minutes=14))
    assert alice.get("/").status_code == 200
    clock.advance(timedelta(minutes=15, seconds=1))
    gone = alice.get("/")
    assert gone.status_code == 302 and "/login" in gone.headers["Location"]


def test_a_busy_staff_session_still_ends_after_12_hours(app, clock):
    alice, _ = login(app, "alice")
    for _ in range(12 * 6 - 1):
        clock.advance(timedelta(minutes=10))
        assert alice.get("/").status_code == 200
    clock.advance(timedelta(minutes=10, seconds=1))
    assert alice.get("/").status_code == 302


def test_the_timeouts_are_settings(app, ctx, clock):
    ctx.settings = replace(ctx.settings, sessions=replace(ctx.settings.sessions, idle_minutes=5))
    alice, _ = login(app, "alice")
    clock.advance(timedelta(minutes=5, seconds=1))
    assert alice.get("/").status_code == 302


def test_expired_sessions_are_purged_without_the_scheduler(app, ctx, clock):
    from engine.db.auth_state import WebSession
    from engine.services import sessions

    login(app, "alice")
    login(app, "bob")
    clock.advance(timedelta(hours=13))
    assert sessions.purge_expired(ctx) == 2
    with ctx.sessions() as session:
        assert session.scalars(select(WebSession)).all() == []


# --- a lock ends sessions and tokens --------------------------------------------------------------------------------

def test_an_admin_lock_ends_the_session_and_the_api_token_and_an_unlock_lets_the_user_back(app, ctx, people):
    alice, _ = login(app, "alice")
    token = identity.create_token(ctx, username="alice")
    with pytest.raises(PermissionDeniedError):
        identity.lock_user(ctx, "alice", actor=people["bob"])
    identity.lock_user(ctx, "alice", actor=people["root"])
    assert alice.get("/").status_code == 302
    assert app.test_client().get("/api/v1/tasks", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    with pytest.raises(AuthenticationError):
        identity.authenticate_password(ctx, "alice", PASSWORD)
    identity.unlock_user(ctx, "alice", actor=people["root"])
    assert identity.authenticate_password(ctx, "alice", PASSWORD).username == "alice"
    assert ["user.locked", "user.unlocked"] == [a for a in _actions(ctx, "alice") if a in ("user.locked", "user.unlocked")]


def test_deactivation_deletes_the_sessions_so_a_reactivation_does_not_revive_them(app, ctx, people):
    alice, _ = login(app, "alice")
    identity.update_user(ctx, "alice", actor=people["root"], active=False)
    identity.update_user(ctx, "alice", actor=people["root"], active=True)
    assert alice.get("/").status_code == 302


# --- API tokens expire and record their use ------------------------------------------------------------------------

def test_api_tokens_expire_after_90_days_by_default(app, ctx, clock):
    issued = identity.issue_token(ctx, username="alice")
    assert issued.expires_at == clock.now() + timedelta(days=90)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {issued.token}"}
    clock.advance(timedelta(days=89))
    assert client.get("/api/v1/tasks", headers=headers).status_code == 200
    clock.advance(timedelta(days=1, seconds=1))
    assert client.get("/api/v1/tasks", headers=headers).status_code == 401
    assert "token.expired" in _actions(ctx, "alice")


def test_the_token_expiry_is_shown_when_a_token_is_made(ctx, settings, monkeypatch):
    from web.cli import main

    monkeypatch.setenv("DATABASE_URL", settings.database.url)
    monkeypatch.setenv("CAREFLOW_DATA_KEY", settings.privacy.data_key)
    identity.create_user(ctx, username="li.na", roles=["staff"], password=PASSWORD)
    result = CliRunner().invoke(main, ["token", "create", "li.na"])
    assert result.exit_code == 0 and "expires" in result.stderr
    assert identity.authenticate_token(ctx, result.stdout.strip()).username == "li.na"


def test_last_used_at_is_written_at_most_once_a_minute(ctx, clock, people):
    token = identity.create_token(ctx, username="alice")

    def last_used():
        with ctx.sessions() as session:
            return session.scalars(select(ApiToken.last_used_at)).one()

    identity.authenticate_token(ctx, token)
    first = clock.now()
    assert last_used() == first
    clock.advance(timedelta(seconds=30))
    identity.authenticate_token(ctx, token)
    assert last_used() == first  # no write for a call within the minute
    clock.advance(timedelta(seconds=31))
    identity.authenticate_token(ctx, token)
    assert last_used() == clock.now()


# --- a persistent secret key ----------------------------------------------------------------------------------------

def test_the_embedded_secret_key_is_made_once_next_to_the_database_with_mode_0600(ctx, tmp_path):
    ctx.settings = replace(ctx.settings, database=replace(ctx.settings.database, url=f"sqlite:///{tmp_path}/careflow.db"),
                           sessions=replace(ctx.settings.sessions, secret_key=None))
    first = create_app({"TESTING": True}, engine=ctx).config["SECRET_KEY"]
    second = create_app({"TESTING": True}, engine=ctx).config["SECRET_KEY"]
    key_file = tmp_path / "secret.key"
    assert first == second and len(first) >= 32 and key_file.read_text().strip() == first
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600


def test_a_configured_secret_key_is_shared_by_every_node(ctx):
    from engine.config import Settings

    assert Settings.from_env({"CAREFLOW_SECRET_KEY": "k" * 40}).sessions.secret_key == "k" * 40
    ctx.settings = replace(ctx.settings, sessions=replace(ctx.settings.sessions, secret_key="k" * 40))
    one, two = (create_app({"TESTING": True}, engine=ctx) for _ in range(2))
    assert one.config["SECRET_KEY"] == two.config["SECRET_KEY"] == "k" * 40


def test_a_session_survives_a_restart(ctx, people, tmp_path):
    ctx.settings = replace(ctx.settings, database=replace(ctx.settings.database, url=f"sqlite:///{tmp_path}/careflow.db"),
                           sessions=replace(ctx.settings.sessions, secret_key=None))
    before = create_app({"TESTING": True}, engine=ctx)
    alice, _ = login(before, "alice")
    after = create_app({"TESTING": True}, engine=ctx)
    assert _replay(after, alice).get("/").status_code == 200


# --- login throttling (shared through the database, no lock an outsider can use) ------------------------------------

def test_wrong_passwords_for_one_account_are_throttled_with_a_growing_delay_not_a_lock(ctx, clock, people):
    for _ in range(5):
        with pytest.raises(AuthenticationError):
            identity.authenticate_password(ctx, "root", "wrong password", ip="10.0.0.9")
    with pytest.raises(RateLimitedError) as first:
        identity.authenticate_password(ctx, "root", PASSWORD, ip="10.0.0.8")
    clock.advance(timedelta(seconds=first.value.retry_after))
    with pytest.raises(AuthenticationError):
        identity.authenticate_password(ctx, "root", "wrong again", ip="10.0.0.9")
    with pytest.raises(RateLimitedError) as second:
        identity.authenticate_password(ctx, "root", PASSWORD, ip="10.0.0.8")
    assert second.value.retry_after > first.value.retry_after  # the delay grows
    for _ in range(30):  # an outsider keeps going: still only a delay, capped
        clock.advance(timedelta(hours=1))
        with pytest.raises(AuthenticationError):
            identity.authenticate_password(ctx, "root", "wrong again", ip="10.0.0.9")
    clock.advance(timedelta(seconds=ctx.settings.security.login_throttle_max_seconds))
    assert identity.authenticate_password(ctx, "root", PASSWORD, ip="10.0.0.8").username == "root"


def test_one_address_guessing_many_accounts_is_throttled(ctx, clock, people):
    names = ["alice", "bob", "carol", "sam", "dora"] * 4
    for name in names:
        with pytest.raises(AuthenticationError):
            identity.authenticate_password(ctx, name, "wrong password", ip="10.0.0.66")
    with pytest.raises(RateLimitedError):
        identity.authenticate_password(ctx, "root", PASSWORD, ip="10.0.0.66")
    assert identity.authenticate_password(ctx, "root", PASSWORD, ip="10.0.0.7").username == "root"


def test_throttle_counters_live_in_the_database_for_every_worker(ctx, settings, db, clock, people):
    other_worker = build_engine(settings, clock=clock, db=db)
    for _ in range(5):
        with pytest.raises(AuthenticationError):
            identity.authenticate_password(ctx, "alice", "wrong password", ip="10.0.0.9")
    with pytest.raises(RateLimitedError):
        identity.authenticate_password(other_worker, "alice", PASSWORD, ip="10.0.0.9")


def test_an_admin_unlocks_a_throttled_account(ctx, people):
    for _ in range(5):
        with pytest.raises(AuthenticationError):
            identity.authenticate_password(ctx, "alice", "wrong password")
    with pytest.raises(PermissionDeniedError):
        identity.unlock_user(ctx, "alice", actor=people["sam"])
    identity.unlock_user(ctx, "alice", actor=people["root"])
    assert identity.authenticate_password(ctx, "alice", PASSWORD).username == "alice"


def test_the_login_page_answers_429_when_throttled(app, clock):
    client = _from(app, "10.1.1.1")
    for _ in range(5):
        assert _form_login(client, "alice", "wrong password").status_code == 401
    throttled = _form_login(client, "alice")
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) > 0


def test_guessing_does_not_end_the_victim_s_session(app, clock):
    root, _ = login(app, "root")
    attacker = _from(app, "10.6.6.6")
    for _ in range(8):
        _form_login(attacker, "root", "wrong password")
    assert root.get("/").status_code == 200


# --- unknown user names cost as much as real ones ----------------------------------------------------------------

def test_an_unknown_user_name_is_checked_against_a_dummy_hash(ctx, people, monkeypatch):
    calls = []
    real = PasswordHasher.verify

    def counting(self, hashed, password):
        calls.append(hashed)
        return real(self, hashed, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting)
    with pytest.raises(AuthenticationError):
        identity.authenticate_password(ctx, "no.such.user", "whatever 123")
    with pytest.raises(AuthenticationError):
        identity.authenticate_password(ctx, "alice", "whatever 123")
    assert len(calls) == 2 and all(h.startswith("$argon2id$") for h in calls)


# --- headers: HSTS, Secure cookies, no-store ---------------------------------------------------------------------

def test_hsts_and_secure_cookies_over_tls(app):
    client = app.test_client()
    response = _form_login(client, "alice", base_url="https://localhost")
    assert response.status_code == 302
    assert "max-age=" in response.headers["Strict-Transport-Security"]
    assert "Secure" in response.headers["Set-Cookie"] and "HttpOnly" in response.headers["Set-Cookie"]
    plain = app.test_client().get("/login")
    assert "Strict-Transport-Security" not in plain.headers and "Secure" not in plain.headers.get("Set-Cookie", "")


def test_x_forwarded_proto_counts_only_when_trusted(app, ctx):
    headers = {"X-Forwarded-Proto": "https"}
    assert "Strict-Transport-Security" not in app.test_client().get("/login", headers=headers).headers
    ctx.settings = replace(ctx.settings, sessions=replace(ctx.settings.sessions, trust_forwarded_proto=True))
    trusted = app.test_client()
    page = trusted.get("/login", headers=headers)
    assert "Strict-Transport-Security" in page.headers and "Secure" in page.headers["Set-Cookie"]


def test_authenticated_pages_and_api_answers_are_never_cached(app, ctx):
    alice, _ = login(app, "alice")
    for path in ("/", "/api/v1/tasks"):
        assert alice.get(path).headers.get("Cache-Control") == "no-store", path
    token = identity.create_token(ctx, username="alice")
    api = app.test_client().get("/api/v1/tasks", headers={"Authorization": f"Bearer {token}"})
    assert api.headers.get("Cache-Control") == "no-store"


# --- everything audited -------------------------------------------------------------------------------------------

def test_token_creation_and_throttling_are_audited(ctx, people):
    identity.create_token(ctx, username="alice")
    for _ in range(5):
        with pytest.raises(AuthenticationError):
            identity.authenticate_password(ctx, "alice", "wrong password")
    actions = _actions(ctx, "alice")
    assert "token.created" in actions and "login.throttled" in actions


def test_an_admin_locks_and_unlocks_from_the_users_page(app, ctx):
    alice, _ = login(app, "alice")
    root, csrf = login(app, "root")
    root.post("/admin/users/alice/lock", data={"csrf_token": csrf})
    assert alice.get("/").status_code == 302
    assert 'id="unlock-alice"' in root.get("/admin/users").get_data(as_text=True)
    sam, sam_csrf = login(app, "sam")
    sam.post("/admin/users/alice/unlock", data={"csrf_token": sam_csrf})  # supervisors may not
    assert 'id="unlock-alice"' in root.get("/admin/users").get_data(as_text=True)
    root.post("/admin/users/alice/unlock", data={"csrf_token": csrf})
    assert 'id="lock-alice"' in root.get("/admin/users").get_data(as_text=True)
    login(app, "alice")


# --- optional second factor (TOTP) for supervisors and admins ---------------------------------------------------

def _totp_code(secret_b32: str, at) -> str:
    import base64

    from cryptography.hazmat.primitives.hashes import SHA1
    from cryptography.hazmat.primitives.twofactor.totp import TOTP

    return TOTP(base64.b32decode(secret_b32), 6, SHA1(), 30).generate(at.timestamp()).decode()


def _enrol(app, clock, username: str) -> str:
    client, csrf = login(app, username)
    page = client.get("/account/second-factor").get_data(as_text=True)
    assert "otpauth://totp/" in page
    secret = page.split('id="totp-secret">')[1].split("<")[0]
    done = client.post("/account/second-factor", data={"csrf_token": csrf, "code": _totp_code(secret, clock.now())})
    assert done.status_code == 302, done.get_data(as_text=True)
    return secret


def test_a_supervisor_with_a_second_factor_needs_the_code_to_sign_in(app, ctx, clock):
    secret = _enrol(app, clock, "sam")
    assert "totp.enrolled" in _actions(ctx, "sam")
    client = app.test_client()
    first = _form_login(client, "sam")
    assert first.status_code == 302 and "/login/code" in first.headers["Location"]
    assert client.get("/").status_code == 302  # the password alone opens nothing
    page = client.get("/login/code").get_data(as_text=True)
    csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
    assert client.post("/login/code", data={"csrf_token": csrf, "code": "000000"}).status_code == 401
    clock.advance(timedelta(seconds=30))
    right = client.post("/login/code", data={"csrf_token": csrf, "code": _totp_code(secret, clock.now())})
    assert right.status_code == 302 and client.get("/").status_code == 200
    replay = app.test_client()  # the same code a second time (shoulder-surfed): refused
    _form_login(replay, "sam")
    page = replay.get("/login/code").get_data(as_text=True)
    csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
    assert replay.post("/login/code", data={"csrf_token": csrf, "code": _totp_code(secret, clock.now())}
                       ).status_code == 401


def test_the_second_factor_secret_is_stored_encrypted_and_staff_have_no_enrolment(app, ctx, clock):
    from engine.db.models import User
    from engine.privacy import totp_secret_field

    secret = _enrol(app, clock, "root")
    with ctx.sessions() as session:
        stored = session.scalars(select(User.totp_secret).where(User.username == "root")).one()
    assert stored and secret not in stored and ctx.cipher.decrypt(stored, totp_secret_field("root")) == secret
    alice, _ = login(app, "alice")
    assert alice.get("/account/second-factor").status_code == 403


def test_wrong_codes_are_throttled(app, clock):
    _enrol(app, clock, "sam")
    client = app.test_client()
    _form_login(client, "sam")
    page = client.get("/login/code").get_data(as_text=True)
    csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
    answers = [client.post("/login/code", data={"csrf_token": csrf, "code": "000000"}).status_code for _ in range(6)]
    assert answers == [401] * 5 + [429]


def test_a_lost_phone_is_reset_from_the_cli(app, ctx, clock, settings, monkeypatch):
    from web.cli import main

    _enrol(app, clock, "sam")
    monkeypatch.setenv("DATABASE_URL", settings.database.url)
    monkeypatch.setenv("CAREFLOW_DATA_KEY", settings.privacy.data_key)
    assert CliRunner().invoke(main, ["user", "reset-2fa", "sam"]).exit_code == 0
    assert "totp.reset" in _actions(ctx, "sam")
    login(app, "sam")  # the password alone signs in again


def test_behind_a_trusted_proxy_the_forwarded_address_is_throttled_not_the_proxy(app, ctx):
    ctx.settings = replace(ctx.settings, sessions=replace(ctx.settings.sessions, trust_forwarded_proto=True))
    proxy = _from(app, "10.0.0.1")
    for n in range(20):
        assert _form_login(proxy, f"guess{n}", "wrong password",
                           headers={"X-Forwarded-For": "198.51.100.7"}).status_code == 401
    assert _form_login(proxy, "carol", headers={"X-Forwarded-For": "spoofed, 198.51.100.7"}).status_code == 429
    assert _form_login(proxy, "carol", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 302
