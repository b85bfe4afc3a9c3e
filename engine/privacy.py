"""Customer personal data: encryption at rest, lookup indexes and masking.

Personal fields (name, full birth date, phone, e-mail, ID number, address; a complainant's phone) are stored with
AES-256-GCM (``cryptography``), each value with its own random nonce, so equal values do not look equal in the
table. A field is written as ``v2:<key id>:<base64(nonce + ciphertext)>`` and sealed with *where it lives* as
associated data (table, column, row id; :class:`Where`): a ciphertext copied into another row or column fails to
open with :class:`CiphertextMismatchError` instead of showing one customer's phone on another's page.

The keys form a :class:`Keyring` (several keys with ids, one active; ``careflow keys rotate`` adds one and
re-encrypts, see ``engine.keys``). The first key of the ring is the *primary* one: lookups ("which customer has
this phone?", a name prefix) go through keyed HMAC-SHA256 indexes and the audit chain through an HMAC, both with
keys derived from it with HKDF, so they stay stable across rotations, the index key cannot decrypt, and the
encryption key cannot be guessed from the index. Fields written before key versions (``v1:``, no key id, no row
binding) and documents sealed before (``z1:``) open with the primary key; rotation rewrites them.

Whole documents that may hold personal data — a process instance's state carries what forms collected, such as an
ID number during onboarding — are sealed the same way after compression (:meth:`FieldCipher.seal`).

Masking is for lists and logs (docs/domain.md §3): ``138****5678``, ``张*丰``, ``l***@example.cn``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from engine.errors import ConfigurationError, EngineError

_LEGACY = "v1:"
_PREFIX = "v2:"
_LEGACY_SEALED = "z1:"
_SEALED = "z2:"
_LEGACY_SEALED_AAD = b"careflow:document"
_KEY_ID = re.compile(r"[a-z0-9]{1,16}")
# Name prefixes longer than this are not indexed (a search with more characters matches on the first ones).
NAME_PREFIX_MAX = 12


class CiphertextMismatchError(EngineError, ValueError):
    """A stored ciphertext does not open where it was read: moved from another row or column, altered, or sealed
    with a key this keyring does not have. Never answered with a wrong or empty value."""

    code = "ciphertext_mismatch"


class Where(NamedTuple):
    """Where a value lives; bound into the ciphertext as associated data."""

    table: str
    column: str
    row: str

    def aad(self) -> bytes:
        return f"careflow:{self.table}:{self.column}:{self.row}".encode()


def customer_field(column: str, customer_id: str) -> Where:
    """Where a customer's encrypted ``column`` lives (``phone``, ``email``, ``id_number``, ``address``, …)."""
    return Where("customer", column, customer_id)


def state_field(instance_id: object) -> Where:
    """Where a process instance's sealed state lives."""
    return Where("process_instance", "state", str(instance_id))


def complainant_phone(case_no: str) -> Where:
    """Where a complaint's complainant phone lives (by case number, known before the row is written)."""
    return Where("complaint", "complainant_phone", case_no)


def totp_secret_field(username: str) -> Where:
    """Where a user's second-factor secret lives."""
    return Where("app_user", "totp_secret", username)


def intake_secret_field(channel: str, fingerprint: str) -> Where:
    """Where a channel's intake signing secret lives (by channel and fingerprint, known before the row exists)."""
    return Where("intake_secret", "secret", f"{channel}:{fingerprint}")


def submission_field(task_id: object) -> Where:
    """Where the form data submitted on one task lives (engine.casefile.submissions)."""
    return Where("task_submission", "data", str(task_id))


def draft_field(task_id: object, username: str) -> Where:
    """Where one person's draft of a task form lives (engine.services.drafts)."""
    return Where("task_draft", "data", f"{task_id}:{username}")


