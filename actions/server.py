"""Our actions behind Rasa-SDK's own action server, for a real Rasa server as the dialogue engine.

Rasa calls ``POST /webhook`` (endpoints.yml ``action_endpoint``). The same action instances as in-process run
here, each opening its own transaction. Two secrets, both required:

- ``CRM_ACTION_TOKEN`` (``?token=...`` in Rasa's action URL): requests without it are refused, so only our Rasa
  server can run actions at all;
- ``CRM_SECRET_KEY``, the same as our server's: the speaker reaches the actions only as a seal our server made
  (:mod:`assistant.speaker_seal`) for the tracker's conversation. Metadata anyone posted to Rasa's REST webhook
  (``"speaker": {"role": "admin"}``, a seal from another conversation, an expired or forged one) makes the
  speaker an anonymous customer (:func:`actions.base.speaker`), who sees nobody's data.
"""

from __future__ import annotations

import hmac
from typing import Any

from rasa_sdk.endpoint import create_app
from rasa_sdk.executor import ActionExecutor

from actions.registry import ActionDeps, build_actions
from actions.store_access import StoreAccess
from assistant import speaker_seal
from crm_store.db import Database
from crm_store.services import grants


def build_action_server(
    db: Database, *, token: str, secret_key: str, embedder: Any = None, proof_idle_seconds: int | None = None
) -> Any:
    """A Sanic app serving every registered action; ``token`` must match the ``token`` query parameter and
    ``secret_key`` (``CRM_SECRET_KEY``) be our server's, so that the actions can verify the speaker's seal."""
    if not token:
        raise ValueError("the action server needs a token (CRM_ACTION_TOKEN): it acts on behalf of speakers")
    if not secret_key:
        raise ValueError("the action server needs CRM_SECRET_KEY, the same as the CRM server's: without it no "
                         "speaker's seal can be verified")
    speaker_seal.configure(secret_key)
    grants.configure(idle_seconds=proof_idle_seconds)  # the same proof policy as the CRM server's
    executor = ActionExecutor()
    for action in build_actions(ActionDeps(store=StoreAccess(db), embedder=embedder)):
        executor.register_action(action)
    app = create_app(executor, cors_origins=[])

    @app.on_request
    async def check_token(request: Any) -> Any:
        from sanic import response

        if request.path == "/health":
            return None
        given = request.args.get("token") or ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            return response.json({"error": "invalid or missing token"}, status=401)
        return None

    return app
