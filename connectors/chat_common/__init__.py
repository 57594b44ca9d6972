"""What the chat connectors (Slack, Teams) share, so each connector is an adapter for its platform.

    await claim_event(db, "teams", key)          # once per delivery: False for a redelivery
    directory = ActorDirectory(db, "slack")
    actor, lang = await directory.actor(cache_key, account, default_lang)   # linked CRM user (cached)

Each platform keeps what is its own: request verification, ids and addressing, rendering, wording.
"""

from connectors.chat_common.actors import ACTOR_CACHE_SECONDS, ActorDirectory
from connectors.chat_common.claims import claim_event

__all__ = ["ACTOR_CACHE_SECONDS", "ActorDirectory", "claim_event"]
