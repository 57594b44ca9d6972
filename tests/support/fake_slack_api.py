"""A local stand-in for the Slack Web API: an aiohttp server that records every call.

    fake = FakeSlackApi(users={"U1": "rep@x.example"})
    server = await aiohttp_server(fake.app)         # then SLACK_API_URL = fake.api_url(server)
    fake.fail("chat.postMessage", status=429, times=1, retry_after=0)
    assert fake.calls_to("chat.postMessage")[0]["channel"] == "D1"

It answers the methods the connector uses (auth.test, users.info, chat.postMessage, chat.postEphemeral,
chat.update, views.publish, files.getUploadURLExternal, files.completeUploadExternal and the upload itself).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import count
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
TEAM_ID = "T1"
TOKEN = "xoxb-test-token"


@dataclass
class _Failure:
    status: int
    times: int
    retry_after: int | None


class FakeSlackApi:
    def __init__(self, users: dict[str, str] | None = None, *, token: str = TOKEN) -> None:
        self.users = dict(users or {})  # slack user id -> e-mail
        self.token = token
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.attempts: list[str] = []  # every request, failed ones included
        self.uploads: list[bytes] = []
        self._failures: dict[str, _Failure] = {}
        self._ts = count(1)
        self.app = web.Application()
        self.app.router.add_route("*", "/api/{method}", self._api)
        self.app.router.add_post("/upload/{file_id}", self._upload)

    @staticmethod
    def api_url(server: TestServer) -> str:
        return str(server.make_url("/api/"))

    def fail(self, method: str, *, status: int, times: int = 1, retry_after: int | None = None) -> None:
        """Answer the next ``times`` calls of ``method`` with ``status`` (and a Retry-After header)."""
        self._failures[method] = _Failure(status, times, retry_after)

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
                {"ok": False, "error": "ratelimited" if failure.status == 429 else "fatal"},
                status=failure.status,
                headers=headers,
            )
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        args = await self._args(request)
        self.calls.append((method, args))
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        return web.json_response(handler(request, args))

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
