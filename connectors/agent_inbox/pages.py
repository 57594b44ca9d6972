"""The agent inbox's pages and form posts (``/agent/...``). Server-rendered Jinja2, enhanced by htmx.

Every handler resolves the session cookie to a staff ``Actor`` and then only calls services: what a page
shows and what a post may change is decided there (``policy.yml``), and every change is audited there.
Store work runs in a worker thread, one transaction per request.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, select_autoescape

from connectors.agent_inbox import auth, wording
from connectors.agent_inbox.live import HUB_KEY, events
from crm_store.db import Database
from crm_store.models import PRIORITIES, QUEUES, TICKET_STATUSES, utcnow
from crm_store.services import Actor, CrmServices
from crm_store.services import agent_sessions as sessions
from crm_store.services.errors import NotFound, PermissionDenied, ValidationFailed
from crm_store.services.inbox import VIEWS, InboxService, sla_of
from crm_store.services.live_chat import ChatRef, LiveChatService
from crm_store.services.ticket_replies import Delivery, TicketReplies, reply_language

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
ENV = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
MAX_FORM_BYTES = 100_000


@dataclass(frozen=True)
class Agent:
    actor: Actor
    secret: str
    lang: str
    csrf: str


def _db(request: web.Request) -> Database:
    from assistant.server import DB_KEY

    return request.app[DB_KEY]


def _settings(request: web.Request) -> Any:
    from assistant.server import SETTINGS_KEY

    return request.app[SETTINGS_KEY]


def _lang(request: web.Request, actor: Actor | None = None) -> str:
    asked = request.query.get("lang")
    if asked in wording.LANGUAGES:
        return asked
    if actor is not None and actor.language in wording.LANGUAGES:
        return actor.language
    return "de" if request.headers.get("Accept-Language", "").lower().startswith("de") else "en"


def mail_domain(settings: Any) -> str:
    return str(settings.mail_from).rsplit("@", 1)[-1] or "localhost"


async def _agent(request: web.Request) -> Agent | None:
    secret = request.cookies.get(auth.COOKIE)
    if not secret:
        return None
    db = _db(request)

    def resolve() -> Actor | None:
        with db.session() as session:
            return sessions.resolve(session, secret)

    actor = await asyncio.to_thread(resolve)
    if actor is None:
        return None
    return Agent(actor, secret, _lang(request, actor), auth.csrf_token(_settings(request), secret))


def _headers(response: web.StreamResponse) -> web.StreamResponse:
    for key, value in auth.HEADERS.items():
        response.headers.setdefault(key, value)
    return response


def render(name: str, lang: str, *, http_status: int = 200, **context: Any) -> web.Response:
    def t(key: str, **values: Any) -> str:
        return wording.text(key, lang, **values)

    html = ENV.get_template(name).render(
        t=t,
        lang=lang,
        statuses=TICKET_STATUSES,
        priorities=PRIORITIES,
        queues=QUEUES,
        status_name=lambda s: wording.name_of(wording.STATUS_NAMES, s, lang),
        priority_name=lambda p: wording.name_of(wording.PRIORITY_NAMES, p, lang),
        language_name=lambda code: wording.name_of(wording.LANGUAGE_NAMES, code, lang),
        duration=lambda s: wording.duration(s, lang),
        sla_of=sla_of,
        now=utcnow(),
        **context,
    )
    return _headers(web.Response(text=html, status=http_status, content_type="text/html"))  # type: ignore[return-value]


def _error_page(lang: str, status: int, message: str) -> web.Response:
    return render("error.html", lang, http_status=status, message=message)


Handler = Callable[[web.Request, Agent], Awaitable[web.StreamResponse]]


def signed_in(
    handler: Handler, *, write: bool = False
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Wrap a page: no session -> the sign-in page; a write -> CSRF checked; service errors -> a page."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        agent = await _agent(request)
        lang = agent.lang if agent else _lang(request)
        if agent is None:
            if request.method == "GET" and not request.headers.get("HX-Request"):
                return _headers(web.HTTPSeeOther("/agent/login"))
            return _error_page(lang, 401, wording.text("sign_in_failed", lang))
        try:
            if write:
                form = await request.post() if request.can_read_body else None
                auth.check_csrf(request, _settings(request), agent.secret, form)
            return await handler(request, agent)
        except auth.CsrfFailed:
            return _error_page(lang, 403, wording.text("csrf", lang))
        except NotFound:
            return _error_page(lang, 404, wording.text("not_found", lang))
        except PermissionDenied:
            return _error_page(lang, 403, wording.text("forbidden", lang))
        except ValidationFailed as exc:
            return _error_page(lang, 400, str(exc))
        except web.HTTPException:
            raise
        except Exception:  # never the exception's text: it may carry SQL or customer data
            ref = secrets.token_hex(2)
            log.exception("agent inbox: %s %s failed (ref %s)", request.method, request.path, ref)
            return _error_page(lang, 500, wording.text("error", lang, ref=ref))

    return wrapped


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


# --- sign-in ---------------------------------------------------------------------------------------------
async def login_page(request: web.Request) -> web.StreamResponse:
    lang = _lang(request)
    pre = request.cookies.get(auth.PRE_COOKIE) or secrets.token_urlsafe(24)
    response = render(
        "login.html",
        lang,
        csrf=pre,
        failed=request.query.get("failed") == "1",
        mailed=request.query.get("mailed") == "1",
        can_mail=bool(_settings(request).public_url),
    )
    auth.set_cookie(response, request, _settings(request), auth.PRE_COOKIE, pre, max_age=3600)
    return response


async def _finish_sign_in(request: web.Request, signed: sessions.SignedIn | None) -> web.StreamResponse:
    if signed is None:
        return _headers(web.HTTPSeeOther("/agent/login?failed=1"))
    response = web.HTTPSeeOther("/agent/")
    auth.set_cookie(
        response,
        request,
        _settings(request),
        auth.COOKIE,
        signed.secret,
        max_age=sessions.SESSION_HOURS * 3600,
    )
    auth.clear_cookie(response, auth.PRE_COOKIE)
    return _headers(response)


async def _sign_in_with(
    request: web.Request, field: str, how: Callable[[Any, str], sessions.SignedIn | None]
) -> web.StreamResponse:
    """A sign-in form (token or one-time link): CSRF first, then ``how`` in one transaction."""
    lang = _lang(request)
    form = await request.post()
    try:
        auth.check_csrf(request, _settings(request), None, form)
    except auth.CsrfFailed:
        return _error_page(lang, 403, wording.text("csrf", lang))
    value = str(form.get(field) or "")
    db = _db(request)

    def run() -> sessions.SignedIn | None:
        with db.session() as session:
            return how(session, value)

    return await _finish_sign_in(request, await asyncio.to_thread(run))


async def login(request: web.Request) -> web.StreamResponse:
    return await _sign_in_with(request, "token", sessions.sign_in_with_token)


async def mail_link(request: web.Request) -> web.StreamResponse:
    """ "Mail me a sign-in link": the same answer whether or not the address is a staff member's."""
    lang = _lang(request)
    form = await request.post()
    settings = _settings(request)
    try:
        auth.check_csrf(request, settings, None, form)
    except auth.CsrfFailed:
        return _error_page(lang, 403, wording.text("csrf", lang))
    if settings.public_url:  # links point at the configured address, never at a Host header someone sent
        email, db = str(form.get("email") or "")[:320], _db(request)

        def queue() -> None:
            with db.session() as session:
                sessions.mail_login_link(session, email, base_url=settings.public_url, language_hint=lang)

        await asyncio.to_thread(queue)
    return _headers(web.HTTPSeeOther("/agent/login?mailed=1"))


