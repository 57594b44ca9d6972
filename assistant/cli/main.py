"""The ``crm-assistant`` command. Each area registers its subcommands from its own module."""

from __future__ import annotations

import importlib
import logging

import click

# Explicit registry: module name -> it defines ``register(group)``. Order is the help order.
COMMAND_MODULES: tuple[str, ...] = (
    "assistant.cli.store_cmds",
    "assistant.cli.link_cmds",  # adds Slack/Teams account linking to ``users``
    "assistant.cli.server_cmds",
    "assistant.cli.data_cmds",
    "assistant.cli.nlu_cmds",
    "assistant.cli.triage_cmds",
    "assistant.cli.mail_cmds",  # quarantined inbound mail
    "assistant.cli.chat_cmds",
    "assistant.cli.actions_cmds",
    "assistant.cli.doctor_cmds",
    "assistant.cli.teams_cmds",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (-vv for DEBUG).")
def cli(verbose: int) -> None:
    """Conversational CRM assistant: store, NLU, chat, e-mail triage and connectors."""
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=max(level, logging.DEBUG), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _register_all() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(cli)


_register_all()


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
