"""CSV/Excel import and export of contacts and organisations.

Every row goes through the services in its own savepoint: good rows land, a bad row is rolled back
alone and reported with its row number (as a spreadsheet shows it), field and message. ``dry_run``
validates everything and then rolls the whole import back.

    report = import_file(db, actor, "contacts", Path("leads.xlsx"), dry_run=True)
    for err in report.errors: print(err.row, err.field, err.message)
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from crm_store.db import Database
from crm_store.models import Contact, Organization
from crm_store.names import fold
from crm_store.services import Actor, CrmServices
from crm_store.services.errors import Conflict, CrmError, ValidationFailed

KINDS: tuple[str, ...] = ("contacts", "organizations")
FORMATS: tuple[str, ...] = ("csv", "xlsx")

CONTACT_COLUMNS: tuple[str, ...] = (
    "first_name",
    "last_name",
    "salutation",
    "email",
    "other_emails",
    "phone",
    "other_phones",
    "job_title",
    "language",
    "organization",
    "tags",
)
ORGANIZATION_COLUMNS: tuple[str, ...] = ("name", "domain", "industry", "segment", "vip", "parent")

# Header spellings seen in exports of other CRMs and spreadsheets, English and German (folded keys).
_ALIASES: dict[str, tuple[str, ...]] = {
    "first_name": ("first name", "firstname", "given name", "vorname", "forename"),
    "last_name": ("last name", "lastname", "surname", "family name", "nachname", "name"),
    "salutation": ("title", "anrede", "prefix"),
    "email": ("e-mail", "email address", "e-mail address", "e-mail-adresse", "mail", "emailadresse"),
    "other_emails": ("emails", "other e-mails", "weitere e-mails", "secondary email"),
    "phone": ("telephone", "phone number", "telefon", "telefonnummer", "tel", "mobile", "mobil", "handy"),
    "other_phones": ("phones", "weitere telefonnummern", "secondary phone"),
    "job_title": ("job title", "position", "role", "function", "funktion", "berufsbezeichnung", "titel"),
    "language": ("lang", "sprache"),
    "organization": ("organisation", "company", "account", "firma", "unternehmen", "organization name"),
    "tags": ("labels", "schlagworte", "schlagwörter"),
    "domain": ("website", "web", "domain name", "webseite"),
    "industry": ("branche", "sector", "sektor"),
    "segment": ("tier", "kundensegment"),
    "vip": ("key account", "important", "wichtig"),
    "parent": ("parent organization", "parent company", "konzern", "muttergesellschaft", "mutter"),
}


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection: "=HYPERLINK(...)",
# "=cmd|' /C calc'!A0", "@SUM(...)"). Exports neutralise such cells (OWASP: prefix a single quote in CSV,
# write them as string cells in XLSX), so a contact named "=1+1" cannot run code on a colleague's machine.
FORMULA_TRIGGERS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(value: str) -> str:
    """CSV: a quote before a cell the spreadsheet would read as a formula. Cells that already start with
    quotes before such a character get one more, so ``restore_formula`` undoes it exactly."""
    return "'" + value if value.lstrip("'").startswith(FORMULA_TRIGGERS) else value


def restore_formula(value: str) -> str:
    """The inverse of ``neutralise_formula``: our own CSV export imports back unchanged."""
    if value.startswith("'") and value.lstrip("'").startswith(FORMULA_TRIGGERS):
        return value[1:]
    return value


def _header_key(text: str) -> str:
    return " ".join(fold(text).replace("_", " ").split())


def header_map(kind: str) -> dict[str, str]:
    """Folded header text -> canonical field for one kind ("E-Mail" -> "email", "Vorname" -> "first_name")."""
    columns = CONTACT_COLUMNS if kind == "contacts" else ORGANIZATION_COLUMNS
    mapping: dict[str, str] = {}
    for col in columns:
        mapping[_header_key(col)] = col
        for alias in _ALIASES.get(col, ()):
            mapping.setdefault(_header_key(alias), col)
    if kind == "organizations":
        mapping[_header_key("name")] = "name"
        for alias in ("organization", "organisation", "company", "firma", "unternehmen", "organization name"):
            mapping[_header_key(alias)] = "name"
    return mapping


@dataclass(frozen=True)
class RowError:
    row: int
    field: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "message": self.message}


@dataclass
class ImportReport:
    kind: str
    dry_run: bool
    total: int = 0
    created: int = 0
    errors: list[RowError] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def failed_rows(self) -> int:
        return len({e.row for e in self.errors})

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "dry_run": self.dry_run,
            "total": self.total,
            "created": self.created,
            "failed": self.failed_rows,
            "ignored_columns": self.ignored_columns,
            "errors": [e.to_dict() for e in self.errors],
        }


# --- reading ----------------------------------------------------------------------------------------
def read_table(path: Path) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """Headers and (row number, cells) of a CSV (',' ';' or tab, UTF-8 with or without BOM) or XLSX."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return _read_xlsx(path)
    return _read_csv(path)


