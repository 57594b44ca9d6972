"""What a failed Slack call means for the outbox: retry when, give up when."""

from __future__ import annotations

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from connectors.slack.outbox import Policy, classify, posts, retry_delay


def _error(status: int, error: str, headers: dict[str, str] | None = None) -> SlackApiError:
    response = AsyncSlackResponse(
        client=None,
        http_verb="POST",
        api_url="https://slack.example/api/chat.postMessage",
        req_args={},
        data={"ok": False, "error": error},
        headers=headers or {},
        status_code=status,
    )
    return SlackApiError("failed", response)


def test_backoff_doubles_and_is_capped() -> None:
    policy = Policy(backoff=1.0, max_backoff=10.0)
    assert [retry_delay(n, policy) for n in (1, 2, 3, 4, 5, 9)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_classification() -> None:
    limited = classify(_error(429, "ratelimited", {"Retry-After": "7"}))
    assert limited.retry_after == 7.0 and limited.pause_method and not limited.sent
    assert classify(_error(500, "fatal")).retry_after == -1  # -1: the policy's backoff
    assert classify(_error(200, "internal_error")).retry_after == -1
    assert classify(aiohttp.ClientConnectionError("refused")).retry_after == -1
    assert classify(TimeoutError()).retry_after == -1
    gone = classify(_error(200, "channel_not_found"))
    assert gone.retry_after is None and gone.error == "channel_not_found"


def test_posts_keep_text_before_charts_and_never_upload_ephemerally() -> None:
    png = b"\x89PNG...."
    public = posts(channel="C1", text="hi", images=[(png, "chart.png")], thread_ts="1.2")
    assert [m.payload["method"] for m in public] == ["chat.postMessage", "files.upload"]
    assert public[1].payload["args"] == {
        "channel": "C1",
        "filename": "chart.png",
        "title": "chart.png",
        "thread_ts": "1.2",
    }
    private = posts(channel="C1", text="hi", images=[(png, "chart.png")], ephemeral_user="U1")
    assert [m.payload["method"] for m in private] == ["chat.postEphemeral"]
    assert private[0].payload["args"]["user"] == "U1"
