"""Bot Framework tokens on inbound requests: the ``Authorization: Bearer <JWT>`` Microsoft signs.

    keys = SigningKeys(session, settings.teams_openid_url)
    claims = await verify_bearer(request.headers.get("Authorization"), keys=keys, app_id=app_id)
    check_activity(claims, key, activity)      # the serviceUrl claim and the key's endorsements

A token is accepted only when it is RS256, signed by a key published in the JWKS that the OpenID
metadata document names (``jwks_uri``), issued by an issuer on the allow-list for our app id
(audience), and not expired (``LEEWAY_SECONDS``, the protocol's 5 minutes of clock skew). The allow-list
is the Bot Framework (``https://api.botframework.com``, keys from ``TEAMS_OPENID_URL``) and, for the
Agents SDK's single-tenant tokens, Entra ID for the bot's own tenant (v1 and v2 issuers, keys from
``TEAMS_ENTRA_OPENID_URL``); an Entra token's ``tid`` must be the tenant its issuer names. The SDK's own
validator is not used: it takes its key URLs from constants, checks the issuer only on request, ignores
endorsements and compares only the host of ``serviceUrl``. Its ``serviceurl`` claim must equal
the activity's ``serviceUrl`` and, when the key lists endorsements, the activity's ``channelId`` must
be one of them. Every failure is an :class:`AuthError` (the route answers 401); nothing here raises
anything else for any header, however malformed.

Keys are cached for ``MAX_AGE_SECONDS`` and re-fetched when a token names an unknown ``kid`` (key
rotation), but at most once per ``min_refresh_seconds`` so random kids cannot make us hammer Microsoft.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.algorithms import RSAAlgorithm

log = logging.getLogger(__name__)

ISSUER = "https://api.botframework.com"
ALGORITHM = "RS256"
LEEWAY_SECONDS = 300
MAX_AGE_SECONDS = 24 * 3600
MIN_REFRESH_SECONDS = 60.0
MAX_TOKEN_CHARS = 8192
FETCH_TIMEOUT_SECONDS = 10.0


class AuthError(Exception):
    """The request is not from the Bot Framework (or not for us); answered with 401."""


@dataclass(frozen=True)
class SigningKey:
    kid: str
    key: RSAPublicKey
    endorsements: tuple[str, ...] | None  # None: the key does not restrict channels


def parse_jwks(document: Any) -> dict[str, SigningKey]:
    """The usable RSA keys of a JWKS document by kid; malformed entries are skipped."""
    keys: dict[str, SigningKey] = {}
    entries = document.get("keys") if isinstance(document, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA" or not isinstance(entry.get("kid"), str):
            continue
        if entry.get("use") not in (None, "sig"):
            continue
        try:
            key = RSAAlgorithm.from_jwk(json.dumps(entry))
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            log.warning("skipped an unusable key %r in the Bot Framework JWKS", entry.get("kid"))
            continue
        if not isinstance(key, RSAPublicKey):
            continue
        raw = entry.get("endorsements")
        endorsements = tuple(str(e) for e in raw) if isinstance(raw, list) else None
        keys[entry["kid"]] = SigningKey(entry["kid"], key, endorsements)
    return keys


class SigningKeys:
    """The Bot Framework's signing keys, fetched through the OpenID metadata and cached."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        metadata_url: str,
        *,
        min_refresh_seconds: float = MIN_REFRESH_SECONDS,
        max_age_seconds: float = MAX_AGE_SECONDS,
    ) -> None:
        self.session = session
        self.metadata_url = metadata_url
        self.min_refresh_seconds = min_refresh_seconds
        self.max_age_seconds = max_age_seconds
        self.fetches = 0
        self._keys: dict[str, SigningKey] = {}
        self._fetched_at: float | None = None
        self._tried_at: float | None = None
        self._lock = asyncio.Lock()

    async def get(self, kid: str) -> SigningKey:
        if self._stale() or kid not in self._keys:
            await self._refresh(forced=kid not in self._keys)
        key = self._keys.get(kid)
        if key is None:
            raise AuthError("unknown signing key")
        return key

    def _stale(self) -> bool:
        return self._fetched_at is None or time.monotonic() - self._fetched_at > self.max_age_seconds

    async def _refresh(self, *, forced: bool) -> None:
        async with self._lock:
            now = time.monotonic()
            if self._tried_at is not None and now - self._tried_at < self.min_refresh_seconds:
                return  # tried a moment ago (perhaps for a concurrent request)
            if not forced and not self._stale():
                return
            self._tried_at = now
            try:
                keys = await self._fetch()
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                log.warning("could not fetch the Bot Framework signing keys: %s", type(exc).__name__)
                if not self._keys:
                    raise AuthError("signing keys unavailable") from exc
                return  # keep the old keys; try again after the interval
            self.fetches += 1
            self._fetched_at = now
            if keys:
                self._keys = keys

    async def _fetch(self) -> dict[str, SigningKey]:
        timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT_SECONDS)
        async with self.session.get(self.metadata_url, timeout=timeout) as res:
            res.raise_for_status()
            metadata = await res.json(content_type=None)
        jwks_uri = metadata.get("jwks_uri") if isinstance(metadata, dict) else None
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
            raise ValueError("the OpenID metadata names no jwks_uri")
        async with self.session.get(jwks_uri, timeout=timeout) as res:
            res.raise_for_status()
            return parse_jwks(await res.json(content_type=None))


