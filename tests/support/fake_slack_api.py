"""A local stand-in for the Slack Web API: an aiohttp server that records every call.

    fake = FakeSlackApi(users={"U1": "rep@x.example"})
    server = await aiohttp_server(fake.app)         # then SLACK_API_URL = fake.api_url(server)
    fake.fail("chat.postMessage", status=429, times=1, retry_after=0)
    assert fake.calls_to("chat.postMessage")[0]["channel"] == "D1"

It answers the methods the connector uses (auth.test, users.info, chat.postMessage, chat.postEphemeral,
chat.update, views.publish, files.getUploadURLExternal, files.completeUploadExternal and the upload itself)
and interaction ``response_url``s (``fake.response_url(server)``; what arrives is in ``fake.responses``).
Channels in ``fake.missing_channels`` answer ``channel_not_found``; ``fake.recover()`` ends failures.

It also plays Socket Mode: ``apps.connections.open`` (app token only) hands out ``ws://127.0.0.1:<port>/link``,
served here; each connection is greeted with ``hello``. Envelopes are pushed down the newest connection
and the call returns the client's acknowledgement (or fails after ``WAIT`` seconds):

    await fake.socket_connected()
    ack = await fake.socket_dm("/help")            # an events_api envelope; ack["envelope_id"] matches
    ack = await fake.socket_command("pipeline")    # a slash_commands envelope for /crm
    await fake.socket_disconnect()                 # Slack's "disconnect": the client must reconnect

``SlackWorkspace`` plays the other direction: requests signed the way Slack signs them, sent to our app.
``link_slack(db, email)`` links a CRM user to a Slack id in ``TEAM_ID`` the way an approved request does
(tests whose subject is not linking start from a linked user).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from itertools import count
from typing import Any
from urllib.parse import urlencode

from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient, TestServer

from connectors.slack import verify
from crm_store.db import Database
from crm_store.models import User

BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
TEAM_ID = "T1"
TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-1-A1-test-token"
APP_TOKEN_METHODS = frozenset({"apps.connections.open"})  # app-level token only; bot methods refuse it
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
WAIT = 5.0  # seconds the fake waits for a Socket Mode connection or an acknowledgement


@dataclass
class _Failure:
    status: int
    times: int
    retry_after: int | None
    error: str | None = None


class FakeSlackApi:
    def __init__(
        self, users: dict[str, str] | None = None, *, token: str = TOKEN, app_token: str = APP_TOKEN
    ) -> None:
        self.users = dict(users or {})  # slack user id -> e-mail
        self.token = token
        self.app_token = app_token
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.attempts: list[str] = []  # every request, failed ones included
        self.uploads: list[bytes] = []
        self.responses: list[dict[str, Any]] = []  # bodies posted to response_urls
        self.missing_channels: set[str] = set()
        self._failures: dict[str, _Failure] = {}
        self._ts = count(1)
        # Socket Mode: every connection ever made (open ones at the end), acks by envelope id
        self.links: list[web.WebSocketResponse] = []
        self.acks: dict[str, dict[str, Any]] = {}
        self._envelopes = count(1)
        self._tickets = count(1)
        self._awaiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._linked = asyncio.Condition()
        self.app = web.Application()
        self.app.router.add_route("*", "/api/{method}", self._api)
        self.app.router.add_post("/upload/{file_id}", self._upload)
        self.app.router.add_post("/respond/{token}", self._respond)
        self.app.router.add_get("/link", self._link)
        self.app.on_shutdown.append(self._close_links)

    @staticmethod
    def api_url(server: TestServer) -> str:
        return str(server.make_url("/api/"))

    def fail(
        self,
        method: str,
        *,
        status: int = 200,
        times: int = 1,
        retry_after: int | None = None,
        error: str | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with ``status`` (and a Retry-After header),
        or with ``{"ok": false, "error": error}``."""
        self._failures[method] = _Failure(status, times, retry_after, error)

    @staticmethod
    def response_url(server: TestServer, token: str = "r1") -> str:
        return str(server.make_url(f"/respond/{token}"))

    def recover(self) -> None:
        """Every failure set with ``fail`` ends now."""
        self._failures.clear()

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        return [args for name, args in self.calls if name == method]

    async def _args(self, request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                args.update(json.loads(await request.text()))
            else:
                args.update(dict(await request.post()))
        for key in ("blocks", "files", "view"):
            if isinstance(args.get(key), str):
                args[key] = json.loads(args[key])
        return args

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        self.attempts.append(method)
        failure = self._failures.get(method)
        if failure and failure.times > 0:
            failure.times -= 1
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
            return web.json_response(
                {
                    "ok": False,
                    "error": failure.error or ("ratelimited" if failure.status == 429 else "fatal"),
                },
                status=failure.status,
                headers=headers,
            )
        expected, other = (
            (self.app_token, self.token) if method in APP_TOKEN_METHODS else (self.token, self.app_token)
        )
        authorization = request.headers.get("Authorization")
        if authorization != f"Bearer {expected}":
            wrong_kind = authorization == f"Bearer {other}"
            return web.json_response(
                {"ok": False, "error": "not_allowed_token_type" if wrong_kind else "invalid_auth"}
            )
        args = await self._args(request)
        self.calls.append((method, args))
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        if args.get("channel") in self.missing_channels or args.get("channel_id") in self.missing_channels:
            return web.json_response({"ok": False, "error": "channel_not_found"})
        return web.json_response(handler(request, args))

    async def _respond(self, request: web.Request) -> web.Response:
        self.attempts.append("response_url")
        failure = self._failures.get("response_url")
        if failure and failure.times > 0:
            failure.times -= 1
            return web.Response(status=failure.status, text="no")
        self.responses.append({"token": request.match_info["token"], **json.loads(await request.text())})
        return web.Response(text="ok")

    async def _upload(self, request: web.Request) -> web.Response:
        self.uploads.append(await request.read())
        return web.Response(text="OK")

    # -- methods ---------------------------------------------------------------------------------
    def _auth_test(self, _request: web.Request, _args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://acme.slack.example/",
            "team": "Acme",
            "user": "crm",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
        }

    def _users_info(self, _request: web.Request, args: dict[str, Any]) -> dict[str, Any]:
        user = str(args.get("user"))
        if user not in self.users:
            return {"ok": False, "error": "user_not_found"}
        return {
            "ok": True,
            "user": {
                "id": user,
                "team_id": TEAM_ID,
                "is_bot": False,
                "deleted": False,
                "locale": "en-US",
                "profile": {"email": self.users[user]},
            },
        }

    def _chat_postMessage(self, _request: web.Request, args: dict[str, Any]) -> dict[str, Any]:
        ts = f"1700000000.{next(self._ts):06d}"
        return {
            "ok": True,
            "channel": args.get("channel"),
            "ts": ts,
            "message": {"text": args.get("text"), "blocks": args.get("blocks"), "ts": ts},
        }

    def _chat_postEphemeral(self, _request: web.Request, _args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "message_ts": f"1700000000.{next(self._ts):06d}"}

    def _chat_update(self, _request: web.Request, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "channel": args.get("channel"), "ts": args.get("ts")}

    def _views_publish(self, _request: web.Request, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "view": {"id": "V1", **(args.get("view") or {})}}

    def _files_getUploadURLExternal(self, request: web.Request, _args: dict[str, Any]) -> dict[str, Any]:
        file_id = f"F{next(self._ts)}"
        url = str(request.url.with_path(f"/upload/{file_id}").with_query(None))
        return {"ok": True, "upload_url": url, "file_id": file_id}

    def _files_completeUploadExternal(self, _request: web.Request, args: dict[str, Any]) -> dict[str, Any]:
        files = args.get("files") or []
        return {"ok": True, "files": [{"id": f.get("id"), "title": f.get("title")} for f in files]}

    def _apps_connections_open(self, request: web.Request, _args: dict[str, Any]) -> dict[str, Any]:
        url = (
            request.url.with_scheme("ws").with_path("/link").with_query({"ticket": str(next(self._tickets))})
        )
        return {"ok": True, "url": str(url)}

    # -- Socket Mode -----------------------------------------------------------------------------
    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": sum(1 for link in self.links if not link.closed) + 1,
                "debug_info": {"host": "fake-slack", "approximate_connection_time": 18060},
                "connection_info": {"app_id": "A1"},
            }
        )
        async with self._linked:
            self.links.append(ws)
            self._linked.notify_all()
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            ack = json.loads(message.data)
            envelope_id = str(ack.get("envelope_id"))
            self.acks[envelope_id] = ack
            waiting = self._awaiting.pop(envelope_id, None)
            if waiting is not None and not waiting.done():
                waiting.set_result(ack)
        return ws

    async def _close_links(self, _app: web.Application) -> None:
        for ws in self.links:
            await ws.close()

    async def socket_connected(self, connections: int = 1) -> web.WebSocketResponse:
        """Wait until ``connections`` connections were made in all; the newest one."""
        async with asyncio.timeout(WAIT), self._linked:
            await self._linked.wait_for(lambda: len(self.links) >= connections)
        return self.links[-1]

    async def envelope(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        retry_attempt: int | None = None,
        retry_reason: str | None = None,
    ) -> dict[str, Any]:
        """Push one envelope down the newest open connection; the client's acknowledgement."""
        link = await self.socket_connected()
        envelope_id = f"env-{next(self._envelopes)}"
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": kind != "events_api",
        }
        if kind == "events_api":
            envelope |= {"retry_attempt": retry_attempt or 0, "retry_reason": retry_reason or ""}
        acked = asyncio.get_running_loop().create_future()
        self._awaiting[envelope_id] = acked
        await link.send_json(envelope)
        async with asyncio.timeout(WAIT):
            return await acked

    async def socket_event(
        self, event: dict[str, Any], event_id: str = "Ev1", **retry: Any
    ) -> dict[str, Any]:
        return await self.envelope("events_api", event_callback(event, event_id), **retry)

    async def socket_dm(
        self, text: str, *, user: str = "U1", event_id: str = "Ev1", channel: str = "D1", **retry: Any
    ) -> dict[str, Any]:
        return await self.socket_event(dm_event(text, user=user, channel=channel), event_id, **retry)

    async def socket_command(
        self, text: str, *, user: str = "U1", channel: str = "D1", command: str = "/crm"
    ) -> dict[str, Any]:
        return await self.envelope(
            "slash_commands", command_body(text, user=user, channel=channel, command=command)
        )

    async def socket_interactive(self, payload: dict[str, Any]) -> dict[str, Any]:
        return await self.envelope("interactive", payload)

    async def socket_disconnect(self, reason: str = "refresh_requested") -> None:
        """Slack's ``disconnect`` message; returns once the client has opened its next connection."""
        made = len(self.links)
        await self.links[-1].send_json(
            {"type": "disconnect", "reason": reason, "debug_info": {"host": "fake"}}
        )
        await self.socket_connected(made + 1)


