"""The triage progress bar's total: as many messages as ``iter_messages`` yields, for every input kind."""

from __future__ import annotations

import mailbox
from email.message import EmailMessage
from pathlib import Path

from assistant.cli.triage_cmds import count_messages, iter_messages


def _mail(n: int) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = f"a{n}@x.example", "support@y.example", f"mail {n}"
    msg.set_content(f"body {n}\nFrom the start of a line, quoted by mbox\n")
    return msg


def test_the_count_matches_what_is_read(tmp_path: Path) -> None:
    box = mailbox.mbox(str(tmp_path / "inbox.mbox"))
    for n in range(3):
        box.add(_mail(n))
    box.close()
    maildir = mailbox.Maildir(str(tmp_path / "Maildir"))
    for n in range(2):
        maildir.add(_mail(n))
    (tmp_path / "Maildir" / "new" / ".hidden").write_text("not a mail")
    folder = tmp_path / "emls"
    folder.mkdir()
    for n in range(4):
        (folder / f"{n}.eml").write_bytes(bytes(_mail(n)))
    single = folder / "0.eml"
    for path in (tmp_path / "inbox.mbox", tmp_path / "Maildir", folder, single):
        assert count_messages(path) == len(list(iter_messages(path))), path
    assert [count_messages(p) for p in (tmp_path / "inbox.mbox", tmp_path / "Maildir", folder, single)] == [
        3,
        2,
        4,
        1,
    ]
