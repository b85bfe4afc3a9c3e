"""Field encryption (versioned keys, row binding), the lookup indexes and masking (docs/domain.md §3)."""

from __future__ import annotations

import json

import pytest

from engine.errors import ConfigurationError
from engine.privacy import (
    CiphertextMismatchError,
    FieldCipher,
    Keyring,
    Where,
    mask_email,
    mask_name,
    mask_phone,
    new_data_key,
)

PHONE = Where("customer", "phone", "C1")


def test_each_value_encrypts_differently_and_decrypts_back():
    cipher = FieldCipher(new_data_key())
    first, second = cipher.encrypt("13812345678", PHONE), cipher.encrypt("13812345678", PHONE)
    assert first != second and "13812345678" not in str(first)
    assert first is not None and first.startswith("v2:k1:")
    assert cipher.decrypt(first, PHONE) == cipher.decrypt(second, PHONE) == "13812345678"
    assert cipher.encrypt("", PHONE) is None and cipher.decrypt(None, PHONE) is None


def test_a_ciphertext_opens_only_in_its_own_row_and_column():
    cipher = FieldCipher(new_data_key())
    token = cipher.encrypt("13812345678", PHONE)
    for elsewhere in (Where("customer", "phone", "C2"), Where("customer", "email", "C1"),
                      Where("complaint", "phone", "C1")):
        with pytest.raises(CiphertextMismatchError):
            cipher.decrypt(token, elsewhere)


def test_another_key_cannot_read_it_and_the_index_ignores_formatting():
    cipher, other = FieldCipher(new_data_key()), FieldCipher(new_data_key())
    with pytest.raises(CiphertextMismatchError, match="does not open"):
        other.decrypt(cipher.encrypt("110101199003071234", PHONE), PHONE)
    assert cipher.index("+86 138-1234-5678") == cipher.index("13812345678") != other.index("13812345678")
    with pytest.raises(ConfigurationError):
        FieldCipher("too-short")


def test_a_keyring_keeps_old_keys_readable_and_the_indexes_stable(tmp_path):
    path = tmp_path / "keys"
    ring = Keyring.single(new_data_key())
    old = FieldCipher(ring)
    token = old.encrypt("王小明", Where("customer", "name", "C1"))
    rotated = ring.with_new_key()
    rotated.save(path)
    assert (path.stat().st_mode & 0o777) == 0o600
    loaded = Keyring.load(path)
    assert (loaded.active, loaded.primary, loaded.rotating, list(loaded.keys)) == ("k2", "k1", True, ["k1", "k2"])
    new = FieldCipher(loaded)
    assert new.decrypt(token, Where("customer", "name", "C1")) == "王小明"
    again = new.reencrypt(token, Where("customer", "name", "C1"))
    assert again is not None and again.startswith("v2:k2:") and new.reencrypt(again, Where("customer", "name", "C1")) == again
    assert new.index("13812345678") == old.index("13812345678") and new.audit_key == old.audit_key
    assert new.name_tokens("王小明") == old.name_tokens("王小明")
    with pytest.raises(CiphertextMismatchError, match="k2"):
        old.decrypt(again, Where("customer", "name", "C1"))
    assert json.loads(loaded.finished().dump())["rotating"] is False


def test_a_process_reads_the_keyring_again_when_it_meets_a_new_key(tmp_path):
    path = tmp_path / "keys"
    Keyring.single(new_data_key()).save(path)
    running = FieldCipher(Keyring.load(path), reload=lambda: Keyring.load(path))
    Keyring.load(path).with_new_key().save(path)
    token = FieldCipher(Keyring.load(path)).encrypt("x@example.cn", Where("customer", "email", "C1"))
    assert running.decrypt(token, Where("customer", "email", "C1")) == "x@example.cn"


def test_name_tokens_index_every_prefix_without_the_name():
    cipher = FieldCipher(new_data_key())
    tokens = cipher.name_tokens("Li Na")
    assert tokens is not None and "li" not in tokens.lower().split()
    assert f" {cipher.name_token('LI')} " in tokens and f" {cipher.name_token('lin')} " in tokens
    assert f" {cipher.name_token('na')} " not in tokens  # prefixes only


def test_masks():
    assert [mask_phone(p) for p in ("13812345678", "+86 138 1234 5678", "12345")] == ["138****5678"] * 2 + ["*****"]
    assert (mask_name("王小明"), mask_name("李娜"), mask_email("li.wei@example.cn")) == ("王*明", "李*", "l***@example.cn")


def test_a_sealed_document_is_compressed_encrypted_bound_to_its_instance_and_only_the_key_opens_it():
    cipher = FieldCipher(new_data_key())
    where = Where("process_instance", "state", "i-1")
    document = '{"workflow": {"data": {"id_number": "11010519491231002X", "note": "' + "回访" * 500 + '"}}}'
    sealed = cipher.seal(document, where)
    assert sealed.startswith("z2:k1:") and "11010519491231002X" not in sealed
    assert len(sealed) < len(document.encode()) / 4  # compressed before it is encrypted
    assert cipher.seal(document, where) != sealed  # a fresh nonce each time
    assert cipher.unseal(sealed, where) == document
    assert cipher.unseal('{"plain": "stored before sealing"}', where) == '{"plain": "stored before sealing"}'
    with pytest.raises(CiphertextMismatchError):
        cipher.unseal(sealed, Where("process_instance", "state", "i-2"))
    with pytest.raises(ValueError, match="data key"):
        FieldCipher(new_data_key()).unseal(sealed, where)
