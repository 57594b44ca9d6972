"""German verbs for the gloss: every form from the infinitive, and separable verbs put back together.

People conjugate: "erfassen" arrives as "erfass", "erfasse", "erfasst", "erfasste", and a separable verb
is split across the sentence ("schlag die Nummer nach", "ruf sie morgen an"). Listing each form by hand
misses most of them, so this module lists infinitives with their English once and generates the regular
forms (present, past, imperative, participle, the zu-infinitive). For a separable verb it also keeps the
forms without the particle, which count only when the particle closes the clause (see
:func:`join_separable`). Strong verbs' irregular forms are listed beside them (``STRONG``).
The list is generic everyday and CRM vocabulary, never copied from evaluation data.
"""

from __future__ import annotations

# Folded infinitives (lower case, umlauts spelled out) -> English.
VERBS: dict[str, str] = {
    # recording, saving, creating
    "erfassen": "record", "aufnehmen": "add record", "eintragen": "enter log", "nachtragen": "add log",
    "abspeichern": "save", "speichern": "save", "sichern": "save", "hinterlegen": "store record",
    "festhalten": "note down", "notieren": "note", "vermerken": "note", "protokollieren": "log",
    "dokumentieren": "document log", "loggen": "log", "buchen": "book log", "verbuchen": "log",
    "anlegen": "create", "erstellen": "create", "erzeugen": "create", "eroeffnen": "open",
    "aufmachen": "open", "einrichten": "set up", "hinzufuegen": "add", "ergaenzen": "add",
    "beifuegen": "attach add", "anhaengen": "attach", "aufschreiben": "write down",
    "vormerken": "note remind", "einplanen": "schedule", "planen": "plan", "terminieren": "schedule",
    # changing
    "aendern": "change", "abaendern": "change", "anpassen": "update change", "aktualisieren": "update",
    "korrigieren": "correct", "berichtigen": "correct", "ersetzen": "replace", "austauschen": "replace",
    "ueberschreiben": "overwrite", "wechseln": "change", "umstellen": "switch change",
    "umbenennen": "rename", "verschieben": "move", "hochstufen": "upgrade", "setzen": "set",
    "umziehen": "move", "zuordnen": "assign", "zuweisen": "assign", "uebertragen": "transfer",
    "uebergeben": "hand over", "weitergeben": "pass on", "verknuepfen": "link", "hochladen": "upload",
    # deleting, stopping
    "loeschen": "delete", "entfernen": "remove", "tilgen": "erase delete", "vernichten": "destroy delete",
    "verwerfen": "discard", "streichen": "remove", "rausnehmen": "remove", "wegwerfen": "discard",
    "vergessen": "forget", "abbrechen": "cancel", "stornieren": "cancel", "absagen": "cancel",
    "aufhoeren": "stop", "beenden": "end", "stoppen": "stop", "kuendigen": "cancel terminate",
    "abbestellen": "unsubscribe", "abmelden": "unsubscribe log out", "austragen": "unsubscribe remove",
    "widerrufen": "withdraw revoke", "zurueckziehen": "withdraw", "sperren": "block lock",
    "deaktivieren": "deactivate", "schliessen": "close", "zumachen": "close", "abschliessen": "close",
    "erledigen": "do finish", "loesen": "solve", "beheben": "fix", "reparieren": "repair",
    # looking things up
    "nachschlagen": "look up", "nachsehen": "look up check", "nachschauen": "look up check",
    "raussuchen": "find look up", "heraussuchen": "find look up", "suchen": "search", "finden": "find",
    "aufrufen": "open show", "anzeigen": "show", "zeigen": "show", "auflisten": "list",
    "nennen": "tell name", "geben": "give", "ausgeben": "output show", "abrufen": "retrieve",
    "pruefen": "check", "ueberpruefen": "check", "checken": "check", "kontrollieren": "check",
    "schauen": "look", "gucken": "look", "ansehen": "look at", "anschauen": "look at",
    "durchgehen": "go through", "zusammenfassen": "summarize", "auswerten": "evaluate report",
    "berechnen": "calculate", "zaehlen": "count", "vergleichen": "compare", "filtern": "filter",
    "sortieren": "sort", "exportieren": "export", "importieren": "import", "herunterladen": "download",
    "runterladen": "download", "ausdrucken": "print", "wissen": "know", "erfahren": "learn find out",
    "interessieren": "interest", "informieren": "inform", "erklaeren": "explain", "beschreiben": "describe",
    "verraten": "tell", "erzaehlen": "tell", "sagen": "tell", "antworten": "answer", "beantworten": "answer",
    # communicating
    "anrufen": "call", "zurueckrufen": "call back", "telefonieren": "phone call", "durchklingeln": "call",
    "sprechen": "speak", "besprechen": "discuss", "reden": "talk", "plaudern": "chat",
    "unterhalten": "talk", "treffen": "meet", "besuchen": "visit", "vorbeischauen": "drop by visit",
    "vorbeifahren": "drop by visit", "schreiben": "write", "anschreiben": "write to email",
    "mailen": "email", "schicken": "send", "senden": "send", "zuschicken": "send", "verschicken": "send",
    "versenden": "send", "weiterleiten": "forward", "antippen": "tap", "kontaktieren": "contact",
    "melden": "report", "zurueckmelden": "reply", "nachfassen": "follow up", "nachhaken": "follow up",
    "erinnern": "remind", "benachrichtigen": "notify", "einladen": "invite",
    "vereinbaren": "arrange", "ausmachen": "arrange", "verabreden": "arrange", "bestaetigen": "confirm",
    "zusagen": "agree confirm", "ablehnen": "decline", "verhandeln": "negotiate",
    "anbieten": "offer", "vorstellen": "present introduce", "praesentieren": "present",
    "vorfuehren": "demo show", "empfehlen": "recommend", "beraten": "advise",
    # wanting, needing, helping
    "brauchen": "need", "benoetigen": "need", "wollen": "want", "moegen": "like", "wuenschen": "wish want",
    "verlangen": "demand", "fordern": "request", "beantragen": "apply request", "bitten": "ask",
    "fragen": "ask", "anfragen": "ask request", "helfen": "help", "unterstuetzen": "support help",
    "kuemmern": "take care handle", "uebernehmen": "take over", "weiterhelfen": "help",
    "verbinden": "connect", "durchstellen": "put through connect", "warten": "wait",
    "fortfahren": "continue", "weitermachen": "continue", "zurueckkehren": "return",
    "erreichen": "reach", "bekommen": "get", "erhalten": "receive get", "kriegen": "get",
    "zugreifen": "access", "einsehen": "view access", "behalten": "keep", "aufbewahren": "keep store",
    "verwenden": "use", "benutzen": "use", "nutzen": "use", "verarbeiten": "process", "bearbeiten": "process edit",
    # problems
    "funktionieren": "work", "klappen": "work", "laufen": "run", "gehen": "go work",
    "abstuerzen": "crash", "haengen": "hang freeze", "einfrieren": "freeze", "ausfallen": "fail go down",
    "fehlen": "miss", "scheitern": "fail", "versagen": "fail", "blockieren": "block",
    "einloggen": "log in", "anmelden": "log in sign in", "reinkommen": "get in log in",
    "zuruecksetzen": "reset", "freischalten": "unlock activate", "entsperren": "unlock",
    "laden": "load", "oeffnen": "open", "drucken": "print", "bezahlen": "pay", "zahlen": "pay",
    "abbuchen": "charge debit", "erstatten": "refund", "zurueckzahlen": "refund",
    "reklamieren": "complain", "beschweren": "complain", "aergern": "annoy", "stoeren": "disturb bother",
    "passieren": "happen", "auftreten": "occur", "erscheinen": "appear", "kommen": "come",
    # sales
    "verkaufen": "sell", "kaufen": "buy", "bestellen": "order", "unterschreiben": "sign",
    "gewinnen": "win", "verlieren": "lose", "kosten": "cost",
    "liefern": "deliver", "verlaengern": "extend renew", "erneuern": "renew", "upgraden": "upgrade",
    "qualifizieren": "qualify", "einschaetzen": "estimate", "schaetzen": "estimate", "prognostizieren": "forecast",
    "stehen": "stand", "liegen": "lie", "steigen": "rise", "sinken": "fall",
    # more everyday verbs
    "besichtigen": "visit inspect", "durchfuehren": "carry out do", "abhaken": "tick off done",
    "klicken": "click", "anklicken": "click", "verschlucken": "swallow lose", "sitzen": "sit work on",
    "bedienen": "operate use", "ausradieren": "erase", "radieren": "erase", "vorliegen": "have on file",
    "anonymisieren": "anonymize erase", "eingeben": "enter input", "ausfuellen": "fill in",
    "auswaehlen": "select", "waehlen": "choose", "entscheiden": "decide", "einstellen": "set configure",
    "konfigurieren": "configure", "installieren": "install", "aktivieren": "activate",
    "registrieren": "register", "verifizieren": "verify", "zustimmen": "agree consent",
    "einwilligen": "consent", "abonnieren": "subscribe", "mitteilen": "tell inform",
    "ankuendigen": "announce", "vorbereiten": "prepare", "ueberweisen": "transfer pay",
    "mahnen": "send payment reminder", "abrechnen": "bill invoice", "gutschreiben": "credit",
    "rausschicken": "send out", "nachreichen": "submit later", "versprechen": "promise",
    "abstimmen": "coordinate agree", "klaeren": "clarify resolve", "abklaeren": "clarify",
    "erkundigen": "inquire ask", "nachfragen": "ask follow up", "ueberlegen": "consider",
    "testen": "test", "ausprobieren": "try", "feststellen": "notice find", "bemerken": "notice",
    "merken": "remember note", "sehen": "see", "hoeren": "hear", "lesen": "read", "verstehen": "understand",
    "denken": "think", "glauben": "believe", "hoffen": "hope", "freuen": "be glad",
    "rausschmeissen": "throw out remove", "rauswerfen": "throw out remove", "wegmachen": "remove",
    "ausloggen": "log out", "einschalten": "switch on", "ausschalten": "switch off",
    # social
    "danken": "thank", "bedanken": "thank", "gruessen": "greet", "verabschieden": "say goodbye",
}  # fmt: skip

