"""The digest schedule: pure functions over fixed "now" values, across both DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from assistant.settings import Settings, SettingsError
from connectors.slack.digest import (
    Schedule,
    digest_blocks,
    digest_config,
    last_run,
    next_run,
    parse_schedule,
    week_key,
)
from crm_store.services.reports import PipelineReport

BERLIN = Schedule(weekday=0, at=time(8, 0), tz=ZoneInfo("Europe/Berlin"))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (utc(2026, 1, 14, 12, 0), utc(2026, 1, 19, 7, 0)),  # Wednesday -> Monday 08:00 CET
        (utc(2026, 1, 19, 6, 59), utc(2026, 1, 19, 7, 0)),  # Monday before eight -> today
        (utc(2026, 1, 19, 7, 0), utc(2026, 1, 26, 7, 0)),  # exactly at eight -> next week
        (utc(2026, 3, 27, 12, 0), utc(2026, 3, 30, 6, 0)),  # over the spring change: 08:00 CEST
        (utc(2026, 3, 29, 0, 30), utc(2026, 3, 30, 6, 0)),  # during the change night
        (utc(2026, 10, 23, 12, 0), utc(2026, 10, 26, 7, 0)),  # over the autumn change: 08:00 CET
        (utc(2026, 12, 31, 23, 30), utc(2027, 1, 4, 7, 0)),  # New Year's Eve, already Friday in Berlin
    ],
)
def test_next_run_is_monday_eight_local_time(now: datetime, expected: datetime) -> None:
    run = next_run(now, BERLIN)
    assert run == expected
    assert run.astimezone(BERLIN.tz).time() == time(8, 0) and run.astimezone(BERLIN.tz).weekday() == 0
    assert last_run(run, BERLIN) == run and last_run(now, BERLIN) <= now < run


def test_other_zones_and_days() -> None:
    ny = parse_schedule("fri 17:30", "America/New_York")
    assert next_run(utc(2026, 3, 6, 12, 0), ny) == utc(2026, 3, 6, 22, 30)  # EST
    assert next_run(utc(2026, 3, 7, 12, 0), ny) == utc(2026, 3, 13, 21, 30)  # EDT from March 8
    with pytest.raises(SettingsError):
        parse_schedule("someday 8", "Europe/Berlin")
    with pytest.raises(SettingsError):
        parse_schedule("mon 08:00", "Mars/Olympus")


def test_the_week_key_is_the_local_iso_week() -> None:
    assert week_key(utc(2026, 3, 30, 6, 0), BERLIN) == "2026-W14"
    assert week_key(utc(2027, 1, 4, 7, 0), BERLIN) == "2027-W01"
    # Monday 00:30 in Berlin is still Sunday in UTC: the local week counts
    assert week_key(utc(2026, 3, 29, 22, 30), BERLIN) == "2026-W14"


def test_config_comes_from_settings_or_the_environment() -> None:
    base = Settings.from_env({}, database_url="sqlite://", default_timezone="Europe/Vienna")
    assert digest_config(base, {}) is None
    conf = digest_config(base, {"SLACK_DIGEST_CHANNEL": "C9"})
    assert conf is not None and conf.channel == "C9" and conf.schedule.tz.key == "Europe/Vienna"
    assert conf.schedule.weekday == 0 and conf.schedule.at == time(8, 0)
    extra = Settings.from_env(
        {},
        database_url="sqlite://",
        extra={"slack_digest_channel": "C1", "slack_digest_schedule": "tue 09:15"},
    )
    conf = digest_config(extra, {"SLACK_DIGEST_CHANNEL": "C9"})
    assert conf is not None and conf.channel == "C1" and conf.schedule.weekday == 1


def test_digest_blocks_summarise_and_escape() -> None:
    report = PipelineReport(
        currency="EUR", open_count=2, open_total=Decimal(15000), weighted_total=Decimal(6000)
    )
    report.by_stage = [{"stage": "proposal", "count": 2, "total": 15000.0, "weighted": 6000.0}]
    report.stalled = [{"name": "<Acme> renewal", "amount": 5000.0, "currency": "EUR", "stage": "proposal"}]
    text, blocks = digest_blocks(report, week="2026-W14", lang="de")
    assert blocks[0]["text"]["text"] == "Pipeline, KW 14"
    assert "*2* offene Deals über *15.000 EUR*" in blocks[1]["text"]["text"]
    assert "Angebot" in blocks[2]["text"]["text"]
    assert "&lt;Acme&gt; renewal" in blocks[-1]["text"]["text"]
    assert text.startswith("Pipeline, KW 14: 2 offene Deals") and "*" not in text
