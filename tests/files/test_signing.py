"""Signed, expiring file URLs (files.signing)."""

import pytest

from files import signing

FILE = {
    "file_id": "019ec9e8-d2b4-77ff-be43-525f928a5de3",
    "entity_id": "019ec9e7-70fc-70e1-9be7-039fdb5efc3e",
    "issued_to": "42",
}
NOW = 1_800_000_000


def signed(**overrides):
    query = signing.sign(**FILE, extension=".png", now=NOW)
    values = {**FILE, "extension": ".png", "expires": str(query.expires), "signature": query.signature}
    values.update(overrides)
    return values


def test_signature_verifies_until_it_expires(settings):
    settings.FILES_URL_LIFETIME = 600
    values = signed()

    assert signing.verify(**values, now=NOW) == int(values["expires"])
    assert signing.verify(**values, now=int(values["expires"]) - 1)
    with pytest.raises(signing.InvalidSignature, match="expired"):
        signing.verify(**values, now=int(values["expires"]))


def test_expiry_is_the_lifetime_rounded_up_to_a_minute(settings):
    settings.FILES_URL_LIFETIME = 600

    query = signing.sign(**FILE, extension=".png", now=NOW + 1)

    assert query.expires == NOW + 660
    assert query.expires % 60 == 0


def test_same_minute_gives_the_same_url():
    first = signing.sign(**FILE, extension=".png", now=NOW + 1)
    second = signing.sign(**FILE, extension=".png", now=NOW + 59)

    assert first == second


@pytest.mark.parametrize(
    "tampered",
    [
        {"file_id": "019ec9ea-f0d9-7336-9b1b-90fecb506c38"},
        {"entity_id": "019ec9ea-f0d9-7336-9b1b-90fecb506c38"},
        {"extension": ".pdf"},
        {"issued_to": "43"},
        {"issued_to": ""},
        {"issued_to": "4" * 65},
        {"expires": str(NOW + 10_000_000)},
        {"signature": "0" * 64},
        {"signature": ""},
        {"expires": ""},
        {"expires": "-5"},
        {"expires": "1e9"},
        {"expires": "9" * 40},
    ],
)
def test_any_change_invalidates_the_signature(tampered):
    with pytest.raises(signing.InvalidSignature):
        signing.verify(**signed(**tampered), now=NOW)


def test_old_key_in_fallbacks_still_verifies(settings):
    values = signed()
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-secret-key"

    assert signing.verify(**values, now=NOW)


def test_unknown_key_does_not_verify(settings):
    values = signed()
    settings.SECRET_KEY = "a-new-secret-key"
    settings.SECRET_KEY_FALLBACKS = []

    with pytest.raises(signing.InvalidSignature, match="Invalid"):
        signing.verify(**values, now=NOW)


def test_query_string_shape():
    query = signing.sign(**FILE, extension=".png", now=NOW)

    assert str(query) == f"expires={query.expires}&issued_to=42&signature={query.signature}"
    assert len(query.signature) == 64


def test_signature_is_djangos_salted_hmac_of_the_url_parts(settings):
    from django.utils.crypto import salted_hmac

    query = signing.sign(**FILE, extension=".png", now=NOW)

    message = f"{FILE['file_id']}/{FILE['entity_id']}/.png/{query.expires}/{FILE['issued_to']}"
    expected = salted_hmac("files.signed-url", message, settings.SECRET_KEY, algorithm="sha256").hexdigest()
    assert query.signature == expected