# Irregular forms of strong verbs (folded) -> the infinitive they belong to.
STRONG: dict[str, tuple[str, ...]] = {
    "nachschlagen": ("schlaegt", "schlug", "schlugen"), "nachsehen": ("sieh", "siehst", "sieht", "sah"),
    "ansehen": ("sieh", "sieht", "sah"), "einsehen": ("sieh", "sieht", "sah"),
    "aufrufen": ("rief", "riefen"), "anrufen": ("rief", "riefen"), "zurueckrufen": ("rief",),
    "sprechen": ("sprich", "spricht", "sprach", "sprachen"), "besprechen": ("besprich", "bespricht", "besprach"),
    "treffen": ("triff", "trifft", "traf", "trafen", "getroffen"), "schreiben": ("schrieb", "schrieben"),
    "anschreiben": ("schrieb",), "geben": ("gib", "gibst", "gibt", "gab"), "nehmen": ("nimm", "nimmt", "nahm"),
    "aufnehmen": ("nimm", "nimmt", "nahm", "aufgenommen"), "rausnehmen": ("nimm", "nimmt", "rausgenommen"),
    "uebernehmen": ("uebernimm", "uebernimmt", "uebernahm", "uebernommen"),
    "finden": ("fand", "fanden", "gefunden"), "vergessen": ("vergiss", "vergisst", "vergass"),
    "streichen": ("strich", "gestrichen"), "verwerfen": ("verwirf", "verwirft", "verwarf", "verworfen"),
    "wegwerfen": ("wirf", "wirft", "warf", "weggeworfen"), "abbrechen": ("brich", "bricht", "brach", "abgebrochen"),
    "schliessen": ("schloss", "geschlossen"), "abschliessen": ("schloss", "abgeschlossen"),
    "unterschreiben": ("unterschrieb", "unterschrieben"), "gewinnen": ("gewann", "gewonnen"),
    "verlieren": ("verlor", "verloren"), "bitten": ("bat", "gebeten"), "helfen": ("hilf", "hilft", "half", "geholfen"),
    "weiterhelfen": ("hilf", "hilft", "weitergeholfen"), "anbieten": ("bot", "angeboten"),
    "empfehlen": ("empfiehl", "empfiehlt", "empfahl", "empfohlen"), "erhalten": ("erhaelt", "erhielt"),
    "bekommen": ("bekam", "bekamen"), "kommen": ("kam", "kamen", "gekommen"), "gehen": ("ging", "gegangen"),
    "laufen": ("laeuft", "lief", "gelaufen"), "stehen": ("stand", "gestanden"), "liegen": ("lag", "gelegen"),
    "widerrufen": ("widerrief",), "zurueckziehen": ("zog", "zurueckgezogen"), "umziehen": ("zog", "umgezogen"),
    "verschieben": ("verschob", "verschoben"), "ueberschreiben": ("ueberschrieb", "ueberschrieben"),
    "beschreiben": ("beschrieb", "beschrieben"), "abstuerzen": ("abgestuerzt",),
    "einfrieren": ("fror", "eingefroren"), "ausfallen": ("faellt", "fiel", "ausgefallen"),
    "erscheinen": ("erschien", "erschienen"), "auftreten": ("tritt", "trat", "aufgetreten"),
    "verraten": ("verraet", "verriet"), "erfahren": ("erfaehrt", "erfuhr"), "wissen": ("weiss", "wusste", "gewusst"),
    "beraten": ("beraet", "beriet"), "durchgehen": ("ging", "durchgegangen"), "vorbeifahren": ("faehrt", "fuhr"),
    "einladen": ("laedt", "lud", "eingeladen"), "laden": ("laedt", "lud", "geladen"),
    "herunterladen": ("laedt", "lud", "heruntergeladen"), "hochladen": ("laedt", "lud", "hochgeladen"),
    "runterladen": ("laedt", "lud", "runtergeladen"), "verbinden": ("verband", "verbunden"),
    "behalten": ("behaelt", "behielt"), "festhalten": ("haelt", "hielt", "festgehalten"),
    "fortfahren": ("faehrt", "fuhr", "fortgefahren"), "beheben": ("behob", "behoben"),
    "steigen": ("stieg", "gestiegen"), "sinken": ("sank", "gesunken"),
    "unterhalten": ("unterhaelt", "unterhielt"),
}  # fmt: skip