def new_data_key() -> str:
    """A fresh data key, as stored in ``CAREFLOW_DATA_KEY`` or the keyring file."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode("ascii")


def _derive(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"careflow:" + purpose).derive(master)


def _master(data_key: str) -> bytes:
    try:
        master = base64.urlsafe_b64decode(data_key.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise ConfigurationError("a data key must be 32 bytes in URL-safe base64") from exc
    if len(master) != 32:
        raise ConfigurationError("a data key must be 32 bytes in URL-safe base64")
    return master


@dataclass(frozen=True)
class Keyring:
    """Data keys by id, the active one (new ciphertexts), the primary one (indexes, audit chain, legacy fields).

    Stored as JSON (``{"active": "k2", "primary": "k1", "keys": {"k1": "…", "k2": "…"}, "rotating": false}``);
    a file holding one bare key (the format before key versions) is a ring of that key alone, id ``k1``.
    ``rotating`` is true from the moment ``careflow keys rotate`` added a key until every field is re-encrypted,
    so a rotation killed half-way continues on the next run instead of adding yet another key.
    """

    keys: dict[str, str]
    active: str
    primary: str
    rotating: bool = False
    _masters: dict[str, bytes] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.active not in self.keys or self.primary not in self.keys:
            raise ConfigurationError("the keyring's active and primary keys must be among its keys")
        for key_id, key in self.keys.items():
            if not _KEY_ID.fullmatch(key_id):
                raise ConfigurationError(f"key id {key_id!r}: lower-case letters and digits, at most 16")
            self._masters[key_id] = _master(key)

    @classmethod
    def single(cls, data_key: str) -> Keyring:
        return cls(keys={"k1": data_key}, active="k1", primary="k1")

    @classmethod
    def parse(cls, text: str) -> Keyring:
        text = text.strip()
        if not text.startswith("{"):
            return cls.single(text)
        try:
            raw = json.loads(text)
            return cls(keys={str(k): str(v) for k, v in raw["keys"].items()}, active=str(raw["active"]),
                       primary=str(raw.get("primary") or next(iter(raw["keys"]))), rotating=bool(raw.get("rotating")))
        except (ValueError, KeyError, TypeError, AttributeError, StopIteration) as exc:
            raise ConfigurationError(f"the keyring file is not valid: {exc}") from exc

    @classmethod
    def load(cls, path: Path) -> Keyring:
        return cls.parse(path.read_text())

    def dump(self) -> str:
        return json.dumps({"active": self.active, "primary": self.primary, "rotating": self.rotating,
                           "keys": self.keys}, indent=2) + "\n"

    def save(self, path: Path) -> None:
        """Write the ring atomically (a new file moved over the old one), readable by the owner only."""
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".new")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(self.dump())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)

    def with_new_key(self) -> Keyring:
        """A ring with one more key, active, and marked as rotating."""
        number = 1 + max((int(k[1:]) for k in self.keys if re.fullmatch(r"k\d+", k)), default=0)
        key_id = f"k{number}"
        return replace(self, keys={**self.keys, key_id: new_data_key()}, active=key_id, rotating=True,
                       _masters={})

    def finished(self) -> Keyring:
        return replace(self, rotating=False, _masters={})

    def master(self, key_id: str) -> bytes | None:
        return self._masters.get(key_id)


class FieldCipher:
    """Encrypts, decrypts and indexes personal data fields with the keys of a :class:`Keyring`.

    ``reload`` (reading the keyring file again) is tried once when a ciphertext names a key this process does not
    know yet: another process rotated the keys while this one was running.
    """

    def __init__(self, keyring: Keyring | str, *, reload: Callable[[], Keyring] | None = None) -> None:
        self._reload = reload
        self._use(keyring if isinstance(keyring, Keyring) else Keyring.single(keyring))

    def _use(self, ring: Keyring) -> None:
        self.keyring = ring
        self._aeads = {key_id: AESGCM(_derive(ring.master(key_id) or b"", b"encrypt")) for key_id in ring.keys}
        primary = ring.master(ring.primary) or b""
        self._index_key = _derive(primary, b"index")
        self._name_key = _derive(primary, b"name-index")
        self.audit_key = _derive(primary, b"audit")

    def with_keyring(self, ring: Keyring) -> FieldCipher:
        return FieldCipher(ring, reload=self._reload)

    @property
    def active(self) -> str:
        return self.keyring.active

    def _aead(self, key_id: str) -> AESGCM:
        aead = self._aeads.get(key_id)
        if aead is None and self._reload is not None:
            self._use(self._reload())
            aead = self._aeads.get(key_id)
        if aead is None:
            raise CiphertextMismatchError(f"the data key {key_id!r} is not in the keyring")
        return aead

    # --- fields --------------------------------------------------------------------------------------------------

    def encrypt(self, value: str | None, where: Where) -> str | None:
        if value is None or value == "":
            return None
        nonce = os.urandom(12)
        sealed = self._aeads[self.active].encrypt(nonce, value.encode("utf-8"), where.aad())
        return f"{_PREFIX}{self.active}:" + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def decrypt(self, token: str | None, where: Where) -> str | None:
        """The value; a ``v1:`` field from before key versions opens with the primary key and no binding."""
        if token is None:
            return None
        try:
            if token.startswith(_PREFIX):
                key_id, _, body = token[len(_PREFIX):].partition(":")
                aead, aad = self._aead(key_id), where.aad()
            elif token.startswith(_LEGACY):
                body, aead, aad = token[len(_LEGACY):], self._aead(self.keyring.primary), None
            else:
                raise CiphertextMismatchError(f"{where.table}.{where.column} of {where.row} is not an encrypted field")
            raw = base64.urlsafe_b64decode(body.encode("ascii"))
            return aead.decrypt(raw[:12], raw[12:], aad).decode("utf-8")
        except (InvalidTag, ValueError) as exc:
            if isinstance(exc, CiphertextMismatchError):
                raise
            raise CiphertextMismatchError(f"{where.table}.{where.column} of {where.row} does not open there: moved "
                                          "from another row or column, altered, or another data key") from exc

    def key_id(self, token: str | None) -> str | None:
        """The id of the key a stored field or document was sealed with; None for a legacy or plain one."""
        if token and token[:3] in (_PREFIX, _SEALED):
            return token[3:].partition(":")[0]
        return None

    def reencrypt(self, token: str | None, where: Where) -> str | None:
        """The same value sealed with the active key (for rotation); None stays None, and a field under the active
        key already stays as it is."""
        if not token or token.startswith(f"{_PREFIX}{self.active}:"):
            return token
        return self.encrypt(self.decrypt(token, where), where)

    # --- documents -----------------------------------------------------------------------------------------------

    def seal(self, text: str, where: Where) -> str:
        """A whole document (a process instance's state), compressed then encrypted: ``z2:<key id>:`` + base64."""
        nonce = os.urandom(12)
        sealed = self._aeads[self.active].encrypt(nonce, zlib.compress(text.encode("utf-8"), 6), where.aad())
        return f"{_SEALED}{self.active}:" + base64.b64encode(nonce + sealed).decode("ascii")

    def unseal(self, token: str, where: Where) -> str:
        """The document :meth:`seal` made; a document stored before sealing (plain JSON) comes back as it is."""
        if token.startswith(_SEALED):
            key_id, _, body = token[len(_SEALED):].partition(":")
            aead, aad = self._aead(key_id), where.aad()
        elif token.startswith(_LEGACY_SEALED):
            body, aead, aad = token[len(_LEGACY_SEALED):], self._aead(self.keyring.primary), _LEGACY_SEALED_AAD
        else:
            return token
        raw = base64.b64decode(body.encode("ascii"))
        try:
            return zlib.decompress(aead.decrypt(raw[:12], raw[12:], aad)).decode("utf-8")
        except InvalidTag as exc:
            raise CiphertextMismatchError(f"the sealed {where.table}.{where.column} of {where.row} does not open "
                                          "there: moved from another row, altered, or another data key") from exc

    def reseal(self, token: str, where: Where) -> str:
        """The document sealed with the active key (for rotation; a plain one is sealed now)."""
        if token.startswith(f"{_SEALED}{self.active}:"):
            return token
        return self.seal(self.unseal(token, where), where)

    # --- indexes -------------------------------------------------------------------------------------------------

    def index(self, value: str | None) -> str | None:
        """Keyed hash of the normalised value, for exact-match lookups."""
        if value is None or value == "":
            return None
        return hmac.new(self._index_key, normalise(value).encode("utf-8"), hashlib.sha256).hexdigest()

    def name_token(self, prefix: str) -> str:
        """The blind-index token of one name prefix (normalised): 16 hex characters of a keyed HMAC."""
        text = normalise_name(prefix)[:NAME_PREFIX_MAX]
        return hmac.new(self._name_key, text.encode("utf-8"), hashlib.sha256).hexdigest()[:16]

    def name_tokens(self, name: str | None) -> str | None:
        """The tokens of every prefix of the name, space-separated and space-framed (`` t1 t2 … ``), so a
        search for a prefix is ``LIKE '% <token> %'`` without the name ever being stored in clear."""
        text = normalise_name(name or "")
        if not text:
            return None
        return " " + " ".join(self.name_token(text[:n]) for n in range(1, min(len(text), NAME_PREFIX_MAX) + 1)) + " "


def normalise_name(value: str) -> str:
    """Lower-case, no spaces, dots or dashes: ``Li Na``, ``li-na`` and ``LiNa`` index alike."""
    return re.sub(r"[\s\-.·]", "", value).lower()


def normalise(value: str) -> str:
    """Lower-case, no spaces or dashes; a +86 prefix dropped from mainland mobile numbers."""
    text = re.sub(r"[\s\-]", "", value).lower()
    if re.fullmatch(r"(\+?86)1\d{10}", text):
        text = text[-11:]
    return text


def mask_phone(phone: str | None) -> str:
    if not phone:
        return ""
    digits = normalise(phone)
    return digits[:3] + "****" + digits[-4:] if len(digits) >= 8 else "*" * len(digits)


def mask_name(name: str | None) -> str:
    if not name:
        return ""
    if len(name) == 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_address(address: str | None) -> str:
    """The area only (the first six characters, e.g. province and city): ``上海市浦东新***``."""
    if not address:
        return ""
    return address[:6] + "***" if len(address) > 6 else address[:1] + "***"


def mask_email(email: str | None) -> str:
    if not email or "@" not in email:
        return ""
    local, _, domain = email.partition("@")
    return (local[0] if local else "") + "***@" + domain