async def link_page(request: web.Request) -> web.StreamResponse:
    """A login link shows a button; only the POST redeems it (mail scanners fetch links with GET)."""
    lang = _lang(request)
    pre = request.cookies.get(auth.PRE_COOKIE) or secrets.token_urlsafe(24)
    response = render("link.html", lang, csrf=pre, link=request.query.get("t", "")[:200])
    auth.set_cookie(response, request, _settings(request), auth.PRE_COOKIE, pre, max_age=3600)
    return response


async def redeem_link(request: web.Request) -> web.StreamResponse:
    return await _sign_in_with(request, "link", sessions.redeem_login_link)


async def logout(request: web.Request, agent: Agent) -> web.StreamResponse:
    db = _db(request)

    def end() -> None:
        with db.session() as session:
            sessions.sign_out(session, agent.secret)

    await asyncio.to_thread(end)
    response = web.HTTPSeeOther("/agent/login")
    auth.clear_cookie(response)
    return _headers(response)


# --- the inbox ---------------------------------------------------------------------------------------------
async def inbox(request: web.Request, agent: Agent) -> web.StreamResponse:
    q = request.query
    view = str(q.get("view")) if q.get("view") in VIEWS else "mine"
    status = q.get("status") if q.get("status") in (*TICKET_STATUSES, "any") else None
    queue = q.get("queue") if q.get("queue") in QUEUES else None
    team_id, assignee_id = _int(q.get("team_id")), _int(q.get("assignee_id"))
    db = _db(request)

    def load() -> dict[str, Any]:
        with db.session() as session:
            service = InboxService(session, agent.actor)
            page = service.views(
                view=view, status=status, queue=queue, team_id=team_id, assignee_id=assignee_id
            )
            users = {u.id: u.name for u in service.agents()}
            teams = service.teams()
            contacts = CrmServices(session, agent.actor).contacts
            names: dict[int, str] = {}
            for ticket in page.items:
                if ticket.requester_contact_id and ticket.requester_contact_id not in names:
                    try:
                        names[ticket.requester_contact_id] = (
                            contacts.view(contacts.get(ticket.requester_contact_id)).get("full_name") or ""
                        )
                    except (NotFound, PermissionDenied):
                        names[ticket.requester_contact_id] = ""
            return {
                "tickets": page.items,
                "total": page.total,
                "users": users,
                "teams": teams,
                "names": names,
            }

    data = await asyncio.to_thread(load)
    template = (
        "_rows.html" if request.headers.get("HX-Request") and q.get("partial") == "rows" else "inbox.html"
    )
    return render(
        template,
        agent.lang,
        agent=agent,
        view=view,
        status=status,
        queue=queue,
        team_id=team_id,
        assignee_id=assignee_id,
        views=VIEWS,
        **data,
    )


