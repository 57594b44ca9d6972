"""The two consent links a person follows from a mail, without a login.

* ``GET /consent/confirm?t=...``  the double opt-in page: says what is being confirmed, with a POST button;
  ``POST /consent/confirm``       writes the granted consent once (crm_store/services/consent.py).
* ``GET /consent/withdraw?t=...`` the one-click unsubscribe page of every marketing mail's footer;
  ``POST /consent/withdraw``      records the withdrawal.

A GET never changes anything: mail scanners and link previews follow links. Used, expired and forged tokens
get a clear page and change nothing. Pages are English or German (``?lang=de`` or the browser's
Accept-Language), carry no referrer (the token is in the URL), are not cached and cannot be framed.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Callable
from typing import Any

from aiohttp import web

from crm_store.services import consent
from crm_store.services.actor import Actor
from crm_store.services.consent import ConsentService, Pending

ACTOR = Actor.system("consent_link")

# User-facing wording, English and German side by side.
TEXT: dict[str, dict[str, str]] = {
    "confirm_title": {"en": "Confirm your subscription", "de": "Anmeldung bestätigen"},
    "confirm_ask": {
        "en": "Please confirm that we may send you e-mails for: {purpose}.",
        "de": "Bitte bestätigen Sie, dass wir Ihnen E-Mails zu folgendem Zweck senden dürfen: {purpose}.",
    },
    "confirm_button": {"en": "Yes, I confirm", "de": "Ja, ich bestätige"},
    "confirm_ok": {
        "en": "Thank you: your consent is recorded. You can withdraw it at any time with the link in every "
        "mail.",
        "de": "Vielen Dank: Ihre Einwilligung ist gespeichert. Sie können sie jederzeit mit dem Link in jeder "
        "E-Mail widerrufen.",
    },
    "withdraw_title": {"en": "Unsubscribe", "de": "Abmelden"},
    "withdraw_ask": {
        "en": "Do you want to stop receiving e-mails for: {purpose}?",
        "de": "Möchten Sie keine E-Mails mehr zu folgendem Zweck erhalten: {purpose}?",
    },
    "withdraw_button": {"en": "Unsubscribe", "de": "Abmelden"},
    "withdraw_ok": {
        "en": "You are unsubscribed: we will not send you these e-mails any more.",
        "de": "Sie sind abgemeldet: Wir senden Ihnen diese E-Mails nicht mehr.",
    },
    "withdraw_done_before": {
        "en": "You are already unsubscribed; nothing else to do.",
        "de": "Sie sind bereits abgemeldet; es ist nichts weiter zu tun.",
    },
    "done_before": {
        "en": "This link was already used; your confirmation is on file. Nothing was changed.",
        "de": "Dieser Link wurde bereits verwendet; Ihre Bestätigung liegt vor. Es wurde nichts geändert.",
    },
    "expired": {
        "en": "This link has expired. Nothing was changed; please sign up again to get a new link.",
        "de": "Dieser Link ist abgelaufen. Es wurde nichts geändert; bitte melden Sie sich erneut an, um "
        "einen neuen Link zu erhalten.",
    },
    "invalid": {
        "en": "This link is not valid. Nothing was changed.",
        "de": "Dieser Link ist ungültig. Es wurde nichts geändert.",
    },
}
STATUS: dict[str, int] = {"ok": 200, "done_before": 200, "expired": 410, "invalid": 400}
HEADERS: dict[str, str] = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'",
    "X-Robots-Tag": "noindex",
}


def _lang(request: web.Request) -> str:
    wanted = request.query.get("lang") or request.headers.get("Accept-Language") or ""
    return "de" if wanted.strip().lower().startswith("de") else "en"


def _t(key: str, lang: str, **values: str) -> str:
    return TEXT[key][lang].format(**{k: html.escape(v) for k, v in values.items()})


def _page(lang: str, title: str, body: str, status: int = 200) -> web.Response:
    page = (
        f"<!doctype html><html lang='{lang}'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;max-width:32rem;"
        "margin:3rem auto;padding:0 1rem}button{font-size:1.1rem;padding:.5rem 1rem}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return web.Response(text=page, status=status, content_type="text/html", charset="utf-8", headers=HEADERS)


def _form(action: str, token: str, lang: str, button: str) -> str:
    return (
        f"<form method='post' action='{action}?lang={lang}'>"
        f"<input type='hidden' name='t' value='{html.escape(token, quote=True)}'>"
        f"<button type='submit'>{html.escape(button)}</button></form>"
    )


class ConsentLinks:
    """The routes; each store call runs in a worker thread in its own transaction."""

    def __init__(self, db: Any) -> None:
        self.db = db

    async def _call(self, fn: Callable[[ConsentService], Pending]) -> Pending:
        def run() -> Pending:
            with self.db.session() as session:
                return fn(ConsentService(session, ACTOR))

        return await asyncio.to_thread(run)

    @staticmethod
    async def _token(request: web.Request) -> str:
        if request.method == "POST":
            form = await request.post()
            value = form.get("t")
            return value if isinstance(value, str) else ""
        return request.query.get("t", "")

    def _outcome(self, lang: str, title: str, result: Pending, ok_key: str) -> web.Response:
        key = ok_key if result.outcome == "ok" else result.outcome
        return _page(lang, title, f"<p>{_t(key, lang)}</p>", STATUS[result.outcome])

    async def confirm_page(self, request: web.Request) -> web.Response:
        lang, token = _lang(request), await self._token(request)
        title = TEXT["confirm_title"][lang]
        found = await self._call(lambda c: c.peek(token))
        if found.outcome != "ok":
            return self._outcome(lang, title, found, "confirm_ok")
        ask = _t("confirm_ask", lang, purpose=found.purpose or "")
        form = _form("/consent/confirm", token, lang, TEXT["confirm_button"][lang])
        return _page(lang, title, f"<p>{ask}</p>{form}")

    async def confirm(self, request: web.Request) -> web.Response:
        lang, token = _lang(request), await self._token(request)
        result = await self._call(lambda c: c.confirm_opt_in(token))
        return self._outcome(lang, TEXT["confirm_title"][lang], result, "confirm_ok")

    async def withdraw_page(self, request: web.Request) -> web.Response:
        lang, token = _lang(request), await self._token(request)
        title = TEXT["withdraw_title"][lang]
        found = consent.verify_withdraw_token(token)
        if found is None:
            return self._outcome(lang, title, Pending("invalid"), "withdraw_ok")
        ask = _t("withdraw_ask", lang, purpose=found[1])
        form = _form("/consent/withdraw", token, lang, TEXT["withdraw_button"][lang])
        return _page(lang, title, f"<p>{ask}</p>{form}")

    async def withdraw(self, request: web.Request) -> web.Response:
        lang, token = _lang(request), await self._token(request)
        result = await self._call(lambda c: c.withdraw_by_link(token))
        title = TEXT["withdraw_title"][lang]
        if result.outcome == "done_before":
            return _page(lang, title, f"<p>{_t('withdraw_done_before', lang)}</p>")
        return self._outcome(lang, title, result, "withdraw_ok")


def install(app: web.Application) -> None:
    """Mount the consent pages and give the consent service its signing key and public URL."""
    from assistant.server import DB_KEY, SETTINGS_KEY

    settings = app[SETTINGS_KEY]
    consent.configure(secret_key=settings.secret_key, public_url=settings.public_url)
    links = ConsentLinks(app[DB_KEY])
    app.router.add_get("/consent/confirm", links.confirm_page)
    app.router.add_post("/consent/confirm", links.confirm)
    app.router.add_get("/consent/withdraw", links.withdraw_page)
    app.router.add_post("/consent/withdraw", links.withdraw)


__all__ = ["ConsentLinks", "install"]
