"""One time module: every spelling of an instant gives the store's one text, and text that
is no instant in UTC range is a ValueError (the API turns it into a 400)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cmdb.graph import times


@pytest.mark.parametrize(
    "spelling",
    [
        "2026-11-30T00:00:00Z",
        "2026-11-30T00:00:00z",
        "2026-11-30T00:00:00.000Z",
        "2026-11-30T02:00:00+02:00",
        "2026-11-29T19:00:00.000000-05:00",
        "2026-11-30T00:00:00",  # no offset: UTC
        "2026-11-30",  # a date alone: midnight
        " 2026-11-30T00:00:00Z ",
    ],
)
def test_every_spelling_of_one_instant_is_one_text(spelling):
    assert times.normalise(spelling) == "2026-11-30T00:00:00.000Z"


def test_store_text_orders_as_time():
    texts = [times.normalise(t) for t in ("2026-11-30T00:00:00.5Z", "2026-11-30T00:00:00Z")]
    assert sorted(texts) == ["2026-11-30T00:00:00.000Z", "2026-11-30T00:00:00.500Z"]


@pytest.mark.parametrize(
    "text", ["yesterday", "", "2026-13-01T00:00:00Z", "0001-01-01T00:00:00+14:00", "Z", None, 5]
)
def test_no_instant_is_a_value_error(text):
    with pytest.raises(ValueError):
        times.normalise(text)


def test_round_trip_and_seconds_form():
    moment = datetime(2026, 11, 30, 8, 1, 2, 345678, tzinfo=UTC)
    assert times.to_store(moment) == "2026-11-30T08:01:02.345Z"
    assert times.from_store(times.to_store(moment)) == moment.replace(microsecond=345000)
    assert times.to_seconds(moment) == "2026-11-30T08:01:02Z"
    assert times.now_text().endswith("Z") and len(times.now_text()) == 24
