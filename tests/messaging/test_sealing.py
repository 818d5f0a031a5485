import pytest

from messaging import sealing


@pytest.mark.parametrize("text", ["Your code is 482913.", "", "कोड 1234 है — ünïcödé"])
def test_round_trip_and_no_clear_text(text):
    sealed = sealing.seal(text)
    assert sealing.unseal(sealed) == text
    assert "482913" not in sealed and "1234" not in sealed
    assert sealing.seal(text) != sealed  # a fresh nonce every time


def test_an_altered_or_foreign_seal_is_refused(settings):
    sealed = sealing.seal("Your code is 482913.")
    raw = bytearray(sealing.base64.urlsafe_b64decode(sealed))
    raw[20] ^= 1
    with pytest.raises(sealing.SealError, match="altered"):
        sealing.unseal(sealing.base64.urlsafe_b64encode(bytes(raw)).decode())
    settings.SMS_SEAL_SECRET = "another-key"
    with pytest.raises(sealing.SealError, match="altered"):
        sealing.unseal(sealed)
    with pytest.raises(sealing.SealError, match="not a sealed text"):
        sealing.unseal("short")
