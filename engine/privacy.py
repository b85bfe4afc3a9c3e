"""Customer personal data: encryption at rest, lookup indexes and masking.

Phone numbers, e-mail addresses and ID numbers are stored with AES-256-GCM (``cryptography``),
each value with its own random nonce, so equal values do not look equal in the table. Exact
lookups ("which customer has this phone?") go through a keyed HMAC-SHA256 of the normalised
value instead. Both keys are derived from one data key (``CAREFLOW_DATA_KEY``) with HKDF, so
the index key cannot decrypt and the encryption key cannot be guessed from the index.

Whole documents that may hold personal data — a process instance's state carries what forms
collected, such as an ID number during onboarding — are sealed the same way after compression
(:meth:`FieldCipher.seal`).

Masking is for lists and logs (docs/domain.md §3): ``138****5678``, ``张*丰``, ``l***@example.cn``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import zlib

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from engine.errors import ConfigurationError

_PREFIX = "v1:"
_SEALED = "z1:"
_SEALED_AAD = b"careflow:document"


def new_data_key() -> str:
    """A fresh data key, as stored in ``CAREFLOW_DATA_KEY`` or the key file."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode("ascii")


def _derive(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"careflow:" + purpose).derive(master)


class FieldCipher:
    """Encrypts, decrypts and indexes personal data fields with keys derived from one data key."""

    def __init__(self, data_key: str) -> None:
        try:
            master = base64.urlsafe_b64decode(data_key.encode("ascii"))
        except (ValueError, UnicodeEncodeError) as exc:
            raise ConfigurationError("CAREFLOW_DATA_KEY must be 32 bytes in URL-safe base64") from exc
        if len(master) != 32:
            raise ConfigurationError("CAREFLOW_DATA_KEY must be 32 bytes in URL-safe base64")
        self._aead = AESGCM(_derive(master, b"encrypt"))
        self._index_key = _derive(master, b"index")

    def encrypt(self, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, value.encode("utf-8"), None)
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def decrypt(self, token: str | None) -> str | None:
        if token is None:
            return None
        if not token.startswith(_PREFIX):
            raise ValueError("not an encrypted CareFlow field")
        raw = base64.urlsafe_b64decode(token[len(_PREFIX) :].encode("ascii"))
        try:
            return self._aead.decrypt(raw[:12], raw[12:], None).decode("utf-8")
        except InvalidTag as exc:
            raise ValueError("encrypted field does not match the data key") from exc

    def seal(self, text: str) -> str:
        """A whole document (a process instance's state), compressed then encrypted: ``z1:`` + base64."""
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, zlib.compress(text.encode("utf-8"), 6), _SEALED_AAD)
        return _SEALED + base64.b64encode(nonce + sealed).decode("ascii")

    def unseal(self, token: str) -> str:
        """The document :meth:`seal` made; a document stored before sealing (plain JSON) comes back as it is."""
        if not token.startswith(_SEALED):
            return token
        raw = base64.b64decode(token[len(_SEALED):].encode("ascii"))
        try:
            return zlib.decompress(self._aead.decrypt(raw[:12], raw[12:], _SEALED_AAD)).decode("utf-8")
        except InvalidTag as exc:
            raise ValueError("sealed document does not match the data key") from exc

    def index(self, value: str | None) -> str | None:
        """Keyed hash of the normalised value, for exact-match lookups."""
        if value is None or value == "":
            return None
        return hmac.new(self._index_key, normalise(value).encode("utf-8"), hashlib.sha256).hexdigest()


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

