"""The e-mail classifier for the triage, and what our MTA recorded about a mail's authenticity.

    classifier = load_or_train_classifier(model_dir, data_dir, embedder)
    auth = authentication_results(raw, authserv_id="mx.example-crm.com")   # -> MailAuth

The cache file is named by a hash of the training data and the embedding model, so changed data
retrains by itself; only the scikit-learn parts are stored (``EmailClassifier.save``).

``train_with_corrections`` (``crm-assistant train --with-corrections``) trains a candidate on the
training data plus agents' corrections, scores it and the current model on held-out mails, and
makes it the active model (``email/active.json``) only when it scores at least as well; the old model
is kept otherwise. The active model is used while the training data and embedder stay the same.

``authentication_results`` reads the RFC 8601 ``Authentication-Results`` headers into the ticket
service's ``MailAuth`` (the threading rule lives in ``crm_store.services.mail_threads``). Anyone can
write such a header into a mail, so only our own MTA's count: with ``authserv_id`` (CRM_MAIL_AUTHSERV_ID)
every header naming that authserv-id and no other; without it only the top-most header, the one the
last hop (ours) prepended. Parsing uses ``authres``; a header it refuses falls back to a tolerant scan
for ``method=result`` pairs, so that a failure verdict never vanishes behind a syntax quirk.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path

import authres  # type: ignore[import-untyped]

from crm_store.services.mail_threads import MailAuth
from nlu.email_classifier import EmailClassifier, TrainingEmail, load_labelled_mails, load_training_emails
from nlu.embedder import Embedder

log = logging.getLogger(__name__)

CLASSIFIER_SUBDIR = "email"
ACTIVE_FILE = "active.json"  # the model trained with corrections, when it beat the plain one


class ClassifierDataError(ValueError):
    """The e-mail training data is missing or unreadable."""


def classifier_data_hash(data_dir: Path, embedder: Embedder) -> str:
    from nlu.gloss_de import fingerprint  # German mail is embedded through the gloss

    digest = hashlib.sha256(getattr(embedder, "name", type(embedder).__name__).encode())
    digest.update(fingerprint().encode())
    for item in sorted(data_dir.glob("*.yml")):
        digest.update(item.name.encode())
        digest.update(item.read_bytes())
    return digest.hexdigest()[:16]


def load_or_train_classifier(
    model_dir: Path, data_dir: Path, embedder: Embedder, *, say: Callable[[str], object] | None = None
) -> EmailClassifier:
    """The cached classifier for this data and embedder, trained (and cached) when there is none."""
    tell = say or log.warning
    try:
        path = model_dir / CLASSIFIER_SUBDIR / f"classifier-{classifier_data_hash(data_dir, embedder)}.joblib"
    except OSError as exc:
        raise ClassifierDataError(f"cannot read e-mail training data in {data_dir}: {exc}") from exc
    active = _active_model(model_dir, path.stem.removeprefix("classifier-"))
    if active is not None:
        try:
            return EmailClassifier.load(active, embedder)
        except (ValueError, OSError, EOFError):
            tell(f"Ignoring unreadable e-mail model {active}; using the one trained without corrections.")
    if path.exists():
        try:
            return EmailClassifier.load(path, embedder)
        except (ValueError, OSError, EOFError):
            tell(f"Ignoring unreadable e-mail model {path}; retraining.")
    training = load_training_emails(data_dir)
    if not training:
        raise ClassifierDataError(f"no e-mail training data in {data_dir}")
    tell(f"Training the e-mail classifier from {len(training)} mails in {data_dir}...")
    classifier = EmailClassifier(embedder).fit(
        [t[0] for t in training], [t[1] for t in training], [t[2] for t in training]
    )
    tmp = path.with_suffix(".tmp")
    classifier.save(tmp)
    tmp.replace(path)
    return classifier


def _active_model(model_dir: Path, data_hash: str) -> Path | None:
    """The corrections model named by ``active.json`` when it was trained on this data and embedder."""
    pointer = model_dir / CLASSIFIER_SUBDIR / ACTIVE_FILE
    try:
        info = json.loads(pointer.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or info.get("data_hash") != data_hash:
        return None
    candidate = pointer.parent / str(info.get("file", ""))
    return candidate if candidate.is_file() and candidate.parent == pointer.parent else None


@dataclass(frozen=True, slots=True)
class CorrectionsOutcome:
    used: bool  # the candidate became the active model
    corrections: int
    heldout_mails: int
    old: dict[str, float]  # queue/priority accuracy of the model in use before
    new: dict[str, float]  # of the candidate trained with the corrections


def train_with_corrections(
    model_dir: Path,
    data_dir: Path,
    embedder: Embedder,
    corrections: Sequence[TrainingEmail],
    heldout: Path,
    *,
    say: Callable[[str], object] | None = None,
) -> CorrectionsOutcome:
    """Train on ``data_dir`` plus ``corrections``; activate it only if it scores no worse on ``heldout``.

    The score is the mean of queue and priority accuracy on the held-out mails (never trained on).
    """
    tell = say or log.warning
    current = load_or_train_classifier(model_dir, data_dir, embedder, say=tell)
    held = load_labelled_mails(heldout)
    if not held:
        raise ClassifierDataError(f"no held-out mails in {heldout}: the new model cannot be judged")
    training = load_training_emails(data_dir) + list(corrections)
    tell(f"Training the e-mail classifier from {len(training)} mails ({len(corrections)} corrections)...")
    candidate = EmailClassifier(embedder).fit(
        [t[0] for t in training], [t[1] for t in training], [t[2] for t in training]
    )
    old, new = _heldout_scores(current, held), _heldout_scores(candidate, held)
    used = bool(corrections) and _mean(new) >= _mean(old)
    if used:
        data_hash = classifier_data_hash(data_dir, embedder)
        folder = model_dir / CLASSIFIER_SUBDIR
        name = f"corrected-{data_hash}.joblib"
        tmp = folder / f"{name}.tmp"
        candidate.save(tmp)
        tmp.replace(folder / name)
        pointer = {
            "file": name,
            "data_hash": data_hash,
            "corrections": len(corrections),
            "old": old,
            "new": new,
        }
        (folder / f"{ACTIVE_FILE}.tmp").write_text(json.dumps(pointer, indent=2), encoding="utf-8")
        (folder / f"{ACTIVE_FILE}.tmp").replace(folder / ACTIVE_FILE)
    return CorrectionsOutcome(used, len(corrections), len(held), old, new)


def _heldout_scores(classifier: EmailClassifier, held: Sequence[TrainingEmail]) -> dict[str, float]:
    labels = classifier.predict_many([t[0] for t in held])
    n = max(1, len(held))
    return {
        "queue": round(sum(label.queue == t[1] for label, t in zip(labels, held, strict=True)) / n, 4),
        "priority": round(sum(label.priority == t[2] for label, t in zip(labels, held, strict=True)) / n, 4),
    }


def _mean(scores: dict[str, float]) -> float:
    return (scores["queue"] + scores["priority"]) / 2


# --- Authentication-Results (RFC 8601) ----------------------------------------------------------------

AUTH_METHODS = ("spf", "dkim", "dmarc")
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_HAS_AUTH_RESULTS = re.compile(rb"(?im)^authentication-results[ \t]*:")
_COMMENTS = re.compile(r"\((?:[^()\\]|\\.)*\)")  # RFC 5322 comments, one level deep
_AUTHSERV = re.compile(r"\s*([^\s;]+)")
_RESINFO = re.compile(r";\s*([a-z0-9][a-z0-9-]*)\s*(?:/\s*\d+\s*)?=\s*([a-z]+)", re.IGNORECASE)


def authentication_results(raw: bytes, authserv_id: str | None = None) -> MailAuth:
    """The SPF/DKIM/DMARC verdicts our MTA recorded in ``raw``'s header (``MailAuth()``: none)."""
    match = _HEADER_END.search(raw)
    head = raw[: match.start()] if match is not None else raw
    if _HAS_AUTH_RESULTS.search(head) is None:  # the common case costs one scan, no header parse
        return MailAuth()
    values = (
        BytesHeaderParser(policy=compat32).parsebytes(head + b"\n\n").get_all("Authentication-Results") or []
    )
    parsed = [_parse_auth_results(str(value)) for value in values]
    if authserv_id:
        ours = authserv_id.strip().lower()
        chosen = [pairs for server, pairs in parsed if server == ours]
    else:
        chosen = [parsed[0][1]] if parsed else []
    found: dict[str, list[str]] = {method: [] for method in AUTH_METHODS}
    for pairs in chosen:
        for method, result in pairs:
            if method in found:
                found[method].append(result)
    return MailAuth(spf=tuple(found["spf"]), dkim=tuple(found["dkim"]), dmarc=tuple(found["dmarc"]))


def _parse_auth_results(value: str) -> tuple[str, list[tuple[str, str]]]:
    """(authserv-id, [(method, result), ...]) of one header value, all lower-cased."""
    value = re.sub(r"\r?\n[ \t]+", " ", value).strip()
    try:
        header = authres.AuthenticationResultsHeader.parse_value(value)
        return str(header.authserv_id).lower(), [
            (str(r.method).lower(), str(r.result).lower()) for r in header.results
        ]
    except Exception:  # authres raises its own SyntaxError, and more on odd input: scan instead
        log.debug("Authentication-Results not RFC 8601 conformant; scanned for method=result pairs")
    plain = _COMMENTS.sub(" ", value)
    server = _AUTHSERV.match(plain)
    pairs = [(m.lower(), r.lower()) for m, r in _RESINFO.findall(plain)]
    return (server.group(1).lower() if server is not None else ""), pairs


__all__ = [
    "ACTIVE_FILE",
    "CLASSIFIER_SUBDIR",
    "ClassifierDataError",
    "CorrectionsOutcome",
    "authentication_results",
    "classifier_data_hash",
    "load_or_train_classifier",
    "train_with_corrections",
]
