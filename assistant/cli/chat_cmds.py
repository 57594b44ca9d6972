"""``crm-assistant chat --as EMAIL``: the terminal chat for developers and admins."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import click

from assistant.cli.common import db_option, open_store
from assistant.messages import IncomingMessage
from crm_store.services import Actor
from crm_store.services.users import UserService, actor_for


def _print_reply(reply: dict[str, Any]) -> None:
    if reply.get("text"):
        click.secho(f"bot> {reply['text']}", fg="cyan")
    custom = reply.get("custom")
    if isinstance(custom, dict) and custom.get("type") == "table":
        cols = [str(c) for c in custom.get("columns", [])]
        rows = [[str(c) for c in r] for r in custom.get("rows", [])]
        widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(cols)]
        click.echo("     " + "  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)))
        for r in rows:
            click.echo("     " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    elif custom is not None:
        click.echo("     " + json.dumps(custom, ensure_ascii=False)[:500])
    if reply.get("image"):
        click.echo("     [chart image]")
    for i, button in enumerate(reply.get("buttons") or [], 1):
        click.secho(f"     [{i}] {button['title']}", fg="yellow")


@click.command("chat")
@db_option
@click.option("--as", "as_email", default=None, metavar="EMAIL",
              help="Speak as this staff user; without it you are an anonymous customer.")
@click.option("--customer", "customer_email", default=None, metavar="EMAIL", help="Speak as this customer contact.")
@click.option("--models", "model_dir", type=click.Path(path_type=Path), default=None,
              help="Model folder (default: $CRM_MODEL_DIR, else ./models).")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
              help="Training data (default: $CRM_TRAINING_DATA, else the project's training_data/).")
def chat(db_url: str | None, as_email: str | None, customer_email: str | None, model_dir: Path | None,
         data_dir: Path | None) -> None:
    """Chat with the assistant in the terminal. Type a button's number to click it; Ctrl-D ends."""
    from assistant.app import build_assistant, load_nlu
    from assistant.settings import Settings

    settings = Settings.from_env()
    model_dir = model_dir or settings.model_dir
    data_dir = data_dir or settings.training_data

    store = open_store(db_url)
    with store.session() as session:
        if as_email:
            user = UserService(session, Actor.system("cli")).by_email(as_email)
            if user is None:
                raise click.ClickException(f"no user with e-mail {as_email}")
            actor = actor_for(user)
        elif customer_email:
            from crm_store.services import CrmServices

            contact = CrmServices(session, Actor.system("cli")).contacts.by_email(customer_email)
            if contact is None:
                raise click.ClickException(f"no contact with e-mail {customer_email}")
            actor = Actor.customer(contact.id, language=contact.language or "en")
        else:
            actor = Actor.customer(None)
    click.echo("loading the language model…")
    nlu = load_nlu(model_dir, data_dir)
    assistant = build_assistant(store, nlu, training_data=data_dir, embedder=getattr(nlu, "embedder", None))
    sender = f"{actor.label}/terminal-{uuid.uuid4().hex[:8]}"
    who = as_email or customer_email or "anonymous customer"
    click.echo(f"chatting as {who}. Ctrl-D to quit.")
    buttons: list[dict[str, str]] = []
    while True:
        try:
            text = input("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            click.echo()
            return
        if not text:
            continue
        if text.isdigit() and buttons and 1 <= int(text) <= len(buttons):
            text = buttons[int(text) - 1]["payload"]
        replies = asyncio.run(assistant.handle(IncomingMessage("terminal", sender, text, actor)))
        buttons = []
        for reply in replies:
            _print_reply(reply)
            buttons = reply.get("buttons") or buttons


def register(cli: click.Group) -> None:
    cli.add_command(chat)
