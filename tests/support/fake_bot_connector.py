"""A local stand-in for Microsoft's side of a Teams bot: one aiohttp app that records every call.

    fake = FakeBotConnector(app_id=APP_ID, app_password=PASSWORD, members={"29:u1": {...}})
    server = await aiohttp_server(fake.app)
    fake.publish(issuer.jwk())                         # the key the test signs its tokens with
    settings: teams_openid_url=fake.openid_url(server), teams_token_url=fake.token_url(server)
    activity serviceUrl: fake.service_url(server)
    fake.fail("reply", status=429, times=1, retry_after=0)
    assert fake.replies[0].body["attachments"][0]["contentType"] == ...

It plays the OpenID metadata document and JWKS of ``login.botframework.com`` (and of Entra ID for a
tenant: ``entra_openid_url``), the Entra ID authority MSAL talks to (``authority_app``, served over
HTTPS with a throw-away certificate: ``tls()``; its tenant metadata and client-credentials token endpoint)
and the Bot Connector's ``/v3/conversations`` routes the connector uses:
replies (``POST .../activities[/{replyToId}]``), member lookups (``GET .../members/{memberId}``) and
opening the bot's personal chat with a user (``POST /v3/conversations``: recorded in ``opened``; it answers
``a:personal-<member id>``, like Teams returns the existing 1:1 chat).
``Issuer`` mints real RS256 tokens the way the Bot Framework does.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import tempfile
import time
from dataclasses import dataclass
from itertools import count
from typing import Any

import jwt
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from jwt.algorithms import RSAAlgorithm

BOT_ISSUER = "https://api.botframework.com"
SERVICE_PREFIX = "/smba/emea/"


def tls() -> tuple[ssl.SSLContext, str]:
    """A server context for 127.0.0.1 with a fresh self-signed certificate, and the certificate's file
    (for ``REQUESTS_CA_BUNDLE``: MSAL only talks HTTPS)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    folder = tempfile.mkdtemp(prefix="fake-entra-")
    cert_file, key_file = f"{folder}/cert.pem", f"{folder}/key.pem"
    with open(cert_file, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_file, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file


class Issuer:
    """An RSA key pair that signs Bot Framework-style tokens (and publishes itself as a JWK)."""

    def __init__(self, kid: str = "key-1", *, endorsements: list[str] | None = None) -> None:
        self.kid = kid
        self.endorsements = endorsements
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self) -> dict[str, Any]:
        key: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.private_key.public_key()))
        key.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        if self.endorsements is not None:
            key["endorsements"] = list(self.endorsements)
        return key

    def token(
        self,
        *,
        audience: str,
        service_url: str,
        issuer: str = BOT_ISSUER,
        lifetime: int = 3600,
        issued_at: float | None = None,
        kid: str | None = None,
        algorithm: str = "RS256",
        **claims: Any,
    ) -> str:
        now = int(issued_at if issued_at is not None else time.time())
        payload = {
            "iss": issuer,
            "aud": audience,
            "serviceurl": service_url,
            "nbf": now - 5,
            "iat": now,
            "exp": now + lifetime,
            **claims,
        }
        return jwt.encode(
            {k: v for k, v in payload.items() if v is not None},
            self.private_key,
            algorithm=algorithm,
            headers={"kid": kid or self.kid},
        )


@dataclass
class _Failure:
    status: int
    times: int
    retry_after: int | None


@dataclass
class Posted:
    conversation_id: str
    reply_to_id: str | None
    body: dict[str, Any]

    @property
    def text(self) -> str:
        return str(self.body.get("text") or "")

    def card(self) -> dict[str, Any] | None:
        for attachment in self.body.get("attachments") or []:
            if attachment.get("contentType") == "application/vnd.microsoft.card.adaptive":
                return attachment["content"]
        return None