def _read_csv(path: Path) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252")  # Excel's "CSV" on German Windows
    sample = text[:4096]
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t").delimiter
    except csv.Error:
        delimiter = ","
    # Only the delimiter is guessed: the sniffer takes the quote that ``neutralise_formula`` puts before
    # "=..." cells for a quoting character. Spreadsheets and we quote with '"' (RFC 4180).
    reader = csv.reader(io.StringIO(text), csv.excel, delimiter=delimiter)
    headers = next(reader, [])
    rows = (
        (i, [restore_formula(c) for c in row]) for i, row in enumerate(reader, start=2) if any(c.strip() for c in row)
    )
    return headers, rows


def _read_xlsx(path: Path) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True, data_only=True)
    sheet = wb.worksheets[0]
    it = sheet.iter_rows(values_only=True)
    headers = [_cell(c) for c in next(it, ())]

    def rows() -> Iterator[tuple[int, list[str]]]:
        try:
            for i, row in enumerate(it, start=2):
                cells = [_cell(c) for c in row]
                if any(cells):
                    yield i, cells
        finally:
            wb.close()

    return headers, rows()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def count_rows(path: Path) -> int:
    _, rows = read_table(path)
    return sum(1 for _ in rows)


# --- importing --------------------------------------------------------------------------------------
def _split(value: str) -> list[str]:
    return [p.strip() for p in value.replace(";", ",").replace("|", ",").split(",") if p.strip()]


def _truthy(value: str) -> bool:
    return fold(value).strip() in ("1", "true", "yes", "y", "ja", "j", "x", "wahr")


class _Importer:
    def __init__(self, session: Session, actor: Actor) -> None:
        self.crm = CrmServices(session, actor)
        self.session = session
        self._orgs: dict[str, int] = {}

    def organization_id(self, name: str, *, create: bool) -> int | None:
        key = fold(name).strip()
        if key in self._orgs:
            return self._orgs[key]
        found = self.session.execute(
            select(Organization.id).where(func.lower(Organization.name) == name.strip().lower()).limit(1)
        ).scalar()
        if found is None:
            matches = self.crm.organizations.list(q=name, limit=1).items
            exact = [o for o in matches if fold(o.name) == key]
            found = exact[0].id if exact else None
        if found is None and create:
            found = self.crm.organizations.create({"name": name.strip()}).id
        if found is not None:
            self._orgs[key] = found
        return found

    def contact(self, values: dict[str, str]) -> None:
        data: dict[str, Any] = {
            k: v
            for k, v in values.items()
            if k in ("first_name", "last_name", "salutation", "job_title") and v
        }
        if values.get("email"):
            data["email"] = values["email"]
        if values.get("other_emails"):
            data["emails"] = _split(values["other_emails"])
        if values.get("phone"):
            data["phone"] = values["phone"]
        if values.get("other_phones"):
            data["phones"] = _split(values["other_phones"])
        if values.get("language"):
            data["language"] = values["language"].strip().lower()
        if values.get("tags"):
            data["tags"] = _split(values["tags"])
        if values.get("organization"):
            data["organization_id"] = self.organization_id(values["organization"], create=True)
        self.crm.contacts.create(data)

    def organization(self, values: dict[str, str]) -> None:
        data: dict[str, Any] = {
            k: v for k, v in values.items() if k in ("name", "domain", "industry", "segment") and v
        }
        if data.get("domain"):
            data["domain"] = (
                data["domain"]
                .removeprefix("https://")
                .removeprefix("http://")
                .removeprefix("www.")
                .rstrip("/")
            )
        if values.get("vip"):
            data["vip"] = _truthy(values["vip"])
        if values.get("parent"):
            parent = self.organization_id(values["parent"], create=False)
            if parent is None:
                raise ValidationFailed(
                    f"no organization named {values['parent']!r} (import parents first)", "parent"
                )
            data["parent_id"] = parent
        org = self.crm.organizations.create(data)
        self._orgs[fold(org.name).strip()] = org.id