def event_callback(event: dict[str, Any], event_id: str = "Ev1") -> dict[str, Any]:
    """The Events API body around ``event``, as Slack sends it over HTTP or inside an envelope."""
    return {
        "token": "x",
        "team_id": TEAM_ID,
        "api_app_id": "A1",
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "event": event,
    }


def dm_event(text: str, *, user: str = "U1", channel: str = "D1") -> dict[str, Any]:
    return {
        "type": "message",
        "channel_type": "im",
        "channel": channel,
        "user": user,
        "text": text,
        "ts": "1700000000.000100",
    }


def command_body(
    text: str, *, user: str = "U1", channel: str = "D1", command: str = "/crm"
) -> dict[str, Any]:
    """A slash command's fields (form-encoded over HTTP, a JSON payload over Socket Mode)."""
    return {
        "token": "x",
        "team_id": TEAM_ID,
        "team_domain": "acme",
        "channel_id": channel,
        "channel_name": "directmessage" if channel.startswith("D") else "general",
        "user_id": user,
        "user_name": "rita",
        "command": command,
        "text": text,
        "api_app_id": "A1",
        "is_enterprise_install": "false",
        "response_url": "https://hooks.slack.example/commands/T1/1/x",  # never a real Slack host
        "trigger_id": "1.2.x",
    }


