from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlu.email_text import (
    decode_bytes,
    decode_header_value,
    extract_new_text,
    html_to_text,
    parse_mail,
    parse_mail_dict,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mail"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.eml")), ids=lambda p: p.name)
def test_every_fixture_parses_to_text(path: Path) -> None:
    mail = parse_mail(path.read_bytes())
    assert mail.subject
    assert mail.from_addr and "@" in mail.from_addr
    assert mail.text.strip()
    assert mail.new_text.strip()
    assert "\ufffd" not in mail.text  # no replacement characters: every charset was decoded


def test_multipart_alternative_prefers_plain_text() -> None:
    mail = parse_mail(fixture("multipart_alternative.eml"))
    assert mail.message_id == "CAB1x2y3z@mail.chenarchitects.com"
    assert mail.content_type == "multipart/alternative"
    assert mail.text.startswith("Hi,")
    assert "<p>" not in mail.text
    assert mail.date == datetime(2026, 3, 12, 9, 14, 3, tzinfo=UTC)
    assert mail.to == ["support@example-crm.com"]


def test_html_only_gives_text_without_markup_script_or_style() -> None:
    mail = parse_mail(fixture("html_only.eml"))
    assert "seit dem Update können wir keine Angebote mehr als PDF speichern" in mail.text
    assert "<" not in mail.text.replace("<support@example-crm.com>", "")
    assert "tracking" not in mail.text and "color" not in mail.text and "Mail" not in mail.text.split("\n")[0]
    assert "> das Update wurde eingespielt." in mail.text  # blockquote becomes a quote
    assert mail.new_text.startswith("Hallo Support-Team")
    assert "eingespielt" not in mail.new_text
    assert mail.from_name == "Monika Schäfer"


def test_windows_1252_body_is_decoded() -> None:
    mail = parse_mail(fixture("windows1252.eml"))
    assert "„2026-0412“ über 1.190,00 €" in mail.text
    assert "Betrag – unsere" in mail.text
    assert mail.from_name == "Jürgen Müller"


def test_iso_8859_1_quoted_printable_body_and_base64_subject() -> None:
    mail = parse_mail(fixture("iso8859_1.eml"))
    assert mail.subject == "Kündigung Vertrag"
    assert mail.text.startswith("Grüß Gott,")
    assert "kündigen" in mail.text
    assert mail.from_name == "Maria Höller"


def test_utf8_encoded_words_across_folded_lines() -> None:
    mail = parse_mail(fixture("encoded_subject_utf8.eml"))
    assert mail.subject == "Angebot für 50 Lizenzen – Grüße aus Malmö"
    assert mail.from_name == "Björn Åström"


def test_unknown_charset_falls_back_and_records_a_defect() -> None:
    mail = parse_mail(fixture("unknown_charset.eml"))
    assert "Göteborg" in mail.text
    assert any("x-no-such-charset" in d for d in mail.defects)


def test_broken_mime_is_parsed_with_defects_not_raised() -> None:
    mail = parse_mail(fixture("broken_mime.eml"))
    assert "zwei Positionen" in mail.text
    assert "CloseBoundaryNotFoundDefect" in mail.defects
    assert [a.name for a in mail.attachments] == ["rechnung.pdf"]


def test_attachment_is_kept_out_of_the_text() -> None:
    mail = parse_mail(fixture("with_attachment.eml"))
    (attachment,) = mail.attachments
    assert attachment.name == "INV-90117.pdf"
    assert attachment.content_type == "application/pdf"
    assert attachment.payload.startswith(b"%PDF-1.4")
    assert attachment.size == len(attachment.payload)
    assert "%PDF" not in mail.text


def test_threading_headers() -> None:
    mail = parse_mail(fixture("ticket_reply.eml"))
    assert "[#4711]" in mail.subject
    assert mail.in_reply_to == "ticket-4711-1@example-crm.com"
    assert mail.references == ["ticket-4711-0@example-crm.com", "ticket-4711-1@example-crm.com"]
    assert mail.headers["in-reply-to"] == "<ticket-4711-1@example-crm.com>"


def test_missing_message_id_is_none() -> None:
    mail = parse_mail(fixture("no_message_id.eml"))
    assert mail.message_id is None
    assert mail.from_name == ""
    assert mail.from_addr == "tom@tomsbikes.ie"


def test_dsn_report_structure_is_visible() -> None:
    mail = parse_mail(fixture("dsn_bounce.eml"))
    assert mail.content_type == "multipart/report"
    assert "message/delivery-status" in mail.part_types
    assert "could not\nbe delivered" in mail.text


