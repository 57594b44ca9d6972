"""The first ticket number of a fresh store, drawn by two workers at once (found by bench/load.py: the second
worker's INSERT of the counter row failed and its mail was refused with 451).

Transaction A creates the counter row and holds its transaction open; B, in another connection, draws a number
meanwhile (it waits on A's row). After A commits, B continues from A's row: two different, consecutive numbers.
"""

from __future__ import annotations

import threading
import time

import pytest

from crm_store.db import Database
from crm_store.services.tickets import FIRST_TICKET_NUMBER, next_number


def test_two_transactions_drawing_the_first_number_get_consecutive_ones(db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("SQLite runs one writer at a time: the second transaction waits before it reads")
    drawn: dict[str, int] = {}
    a_has_row = threading.Event()
    errors: list[BaseException] = []

    def a() -> None:
        try:
            with db.session() as s:
                drawn["a"] = next_number(s)
                a_has_row.set()
                time.sleep(0.5)  # B is now blocked on A's uncommitted row
        except BaseException as exc:
            errors.append(exc)
            a_has_row.set()

    def b() -> None:
        a_has_row.wait(10)
        try:
            with db.session() as s:
                drawn["b"] = next_number(s)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert drawn == {"a": FIRST_TICKET_NUMBER, "b": FIRST_TICKET_NUMBER + 1}