def bearer_token(header: str | None) -> str:
    """The token of ``Bearer <token>``; AuthError for anything else."""
    if not header or len(header) > MAX_TOKEN_CHARS + 7 or not header.isascii():
        raise AuthError("missing or oversized Authorization header")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or token.count(".") != 2:
        raise AuthError("not a bearer JWT")
    return token


def entra_issuers(tenant: str) -> tuple[str, ...]:
    """Entra ID's issuers (v2 and v1) for tokens of ``tenant``."""
    return (f"https://login.microsoftonline.com/{tenant}/v2.0", f"https://sts.windows.net/{tenant}/")


@dataclass(frozen=True)
class Issuers:
    """The allow-list: which issuer's keys come from which metadata document, and the Entra tenant."""

    keys: dict[str, SigningKeys]
    entra_tenant: str = ""

    @classmethod
    def of(cls, bot_framework: SigningKeys, entra: SigningKeys | None = None, tenant: str = "") -> Issuers:
        keys = {ISSUER: bot_framework}
        if entra is not None and tenant:
            keys.update({issuer: entra for issuer in entra_issuers(tenant)})
        return cls(keys, tenant if entra is not None else "")


async def verify_bearer(
    header: str | None, *, keys: SigningKeys | Issuers, app_id: str
) -> tuple[dict[str, Any], SigningKey]:
    """The verified claims of the request's token and the key that signed it."""
    if not app_id:
        raise AuthError("no app id configured")
    issuers = keys if isinstance(keys, Issuers) else Issuers.of(keys)
    token = bearer_token(header)
    try:
        head = jwt.get_unverified_header(token)
    except (jwt.PyJWTError, ValueError, TypeError, UnicodeError) as exc:
        raise AuthError("malformed token header") from exc
    kid = head.get("kid")
    if head.get("alg") != ALGORITHM or not isinstance(kid, str) or not kid or len(kid) > 200:
        raise AuthError("wrong algorithm or no key id")
    try:
        unverified_issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
    except (jwt.PyJWTError, ValueError, TypeError, UnicodeError, AttributeError) as exc:
        raise AuthError("malformed token") from exc
    source = issuers.keys.get(unverified_issuer) if isinstance(unverified_issuer, str) else None
    if source is None:
        raise AuthError("issuer not allowed")
    key = await source.get(kid)
    try:
        claims = jwt.decode(
            token,
            key.key,
            algorithms=[ALGORITHM],
            audience=app_id,
            issuer=unverified_issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iss", "aud"]},
        )
    except (jwt.PyJWTError, ValueError, TypeError, UnicodeError) as exc:
        raise AuthError(f"token rejected: {type(exc).__name__}") from exc
    if not isinstance(claims, dict):
        raise AuthError("claims are not an object")
    if claims.get("iss") != ISSUER and claims.get("tid") != issuers.entra_tenant:
        raise AuthError("the token's tenant is not the issuer's")
    return claims, key


def _norm_url(url: Any) -> str | None:
    return url.rstrip("/") if isinstance(url, str) and url else None


def check_activity(claims: dict[str, Any], key: SigningKey, activity: dict[str, Any]) -> None:
    """The token must vouch for this activity's serviceUrl (and channel, when the key says)."""
    claimed = _norm_url(claims.get("serviceurl", claims.get("serviceUrl")))
    if claimed is None or claimed != _norm_url(activity.get("serviceUrl")):
        raise AuthError("serviceUrl does not match the token")
    if key.endorsements is not None and activity.get("channelId") not in key.endorsements:
        raise AuthError("the signing key is not endorsed for this channel")
