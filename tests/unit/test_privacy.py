"""Field encryption, the lookup index and masking (docs/domain.md §3)."""

from __future__ import annotations

import pytest

from engine.errors import ConfigurationError
from engine.privacy import FieldCipher, mask_email, mask_name, mask_phone, new_data_key


def test_each_value_encrypts_differently_and_decrypts_back():
    cipher = FieldCipher(new_data_key())
    first, second = cipher.encrypt("13812345678"), cipher.encrypt("13812345678")
    assert first != second and "13812345678" not in str(first)
    assert cipher.decrypt(first) == cipher.decrypt(second) == "13812345678"
    assert cipher.encrypt("") is None and cipher.decrypt(None) is None


def test_another_key_cannot_read_it_and_the_index_ignores_formatting():
    cipher, other = FieldCipher(new_data_key()), FieldCipher(new_data_key())
    with pytest.raises(ValueError, match="does not match"):
        other.decrypt(cipher.encrypt("110101199003071234"))
    assert cipher.index("+86 138-1234-5678") == cipher.index("13812345678") != other.index("13812345678")
    with pytest.raises(ConfigurationError):
        FieldCipher("too-short")


def test_masks():
    assert [mask_phone(p) for p in ("13812345678", "+86 138 1234 5678", "12345")] == ["138****5678"] * 2 + ["*****"]
    assert (mask_name("王小明"), mask_name("李娜"), mask_email("li.wei@example.cn")) == ("王*明", "李*", "l***@example.cn")


def test_a_sealed_document_is_compressed_encrypted_and_only_the_key_opens_it():
    cipher = FieldCipher(new_data_key())
    document = '{"workflow": {"data": {"id_number": "11010519491231002X", "note": "' + "回访" * 500 + '"}}}'
    sealed = cipher.seal(document)
    assert sealed.startswith("z1:") and "11010519491231002X" not in sealed
    assert len(sealed) < len(document.encode()) / 4  # compressed before it is encrypted
    assert cipher.seal(document) != sealed  # a fresh nonce each time
    assert cipher.unseal(sealed) == document
    assert cipher.unseal('{"plain": "stored before sealing"}') == '{"plain": "stored before sealing"}'
    with pytest.raises(ValueError, match="data key"):
        FieldCipher(new_data_key()).unseal(sealed)