SEPARABLE_PARTICLES: tuple[str, ...] = (
    "zurueck", "zusammen", "weiter", "vorbei", "heraus", "herunter", "runter", "hoch", "durch", "nach",
    "fest", "fort", "raus", "rein", "weg", "auf", "aus", "bei", "ein", "mit", "vor", "zu", "ab", "an", "um",
    "hinzu", "los", "her", "hin",
)  # fmt: skip
NOT_SEPARABLE = frozenset({"antworten", "abonnieren", "anonymisieren", "umarmen"})  # start with a particle's letters, are not separable
_INSEPARABLE = ("be", "emp", "ent", "er", "ge", "miss", "ver", "zer", "ueber", "unter", "hinter", "wider")
_CLAUSE_BREAK = frozenset({".", ",", "!", "?", ";", ":", "-", "–", "und", "oder", "aber", "dann", "dass", "weil", "wenn"})
_AFTER_PARTICLE = _CLAUSE_BREAK | {"bitte", "danke", "mal", "noch", "schnell", "heute", "morgen", "asap", "damit",
                                   "jetzt", "sofort"}


def _split(infinitive: str) -> tuple[str, str]:
    """(particle, base): ``anrufen`` -> ("an", "rufen"); ("", infinitive) when not separable."""
    if infinitive in NOT_SEPARABLE:
        return "", infinitive
    for particle in sorted(SEPARABLE_PARTICLES, key=len, reverse=True):  # "hinzu" before "hin"
        base = infinitive[len(particle):]
        if infinitive.startswith(particle) and len(base) >= 4 and base.endswith("n"):
            return particle, base
    return "", infinitive