@dataclass
class SlackWorkspace:
    """Slack's side of the conversation: signed events, commands and interactions sent to our app."""

    client: TestClient
    fake: FakeSlackApi
    secret: str = SECRET
    sent: list[int] = field(default_factory=list)

    async def send(self, body: bytes, content_type: str, **headers: str) -> int:
        ts = str(int(time.time()))
        signed = {
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": verify.sign(self.secret, ts, body),
            "Content-Type": content_type,
            **headers,
        }
        res = await self.client.post("/slack/events", data=body, headers=signed)
        self.sent.append(res.status)
        return res.status

    async def event(self, event: dict[str, Any], event_id: str = "Ev1", **headers: str) -> int:
        body = event_callback(event, event_id)
        return await self.send(json.dumps(body).encode(), "application/json", **headers)

    async def dm(self, text: str, *, user: str = "U1", event_id: str = "Ev1", channel: str = "D1") -> int:
        return await self.event(dm_event(text, user=user, channel=channel), event_id)

    async def interactive(self, payload: dict[str, Any]) -> int:
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return await self.send(body, "application/x-www-form-urlencoded")

    def posted(self) -> list[str]:
        return [str(c.get("text")) for c in self.fake.calls_to("chat.postMessage")]


def link_slack(db: Database, email: str, slack_user: str = "U1", team: str = TEAM_ID) -> None:
    """What an admin's approval leaves behind: the Slack id and its workspace on the CRM user."""
    with db.session() as session:
        user = session.query(User).filter(User.email == email).one()
        user.slack_user_id, user.slack_team_id = slack_user, team
