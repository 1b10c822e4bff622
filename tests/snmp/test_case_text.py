"""Device strings as the device meant them (issue 12, item 5): UTF-8 when valid, else the
legacy charset (cp1252 by default, configurable), else latin-1; never U+FFFD."""

from __future__ import annotations

import pytest

from cmdb.collectors.snmp import convert
from cmdb.collectors.snmp.convert import decode, hex_or_text, legacy_charset, text


@pytest.mark.parametrize(
    "raw, expected",
    [
        (b"Geb\xc3\xa4ude 3", "Gebäude 3"),  # valid UTF-8 stays UTF-8
        (b"Geb\xe4ude 3", "Gebäude 3"),  # latin-1/cp1252 ä
        (b"\x93core\x94 \x80 room", "\u201ccore\u201d \u20ac room"),  # cp1252 quotes and euro
        (b"rack \x81\x8d", "rack \x81\x8d"),  # undefined in cp1252: latin-1
        (b"caf\xc3", "caf\u00c3"),  # truncated UTF-8 is legacy text, not a replacement
        (b"ok \xef\xbf\xbd", "ok"),  # a U+FFFD the device sent is not stored either
        (b"sw-01\x00\x00", "sw-01"),
        (b"", None),
        (b"   ", None),
    ],
)
def test_text_decodes_legacy_octets_without_replacement(raw, expected):
    got = text(raw)
    assert got == expected
    assert got is None or "\ufffd" not in got


def test_every_octet_decodes_to_something_real():
    everything = bytes(range(0x20, 0x100))
    for charset in (None, "cp1252", "latin-1", "cp850"):
        s = decode(everything, charset)
        assert "\ufffd" not in s and len(s) == len(everything)


def test_legacy_charset_is_configurable_per_context():
    assert text(b"\x81ber") == "\x81ber"  # cp1252 has no 0x81: latin-1
    with legacy_charset("cp850"):
        assert text(b"\x81ber") == "über"  # DOS code page 850
        assert text(b"\xc3\xbcber") == "über"  # UTF-8 still wins
    assert text(b"\x81ber") == "\x81ber"
    with pytest.raises(LookupError), legacy_charset("no-such-charset"):
        pass
    assert convert.DEFAULT_LEGACY_CHARSET == "cp1252"


def test_ids_stay_text_only_when_they_are_text():
    assert hex_or_text(b"Gi0/1") == "Gi0/1"
    assert hex_or_text("Küche-sw1".encode()) == "Küche-sw1"
    assert hex_or_text(b"\x02\xd1\x00\x00\x00\x00") == "02:d1:00:00:00:00"
    assert hex_or_text(b"\xe4\x00\x01") == "e4:00:01"  # binary, not legacy text