def _stem(base: str) -> str:
    return base[:-2] if base.endswith("en") else base[:-1]


def _finite(base: str) -> list[str]:
    """Regular present/past/imperative forms of a base verb (``rufen`` -> ruf, rufe, rufst, ruft, ...)."""
    s = _stem(base)
    joint = "e" if s.endswith(("t", "d")) or (s.endswith(("m", "n")) and s[-2:-1] not in "aeioulrh") else ""
    forms = [s, s + "e", s + joint + "st", s + joint + "t", base, s + joint + "te", s + joint + "ten",
             s + joint + "test", s + joint + "tet"]
    if base.endswith(("ern", "eln")):  # aendern: aender, aendere, aenderst, aendert
        forms += [s + "e", s + "st", s + "t"]
    return forms


def _participles(base: str, inseparable: bool) -> list[str]:
    s = _stem(base)
    joint = "e" if s.endswith(("t", "d")) else ""
    if base.endswith("ieren") or inseparable:
        return [s + joint + "t", base]
    return ["ge" + s + joint + "t", "ge" + base]


def verb_forms() -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """({form: English} for joined forms, {(particle, form): English} for forms split from their particle)."""
    joined: dict[str, str] = {}
    split: dict[tuple[str, str], str] = {}
    for infinitive, english in VERBS.items():
        particle, base = _split(infinitive)
        inseparable = not particle and infinitive.startswith(_INSEPARABLE) and len(infinitive) > 6
        strong = STRONG.get(infinitive, ())
        whole = [f for f in strong if particle and f.startswith(particle)]  # aufgenommen, abgebrochen
        finite = _finite(base) + [f for f in strong if f not in whole]
        participles = _participles(base, inseparable)
        for form in (infinitive, *whole, *(particle + f for f in finite), *(particle + p for p in participles)):
            joined.setdefault(form, english)
        if particle:
            joined.setdefault(particle + "zu" + base, english)  # anzurufen
            for form in finite:
                split.setdefault((particle, form), english)
    return joined, split


def join_separable(folded: list[str], split: dict[tuple[str, str], str]) -> tuple[dict[int, str], set[int]]:
    """Separable verbs across a clause: {verb index: English} and the particle indices to drop.

    A particle counts only where it closes a clause ("ruf Anna morgen an", "schlag das bitte nach."),
    and the verb is the nearest form before it in the same clause that takes this particle.
    """
    verbs: dict[int, str] = {}
    particles: set[int] = set()
    for i, word in enumerate(folded):
        if word not in SEPARABLE_PARTICLES or i == 0:
            continue
        if i + 1 < len(folded) and folded[i + 1] not in _AFTER_PARTICLE:
            continue
        for j in range(i - 1, -1, -1):
            if folded[j] in _CLAUSE_BREAK:
                break
            english = split.get((word, folded[j]))
            if english is not None and j not in verbs:
                verbs[j] = english
                particles.add(i)
                break
    return verbs, particles