class FakeBotConnector:
    def __init__(
        self, *, app_id: str, app_password: str, members: dict[str, dict[str, Any]] | None = None
    ) -> None:
        self.app_id = app_id
        self.app_password = app_password
        self.members = dict(members or {})  # member id -> TeamsChannelAccount
        self.keys: list[dict[str, Any]] = []
        self.replies: list[Posted] = []
        self.typing: list[str] = []  # conversations that were shown a typing indicator
        self.member_lookups: list[str] = []
        self.opened: list[dict[str, Any]] = []  # bodies of POST /v3/conversations
        self.attempts: list[str] = []  # every connector request by kind, failed ones included
        self.metadata_fetches = 0
        self.jwks_fetches = 0
        self.tokens_issued: list[str] = []
        self.token_tenants: list[str] = []  # the authority's tenant of every token request
        self._failures: dict[str, _Failure] = {}
        self._n = count(1)
        self.app = web.Application()
        self.app.router.add_get("/v1/.well-known/openidconfiguration", self._metadata)
        self.app.router.add_get("/v1/.well-known/keys", self._jwks)
        self.app.router.add_post("/botframework.com/oauth2/v2.0/token", self._token)
        self.app.router.add_post(SERVICE_PREFIX + "v3/conversations", self._open)
        base = SERVICE_PREFIX + "v3/conversations/{conversation}"
        self.app.router.add_post(base + "/activities", self._reply)
        self.app.router.add_post(base + "/activities/{reply_to}", self._reply)
        self.app.router.add_get(base + "/members/{member}", self._member)
        self.app.router.add_put(base + "/activities/{activity}", self._update)
        self.app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", self._entra_metadata)
        self.updates: list[Posted] = []  # PUT .../activities/{id}: a card replaced in place
        self.authority_app = web.Application()  # Entra ID as MSAL sees it (HTTPS)
        self.authority_app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", self._authority)
        self.authority_app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)

    # -- addresses -------------------------------------------------------------------------------
    @staticmethod
    def openid_url(server: TestServer) -> str:
        return str(server.make_url("/v1/.well-known/openidconfiguration"))

    @staticmethod
    def token_url(server: TestServer) -> str:
        return str(server.make_url("/botframework.com/oauth2/v2.0/token"))

    @staticmethod
    def entra_openid_url(server: TestServer, tenant: str) -> str:
        return str(server.make_url(f"/{tenant}/v2.0/.well-known/openid-configuration"))

    @staticmethod
    def authority(server: TestServer, tenant: str) -> str:
        """The MSAL authority for ``tenant`` (``server`` runs ``authority_app`` over HTTPS)."""
        return str(server.make_url(f"/{tenant}"))

    @staticmethod
    def service_url(server: TestServer) -> str:
        return str(server.make_url(SERVICE_PREFIX))

    # -- control ---------------------------------------------------------------------------------
    def publish(self, *jwks: dict[str, Any]) -> None:
        self.keys.extend(jwks)

    def fail(self, kind: str, *, status: int, times: int = 1, retry_after: int | None = None) -> None:
        """Answer the next ``times`` requests of ``kind`` (``reply``, ``member``, ``open``) with ``status``."""
        self._failures[kind] = _Failure(status, times, retry_after)

    # -- OpenID and token endpoint ------------------------------------------------------------------
    async def _metadata(self, request: web.Request) -> web.Response:
        self.metadata_fetches += 1
        jwks_uri = str(request.url.with_path("/v1/.well-known/keys").with_query(None))
        return web.json_response(
            {
                "issuer": BOT_ISSUER,
                "authorization_endpoint": "https://invalid.botframework.com",
                "jwks_uri": jwks_uri,
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            }
        )

    async def _entra_metadata(self, request: web.Request) -> web.Response:
        self.metadata_fetches += 1
        tenant = request.match_info["tenant"]
        jwks_uri = str(request.url.with_path("/v1/.well-known/keys").with_query(None))
        return web.json_response(
            {"issuer": f"https://login.microsoftonline.com/{tenant}/v2.0", "jwks_uri": jwks_uri}
        )

    async def _authority(self, request: web.Request) -> web.Response:
        tenant = request.match_info["tenant"]
        base = str(request.url.with_path(f"/{tenant}").with_query(None))
        return web.json_response(
            {
                "issuer": f"https://login.microsoftonline.com/{tenant}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        )

    async def _jwks(self, _request: web.Request) -> web.Response:
        self.jwks_fetches += 1
        return web.json_response({"keys": self.keys})

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if (
            form.get("grant_type") != "client_credentials"
            or form.get("client_id") != self.app_id
            or form.get("client_secret") != self.app_password
            or form.get("scope") != "https://api.botframework.com/.default"
        ):
            return web.json_response({"error": "invalid_client"}, status=401)
        self.token_tenants.append(request.match_info.get("tenant", "botframework.com"))
        token = f"outbound-{next(self._n)}"
        self.tokens_issued.append(token)
        return web.json_response(
            {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}
        )

    # -- Bot Connector -----------------------------------------------------------------------------
    def _refusal(self, kind: str, request: web.Request) -> web.Response | None:
        self.attempts.append(kind)
        failure = self._failures.get(kind)
        if failure and failure.times > 0:
            failure.times -= 1
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
            return web.json_response(
                {"error": {"code": "Throttled" if failure.status == 429 else "ServiceError"}},
                status=failure.status,
                headers=headers,
            )
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or header[7:] not in self.tokens_issued:
            return web.json_response({"message": "Authorization has been denied"}, status=401)
        return None

    async def _reply(self, request: web.Request) -> web.Response:
        body = await request.json()
        typing = isinstance(body, dict) and body.get("type") == "typing"
        refusal = self._refusal("typing" if typing else "reply", request)
        if refusal is not None:
            return refusal
        if typing:
            self.typing.append(request.match_info["conversation"])
            return web.json_response({}, status=201)
        self.replies.append(
            Posted(request.match_info["conversation"], request.match_info.get("reply_to"), body)
        )
        return web.json_response({"id": f"reply-{next(self._n)}"}, status=201)

    async def _open(self, request: web.Request) -> web.Response:
        refusal = self._refusal("open", request)
        if refusal is not None:
            return refusal
        body = await request.json()
        self.opened.append(body)
        members = body.get("members") or [{}]
        return web.json_response({"id": f"a:personal-{members[0].get('id')}"}, status=201)

    async def _update(self, request: web.Request) -> web.Response:
        refusal = self._refusal("update", request)
        if refusal is not None:
            return refusal
        body = await request.json()
        self.updates.append(Posted(request.match_info["conversation"], request.match_info["activity"], body))
        return web.json_response({"id": request.match_info["activity"]}, status=200)

    def posted_to(self, conversation_id: str) -> list[Posted]:
        return [p for p in self.replies if p.conversation_id == conversation_id]

    async def _member(self, request: web.Request) -> web.Response:
        refusal = self._refusal("member", request)
        if refusal is not None:
            return refusal
        member_id = request.match_info["member"]
        self.member_lookups.append(member_id)
        if member_id not in self.members:
            return web.json_response({"error": {"code": "MemberNotFoundInConversation"}}, status=404)
        return web.json_response({"id": member_id, **self.members[member_id]})


async def teams_settings(
    fake: FakeBotConnector, server: TestServer, aiohttp_server: Any, monkeypatch: Any, **overrides: Any
) -> Any:
    """Settings for a bot registered in ``tenant-1`` that talks only to ``fake``: the Bot Framework keys
    and the Bot Connector on ``server``, Entra ID (MSAL, over HTTPS with a throw-away certificate that
    ``REQUESTS_CA_BUNDLE`` makes MSAL trust) on a second server."""
    from assistant.settings import Settings

    context, cert_file = tls()
    authority = await aiohttp_server(fake.authority_app, ssl=context)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", cert_file)
    args: dict[str, Any] = {
        "teams_app_id": fake.app_id,
        "teams_app_password": fake.app_password,
        "teams_openid_url": fake.openid_url(server),
        "teams_entra_openid_url": fake.entra_openid_url(server, "tenant-1"),
        "teams_authority": fake.authority(authority, "tenant-1"),
        "teams_authority_discovery": False,
        "teams_tenant_ids": ("tenant-1",),
        "extra": {"teams_retry_backoff": "0.01", "teams_jwks_min_refresh": "0"},
        **overrides,
    }
    return Settings.from_env({}, **args)
