"""Our actions behind Rasa-SDK's own action server, for a real Rasa server as the dialogue engine.

Rasa calls ``POST /webhook`` (endpoints.yml ``action_endpoint``). The same action instances as in-process run
here, each opening its own transaction. Set ``CRM_ACTION_TOKEN`` and put ``?token=...`` in Rasa's action URL:
requests without the token are refused, since actions act as the speaker named in the message metadata.
"""

from __future__ import annotations

import hmac
from typing import Any

from rasa_sdk.endpoint import create_app
from rasa_sdk.executor import ActionExecutor

from actions.registry import ActionDeps, build_actions
from actions.store_access import StoreAccess
from crm_store.db import Database


def build_action_server(db: Database, *, token: str, embedder: Any = None) -> Any:
    """A Sanic app serving every registered action; ``token`` must match the ``token`` query parameter."""
    if not token:
        raise ValueError("the action server needs a token (CRM_ACTION_TOKEN): it acts on behalf of speakers")
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