def test_reply_above_german_quote_keeps_only_the_new_text() -> None:
    mail = parse_mail(fixture("reply_de.eml"))
    assert mail.new_text == (
        "Hallo Herr Weber,\n\nleider ist der Bericht immer noch sehr langsam, er braucht über zwei Minuten."
    )
    assert "Amtsgericht" in mail.text and "Cache" in mail.text


def test_reply_above_english_quote_keeps_only_the_new_text() -> None:
    mail = parse_mail(fixture("reply_en.eml"))
    assert mail.new_text == "The app still crashes on launch for all of our agents."


def test_forwarded_mail_keeps_the_comment_and_drops_the_separator() -> None:
    mail = parse_mail(fixture("forwarded.eml"))
    assert mail.new_text == "Card is valid and has plenty of credit. Can you retry the charge?"
    assert "unable to charge your Visa" in mail.text


def test_outlook_original_message_block_is_removed() -> None:
    text = (
        "Hallo Frau Yilmaz,\n\nder Link funktioniert nicht, bitte noch einmal schicken.\n\n"
        "-----Ursprüngliche Nachricht-----\nVon: Support <support@example-crm.com>\n"
        "Gesendet: Donnerstag, 12. März 2026 09:13\nBetreff: Ihr Zugang\n\nAnbei der Link."
    )
    assert (
        extract_new_text(text)
        == "Hallo Frau Yilmaz,\n\nder Link funktioniert nicht, bitte noch einmal schicken."
    )


def test_all_quoted_mail_falls_back_to_the_quote() -> None:
    assert extract_new_text("> only a quote\n> nothing else") != ""
    assert extract_new_text("") == ""


def test_parse_mail_dict_matches_the_yaml_shape() -> None:
    mail = parse_mail_dict(
        {
            "From": "Jana Keller <J.Keller@keller-bau.de>",
            "Subject": "Rechnung doppelt",
            "Message-ID": "<a@b>",
        },
        "Guten Tag,\nbitte erstatten.\n\nMit freundlichen Grüßen\nJana Keller\n",
    )
    assert (mail.from_name, mail.from_addr, mail.subject, mail.message_id) == (
        "Jana Keller",
        "j.keller@keller-bau.de",
        "Rechnung doppelt",
        "a@b",
    )
    assert mail.headers["subject"] == "Rechnung doppelt"
    assert mail.new_text == "Guten Tag,\nbitte erstatten."


def test_decode_bytes_handles_lying_and_unknown_charsets() -> None:
    assert decode_bytes("Grüße €".encode("cp1252"), "iso-8859-1") == "Grüße €"
    assert decode_bytes("Grüße".encode(), None) == "Grüße"
    assert decode_bytes(b"\x81\x8d\xff", "utf-8") == "\x81\x8dÿ"  # undefined in cp1252: latin-1 last resort
    defects: list[str] = []
    assert decode_bytes(b"plain", "x-bogus", defects) == "plain"
    assert defects == ["unknown-charset: x-bogus"]


def test_decode_header_value_survives_garbage() -> None:
    assert decode_header_value("=?iso-8859-1?b?S/xuZGlndW5n?=") == "Kündigung"
    defects: list[str] = []
    assert decode_header_value("=?x-unknown?q?abc?=", defects) == "=?x-unknown?q?abc?="
    assert defects


def test_html_to_text_block_elements_and_entities() -> None:
    text = html_to_text("<ul><li>eins &amp; zwei</li><li>drei</li></ul><p>Gr&uuml;&szlig;e</p>")
    assert text.split("\n") == ["eins & zwei", "drei", "", "Grüße"]


def test_big_mail_is_parsed_quickly_and_clipped() -> None:
    body = ("Zeile mit Text über die Rechnung.\n" * 400_000).encode()  # ~13 MB
    raw = b"From: a@b.de\r\nSubject: gross\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body
    mail = parse_mail(raw)
    assert mail.subject == "gross"
    assert 0 < len(mail.text) <= 200_000


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=2000))
def test_parse_mail_never_raises_on_arbitrary_bytes(raw: bytes) -> None:
    mail = parse_mail(raw)
    assert isinstance(mail.text, str)
    assert isinstance(mail.defects, list)


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(["multipart/mixed", "multipart/alternative", "text/plain", "text/html"]),
    st.sampled_from(["utf-8", "iso-8859-1", "windows-1252", "x-nope", ""]),
    st.text(max_size=300),
)
def test_parse_mail_never_raises_on_mangled_mime(content_type: str, charset: str, body: str) -> None:
    header = f"Content-Type: {content_type}; boundary=zz; charset={charset}\r\n"
    raw = f"From: x@y.de\r\nSubject: t\r\n{header}\r\n--zz\r\n{body}".encode("utf-8", "surrogatepass")
    mail = parse_mail(raw)
    assert isinstance(mail.new_text, str)
