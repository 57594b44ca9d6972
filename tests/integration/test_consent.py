"""Consent on a real store and the real app: an append-only history, expiry, double opt-in through the confirm
page, one-click withdrawal through the signed footer link. The attacks (reusing, forging or letting expire a
confirm token, a GET from a mail scanner, a forged withdraw link) must change nothing."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from assistant.server import build_app
from assistant.settings import Settings
from connectors import consent_links
from connectors.email.outbox import build_consent_mail
from crm_store.db import Database
from crm_store.models import AuditEntry, ConsentConfirmation, ConsentRecord, OutboxMessage, utcnow
from crm_store.services import Actor, CrmServices
from crm_store.services.consent import AppendOnly, withdraw_token

SECRET = "consent-test-secret"
SYSTEM = Actor.system("test")


def _contact(db: Database, email: str = "lena.vogt@mail.example") -> int:
    with db.session() as s:
        c = CrmServices(s, SYSTEM).contacts.create({"first_name": "Lena", "last_name": "Vogt", "email": email})
        return c.id


def _records(db: Database, cid: int) -> list[tuple[str, str, bool, str | None]]:
    with db.session() as s:
        rows = s.execute(
            select(ConsentRecord).where(ConsentRecord.contact_id == cid).order_by(ConsentRecord.id)
        ).scalars()
        return [(r.purpose, r.channel, r.granted, r.text_version) for r in rows]


@pytest.fixture
async def client(db: Database, aiohttp_client: Any) -> TestClient:
    settings = Settings.from_env(
        {}, database_url=db.url, secret_key=SECRET, public_url="https://crm.example", retention_schedule="off"
    )
    app = build_app(settings, db=db, extra=[consent_links.install])
    return await aiohttp_client(app)  # type: ignore[no-any-return]


def _token_of(db: Database, cid: int) -> str:
    """The token as the person gets it: from the link in the queued mail."""
    with db.session() as s:
        row = s.execute(select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(1)).scalar_one()
        assert row.payload["kind"] == "consent_confirmation" and row.channel == "email"
        url = str(row.payload["url"])
        assert url.startswith("https://crm.example/consent/confirm?t=")
        return url.split("t=", 1)[1]


def test_history_is_append_only_and_the_latest_record_per_channel_counts(db: Database) -> None:
    cid = _contact(db)
    with db.session() as s:
        consent = CrmServices(s, SYSTEM).consent
        consent.record(cid, "newsletter", True, "web_form", text_version="nl-1")
        consent.record(cid, "newsletter", True, "chat", channel="sms", text_version="nl-1")
        consent.withdraw(cid, "newsletter", "chat", channel="email")
        assert consent.has_consent(cid, "newsletter", "sms") and not consent.has_consent(cid, "newsletter", "email")
        consent.record(cid, "newsletter", True, "web_form", text_version="nl-2")
    assert _records(db, cid) == [
        ("newsletter", "email", True, "nl-1"),
        ("newsletter", "sms", True, "nl-1"),
        ("newsletter", "email", False, None),
        ("newsletter", "email", True, "nl-2"),
    ]
    with db.session() as s:  # the old GdprService API sees the same history
        gdpr = CrmServices(s, SYSTEM).gdpr
        assert gdpr.has_consent(cid, "newsletter") and len(gdpr.consent_history(cid)) == 4
        gdpr.withdraw_marketing(cid, "chat")  # one call withdraws every channel
        assert not gdpr.has_consent(cid, "newsletter")
        assert gdpr.consent_state(cid)["marketing"]["granted"] is False


def test_attack_rewrite_a_consent_record_is_refused(db: Database) -> None:
    """Changing history (turning a withdrawal into a grant) through the ORM fails; nothing is written."""
    cid = _contact(db)
    with db.session() as s:
        CrmServices(s, SYSTEM).consent.withdraw_marketing(cid, "chat")
    with pytest.raises(AppendOnly), db.session() as s:
        rec = s.execute(select(ConsentRecord).where(ConsentRecord.contact_id == cid)).scalars().first()
        assert rec is not None
        rec.granted = True
    assert all(not granted for _p, _c, granted, _v in _records(db, cid))


def test_an_expired_grant_is_no_consent(db: Database) -> None:
    cid = _contact(db)
    with db.session() as s:
        consent = CrmServices(s, SYSTEM).consent
        consent.record(cid, "marketing", True, "import", expires_at=utcnow() - timedelta(days=1))
        consent.record(cid, "newsletter", True, "import", expires_at=utcnow() + timedelta(days=365))
        assert not consent.has_consent(cid, "marketing") and consent.has_consent(cid, "newsletter")
        state = consent.state(cid)
        assert state["marketing"]["granted"] is False and state["marketing"]["expired"] is True


async def test_double_opt_in_get_changes_nothing_post_grants_once(db: Database, client: TestClient) -> None:
    cid = _contact(db)
    with db.session() as s:
        offer = CrmServices(s, SYSTEM).consent.request_opt_in(cid, "newsletter", "nl-2026-01", "web_form")
        assert offer.expires_at - utcnow() > timedelta(hours=47)
    token = _token_of(db, cid)
    with db.session() as s:
        stored = s.execute(select(ConsentConfirmation)).scalar_one()
        assert token not in stored.token_hash and len(stored.token_hash) == 64  # only the hash is stored

    for _ in range(2):  # a mail scanner follows the link: the page, but no consent
        page = await client.get(f"/consent/confirm?t={token}")
        assert page.status == 200 and "method='post'" in (body := await page.text())
        assert "newsletter" in body and page.headers["Referrer-Policy"] == "no-referrer"
    assert _records(db, cid) == []
    de = await client.get(f"/consent/confirm?t={token}", headers={"Accept-Language": "de-DE"})
    assert "Ja, ich bestätige" in await de.text()

    done = await client.post("/consent/confirm", data={"t": token})
    assert done.status == 200 and "consent is recorded" in await done.text()
    assert _records(db, cid) == [("newsletter", "email", True, "nl-2026-01")]
    with db.session() as s:
        assert CrmServices(s, SYSTEM).consent.has_consent(cid, "newsletter")
        actors = s.execute(select(AuditEntry.actor).where(AuditEntry.action == "grant_consent")).scalars()
        assert list(actors) == [f"customer:{cid}"]


async def test_attack_reuse_a_confirm_token(db: Database, client: TestClient) -> None:
    """A second POST (or a replay after a withdrawal) must not write another grant."""
    cid = _contact(db)
    with db.session() as s:
        CrmServices(s, SYSTEM).consent.request_opt_in(cid, "newsletter", "nl-1", "web_form")
    token = _token_of(db, cid)
    assert (await client.post("/consent/confirm", data={"t": token})).status == 200
    with db.session() as s:
        CrmServices(s, SYSTEM).consent.withdraw(cid, "newsletter", "chat")
    again = await client.post("/consent/confirm", data={"t": token})
    assert again.status == 200 and "already used" in await again.text()
    page = await client.get(f"/consent/confirm?t={token}")
    assert "already used" in await page.text() and "method='post'" not in await page.text()
    assert [g for _p, _c, g, _v in _records(db, cid)] == [True, False]


async def test_attack_expired_confirm_token(db: Database, client: TestClient) -> None:
    cid = _contact(db)
    with db.session() as s:
        CrmServices(s, SYSTEM).consent.request_opt_in(
            cid, "newsletter", "nl-1", "web_form", now=utcnow() - timedelta(hours=49)
        )
    token = _token_of(db, cid)
    page = await client.get(f"/consent/confirm?t={token}")
    assert page.status == 410 and "expired" in await page.text()
    late = await client.post("/consent/confirm?lang=de", data={"t": token})
    assert late.status == 410 and "abgelaufen" in await late.text()
    assert _records(db, cid) == []


@pytest.mark.parametrize(
    "forge",
    [
        lambda t: secrets.token_urlsafe(32),  # guessed
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # one character changed
        lambda t: "",  # none
        lambda t: t + "x" * 300,  # oversized
    ],
)
async def test_attack_forged_confirm_token(db: Database, client: TestClient, forge: Any) -> None:
    cid = _contact(db)
    with db.session() as s:
        CrmServices(s, SYSTEM).consent.request_opt_in(cid, "newsletter", "nl-1", "web_form")
    forged = forge(_token_of(db, cid))
    assert (await client.get("/consent/confirm", params={"t": forged})).status == 400
    res = await client.post("/consent/confirm", data={"t": forged})
    assert res.status == 400 and "not valid" in await res.text()
    assert _records(db, cid) == []
    with db.session() as s:
        assert s.execute(select(ConsentConfirmation.used_at)).scalar_one() is None


async def test_withdraw_link_one_click_without_login(db: Database, client: TestClient) -> None:
    cid = _contact(db)
    with db.session() as s:
        consent = CrmServices(s, SYSTEM).consent
        consent.record(cid, "newsletter", True, "web_form", text_version="nl-1")
        consent.record(cid, "newsletter", True, "web_form", channel="sms", text_version="nl-1")
    token = withdraw_token(cid, "newsletter", secret=SECRET)
    page = await client.get(f"/consent/withdraw?t={token}")  # a scanner: nothing happens
    assert page.status == 200 and "method='post'" in await page.text()
    assert len(_records(db, cid)) == 2
    done = await client.post("/consent/withdraw", data={"t": token})
    assert done.status == 200 and "unsubscribed" in await done.text()
    assert [(c, g) for _p, c, g, _v in _records(db, cid)][2:] == [("email", False), ("sms", False)]
    again = await client.post("/consent/withdraw?lang=de", data={"t": token})
    assert "bereits abgemeldet" in await again.text() and len(_records(db, cid)) == 4


@pytest.mark.parametrize("case", ["other_contact", "other_purpose", "wrong_key", "expired", "garbage"])
async def test_attack_forged_withdraw_link(db: Database, client: TestClient, case: str) -> None:
    """Someone edits a footer link to unsubscribe another person (or forges one): refused, nothing written."""
    victim = _contact(db, "victim@mail.example")
    with db.session() as s:
        CrmServices(s, SYSTEM).consent.record(victim, "newsletter", True, "web_form")
        CrmServices(s, SYSTEM).consent.record(victim, "marketing", True, "web_form")
    mine = withdraw_token(victim + 1000, "newsletter", secret=SECRET)
    _cid, purpose, expires, mac = mine.split(".")
    forged = {
        "other_contact": f"{victim}.{purpose}.{expires}.{mac}",
        "other_purpose": ".".join([str(victim), "marketing", *withdraw_token(victim, "newsletter",
                                                                             secret=SECRET).split(".")[2:]]),
        "wrong_key": withdraw_token(victim, "newsletter", secret="guessed"),
        "expired": withdraw_token(victim, "newsletter", secret=SECRET, ttl_seconds=-10),
        "garbage": "1.newsletter.9999999999",
    }[case]
    assert (await client.get("/consent/withdraw", params={"t": forged})).status == 400
    assert (await client.post("/consent/withdraw", data={"t": forged})).status == 400
    with db.session() as s:
        assert s.execute(select(func.count()).select_from(ConsentRecord)).scalar_one() == 2


def test_confirmation_mail_and_footer_render_in_both_languages(db: Database) -> None:
    payload = {"to": "lena@mail.example", "url": "https://crm.example/consent/confirm?t=abc",
               "purpose": "newsletter", "language": "de"}  # fmt: skip
    mail = build_consent_mail(payload, from_addr="news@crm.example", from_name="CRM")
    assert "Bitte bestätigen" in str(mail["Subject"]) and payload["url"] in mail.get_content()
    consent_links.consent.configure(secret_key=SECRET, public_url="https://crm.example")
    footer = consent_links.consent.withdraw_footer(7, "newsletter", "de")
    assert "Mit einem Klick abmelden: https://crm.example/consent/withdraw?t=7.newsletter." in footer