def _begin_outer(session: Session) -> None:
    """SQLite's driver starts transactions lazily: without this the first SAVEPOINT's release commits."""
    conn = session.connection()
    raw = conn.connection.dbapi_connection
    if conn.dialect.name == "sqlite" and raw is not None and not getattr(raw, "in_transaction", True):
        conn.exec_driver_sql("BEGIN")


def import_rows(
    session: Session,
    actor: Actor,
    kind: str,
    headers: list[str],
    rows: Iterable[tuple[int, list[str]]],
    *,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import into an open session (the caller's transaction); each row in its own savepoint."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    mapping = header_map(kind)
    columns = [mapping.get(_header_key(h)) for h in headers]
    report = ImportReport(
        kind=kind,
        dry_run=dry_run,
        ignored_columns=[h for h, c in zip(headers, columns, strict=True) if c is None and h],
    )
    required = "name" if kind == "organizations" else None
    if required and required not in columns:
        report.errors.append(RowError(1, required, "the file has no name column"))
        return report
    importer = _Importer(session, actor)
    handle = importer.contact if kind == "contacts" else importer.organization
    _begin_outer(session)
    for row_no, cells in rows:
        report.total += 1
        values: dict[str, str] = {}
        for col, cell in zip(columns, cells, strict=False):
            if col and cell.strip() and col not in values:
                values[col] = cell.strip()
        try:
            with session.begin_nested():
                handle(values)
            report.created += 1
        except ValidationFailed as exc:
            report.errors.extend(RowError(row_no, _column(e.field), e.message) for e in exc.errors)
        except Conflict as exc:
            report.errors.append(RowError(row_no, _column(exc.field or ""), exc.detail))
        except CrmError as exc:
            report.errors.append(RowError(row_no, "", exc.detail))
        if progress:
            progress(1)
    return report


def _column(service_field: str) -> str:
    head = service_field.split(".")[0]
    return {
        "emails": "other_emails",
        "phones": "other_phones",
        "organization_id": "organization",
        "parent_id": "parent",
    }.get(head, head)


def import_file(
    db: Database,
    actor: Actor,
    kind: str,
    path: Path,
    *,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    headers, rows = read_table(path)
    with db.session() as session:
        report = import_rows(session, actor, kind, headers, rows, dry_run=dry_run, progress=progress)
        if dry_run:
            session.rollback()
    return report


# --- exporting --------------------------------------------------------------------------------------
# a bulk export leaves out erased people and people whose processing is restricted (Art. 18): their data
# may only be stored, not handed on
EXPORTABLE_CONTACT = (Contact.erased_at.is_(None), Contact.restricted_at.is_(None))


def export_rows(session: Session, kind: str, *, batch: int = 1000) -> tuple[list[str], Iterator[list[str]]]:
    """Headers and rows in the import format, so an export imports again unchanged."""
    if kind == "contacts":
        return list(CONTACT_COLUMNS), _contact_rows(session, batch)
    if kind == "organizations":
        return list(ORGANIZATION_COLUMNS), _organization_rows(session, batch)
    raise ValueError(f"kind must be one of {', '.join(KINDS)}")


def count_records(session: Session, kind: str) -> int:
    if kind == "contacts":
        return int(session.execute(select(func.count()).where(*EXPORTABLE_CONTACT)).scalar_one())
    return int(session.execute(select(func.count()).select_from(Organization)).scalar_one())


def _contact_rows(session: Session, batch: int) -> Iterator[list[str]]:
    last = 0
    while True:
        chunk = (
            session.execute(
                select(Contact)
                .options(
                    selectinload(Contact.emails),
                    selectinload(Contact.phones),
                    selectinload(Contact.organization),
                )
                .where(Contact.id > last, *EXPORTABLE_CONTACT)
                .order_by(Contact.id)
                .limit(batch)
            )
            .scalars()
            .all()
        )
        if not chunk:
            return
        for c in chunk:
            emails = [e.address for e in sorted(c.emails, key=lambda e: not e.is_primary)]
            phones = [p.number for p in sorted(c.phones, key=lambda p: not p.is_primary)]
            yield [
                c.first_name,
                c.last_name,
                c.salutation or "",
                emails[0] if emails else "",
                ", ".join(emails[1:]),
                phones[0] if phones else "",
                ", ".join(phones[1:]),
                c.job_title or "",
                c.language or "",
                c.organization.name if c.organization else "",
                ", ".join(c.tags or []),
            ]
        last = chunk[-1].id
        session.expunge_all()


def _organization_rows(session: Session, batch: int) -> Iterator[list[str]]:
    orgs = _parents_first(session)  # parents first, so the file imports again in one pass
    names = {o.id: o.name for o in orgs}
    for o in orgs:
        yield [
            o.name,
            o.domain or "",
            o.industry or "",
            o.segment or "",
            "yes" if o.vip else "",
            names.get(o.parent_id, "") if o.parent_id else "",
        ]


def _parents_first(session: Session) -> list[Organization]:
    orgs = list(session.execute(select(Organization).order_by(Organization.id)).scalars())
    by_id = {o.id: o for o in orgs}
    done: set[int] = set()
    ordered: list[Organization] = []

    def visit(o: Organization, depth: int = 0) -> None:
        if o.id in done:
            return
        if o.parent_id in by_id and o.parent_id not in done and depth < 50:
            visit(by_id[o.parent_id], depth + 1)  # type: ignore[index]
        done.add(o.id)
        ordered.append(o)

    for o in orgs:
        visit(o)
    return ordered


def write_table(
    path: Path,
    headers: list[str],
    rows: Iterable[list[str]],
    fmt: str,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write CSV (UTF-8 with BOM so Excel shows umlauts) or XLSX; returns the number of rows.

    No cell is ever written as a formula: XLSX cells are typed as strings, CSV cells that a spreadsheet
    would evaluate get a leading quote (``neutralise_formula``)."""
    n = 0
    if fmt == "xlsx":
        from openpyxl import Workbook
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

        wb = Workbook(write_only=True)
        sheet = wb.create_sheet("export")

        def text_cells(values: list[str]) -> list[WriteOnlyCell]:
            cells = []
            for value in values:
                # control characters XLSX cannot hold would abort the whole export: they are dropped
                cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", value))
                cell.data_type = "s"  # openpyxl would make "=..." a formula cell
                cells.append(cell)
            return cells

        sheet.append(text_cells(headers))
        for row in rows:
            sheet.append(text_cells(row))
            n += 1
            if progress:
                progress(1)
        wb.save(path)
        return n
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([neutralise_formula(h) for h in headers])
        for row in rows:
            writer.writerow([neutralise_formula(c) for c in row])
            n += 1
            if progress:
                progress(1)
    return n