# --- a ticket ------------------------------------------------------------------------------------------------
def _load_page(db: Database, agent: Agent, ticket_id: int) -> dict[str, Any]:
    with db.session() as session:
        service = InboxService(session, agent.actor)
        page = service.page(ticket_id)
        agents = service.agents()
        teams = service.teams()
        contact = page.contact
        reply_to = contact.get("email") if contact else None
        if not reply_to:
            reply_to = next(
                (m.author_address for m in page.messages if m.direction == "inbound" and m.author_address),
                None,
            )
        lang = (
            reply_language(page.ticket, None)
            if page.ticket.language
            else ((contact or {}).get("language") or "en")
        )
        return {
            "page": page,
            "ticket": page.ticket,
            "agents": agents,
            "teams": teams,
            "reply_to": reply_to,
            "reply_lang": lang if lang in ("en", "de") else "en",
        }


async def ticket_page(request: web.Request, agent: Agent) -> web.StreamResponse:
    ticket_id = _int(request.match_info["id"])
    if ticket_id is None:
        raise NotFound("no such ticket")
    data = await asyncio.to_thread(_load_page, _db(request), agent, ticket_id)
    return render("ticket.html", agent.lang, agent=agent, flash=request.query.get("done"), **data)


async def thread_part(request: web.Request, agent: Agent) -> web.StreamResponse:
    ticket_id = _int(request.match_info["id"])
    if ticket_id is None:
        raise NotFound("no such ticket")
    data = await asyncio.to_thread(_load_page, _db(request), agent, ticket_id)
    return render("_thread.html", agent.lang, agent=agent, **data)


def publish_ticket(app: web.Application, ticket_id: int, kind: str = "ticket") -> None:
    hub = app.get(HUB_KEY)
    if hub is not None:
        hub.publish({"type": kind, "ticket": ticket_id})


async def push_to_chat(app: web.Application, delivery: Delivery, agent_name: str) -> None:
    """An agent's reply into the customer's open web chat (connectors/web_chat.py), if it is open."""
    if delivery.conversation is None:
        return
    from connectors import web_chat

    _channel, sender_id = delivery.conversation
    await web_chat.push(
        app, sender_id, {"text": delivery.message.body, "custom": {"type": "agent", "name": agent_name}}
    )


async def post_message(request: web.Request, agent: Agent) -> web.StreamResponse:
    ticket_id = _int(request.match_info["id"])
    if ticket_id is None:
        raise NotFound("no such ticket")
    form = await request.post()
    kind = "note" if form.get("kind") == "note" else "outbound"
    body = str(form.get("body") or "")
    delivery = await send_reply(request.app, agent.actor, ticket_id, body, kind)
    done = {"email": "sent_email", "web_chat": "sent_chat", "note": "sent_note"}.get(delivery.via, "saved")
    if request.headers.get("HX-Request"):
        data = await asyncio.to_thread(_load_page, _db(request), agent, ticket_id)
        return render("_thread.html", agent.lang, agent=agent, flash=done, **data)
    return _headers(web.HTTPSeeOther(f"/agent/tickets/{ticket_id}?done={done}"))


async def send_reply(app: web.Application, actor: Actor, ticket_id: int, body: str, kind: str) -> Delivery:
    """The one way a reply leaves the inbox, the REST API and Slack: the service, then the live push."""
    from assistant.server import DB_KEY, SETTINGS_KEY

    db, settings = app[DB_KEY], app[SETTINGS_KEY]

    def write() -> Delivery:
        with db.session() as session:
            return TicketReplies(session, actor, mail_domain=mail_domain(settings)).send(
                ticket_id, body, kind="note" if kind == "note" else "outbound"
            )

    delivery = await asyncio.to_thread(write)
    await push_to_chat(app, delivery, actor.name)
    publish_ticket(app, ticket_id)
    return delivery


async def post_fields(request: web.Request, agent: Agent) -> web.StreamResponse:
    ticket_id = _int(request.match_info["id"])
    if ticket_id is None:
        raise NotFound("no such ticket")
    form = await request.post()
    values: dict[str, Any] = {}
    for key, allowed in (("status", TICKET_STATUSES), ("priority", PRIORITIES), ("queue", QUEUES)):
        if form.get(key) in allowed:
            values[key] = form[key]
    for key in ("assignee_id", "team_id"):
        if key in form:
            values[key] = _int(form.get(key))
    db = _db(request)

    def write() -> None:
        with db.session() as session:
            CrmServices(session, agent.actor).tickets.update(ticket_id, values)

    await asyncio.to_thread(write)
    publish_ticket(request.app, ticket_id)
    return _headers(web.HTTPSeeOther(f"/agent/tickets/{ticket_id}?done=saved"))


async def release(request: web.Request, agent: Agent) -> web.StreamResponse:
    ticket_id = _int(request.match_info["id"])
    if ticket_id is None:
        raise NotFound("no such ticket")
    await release_chat(request.app, agent.actor, ticket_id)
    return _headers(web.HTTPSeeOther(f"/agent/tickets/{ticket_id}?done=released"))


async def release_chat(app: web.Application, actor: Actor, ticket_id: int) -> ChatRef:
    """Give the ticket's chat back to the bot (the service decides and audits), then tell the open chat."""
    from assistant.server import DB_KEY
    from connectors import web_chat

    db = app[DB_KEY]

    def write() -> ChatRef:
        with db.session() as session:
            return LiveChatService(session, actor).release(ticket_id)

    ref = await asyncio.to_thread(write)

    await web_chat.push(
        app, ref.sender_id, {"text": web_chat.RELEASED[ref.language], "custom": {"type": "released"}}
    )
    publish_ticket(app, ticket_id)
    return ref


async def suggestions(request: web.Request, agent: Agent) -> web.StreamResponse:
    ticket_id = _int(request.match_info["id"])
    if ticket_id is None:
        raise NotFound("no such ticket")
    from connectors.agent_inbox.suggest import suggest_for

    items = await suggest_for(request.app, agent.actor, ticket_id)
    return render("_suggestions.html", agent.lang, agent=agent, items=items)


async def live_events(request: web.Request, agent: Agent) -> web.StreamResponse:
    return await events(request, agent.actor.id or 0, agent.actor.team_id)


async def root_redirect(_request: web.Request) -> web.StreamResponse:
    return web.HTTPFound("/agent/")


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/agent", root_redirect)
    r.add_get("/agent/", signed_in(inbox))
    r.add_get("/agent/login", login_page)
    r.add_post("/agent/login", login)
    r.add_post("/agent/login/mail", mail_link)
    r.add_get("/agent/login/link", link_page)
    r.add_post("/agent/login/link", redeem_link)
    r.add_post("/agent/logout", signed_in(logout, write=True))
    r.add_get("/agent/events", signed_in(live_events))
    r.add_get("/agent/tickets/{id}", signed_in(ticket_page))
    r.add_get("/agent/tickets/{id}/thread", signed_in(thread_part))
    r.add_get("/agent/tickets/{id}/suggestions", signed_in(suggestions))
    r.add_post("/agent/tickets/{id}/messages", signed_in(post_message, write=True))
    r.add_post("/agent/tickets/{id}/fields", signed_in(post_fields, write=True))
    r.add_post("/agent/tickets/{id}/release", signed_in(release, write=True))
    r.add_static("/agent/static/", HERE / "static", show_index=False)
