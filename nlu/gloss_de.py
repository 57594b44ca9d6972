"""A word-by-word German -> English gloss, so the English-only sentence encoder can read German.

``gloss("Erinnere mich morgen, Frau Weber anzurufen")`` -> ``"remind me tomorrow , mrs weber to call"``.
No grammar, no word order: a hand-written lexicon of everyday and CRM words and a few phrases,
matched on folded text (lower case, umlauts spelled out), longest phrase first. Unknown words
(names, companies) pass through unchanged; an unknown compound whose tail is known becomes the
tail's gloss, with the head's gloss in front when that is known too ("Kundenbesuch" ->
"customer visit"). The lexicon is generic vocabulary, never copied from evaluation data.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from functools import lru_cache

from nlu.gloss_de_verbs import join_separable, verb_forms

_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})
_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)?|[^\w\s]", re.UNICODE)

# Phrases (folded, space-separated) -> English. Matched before single words, longest first.
PHRASES: dict[str, str] = {
    "erinnere mich": "remind me",
    "erinner mich": "remind me",
    "erinnere mich daran": "remind me to",
    "wie viele": "how many",
    "wie viel": "how much",
    "wieviele": "how many",
    "wieviel": "how much",
    "wie lange": "how long",
    "wie oft": "how often",
    "wie geht es": "how are you",
    "wie gehts": "how are you",
    "wie geht's": "how are you",
    "guten morgen": "good morning",
    "guten tag": "good day hello",
    "guten abend": "good evening",
    "gute nacht": "good night",
    "gruess gott": "hello",
    "gruess dich": "hello",
    "gruezi mitenand": "hello everyone",
    "auf wiedersehen": "goodbye",
    "auf wiederhoeren": "goodbye",
    "bis bald": "see you soon",
    "bis spaeter": "see you later",
    "bis morgen": "see you tomorrow",
    "schoenen tag": "have a nice day",
    "schoenes wochenende": "have a nice weekend",
    "vielen dank": "thank you very much",
    "danke schoen": "thank you",
    "danke sehr": "thank you",
    "merci vielmal": "thank you very much",
    "was kannst du": "what can you do",
    "was kann ich": "what can i",
    "was machst du": "what do you do",
    "wer bist du": "who are you",
    "echten menschen": "real human agent",
    "echter mensch": "real human agent",
    "echten mitarbeiter": "real human agent",
    "mit einem menschen": "with a human agent",
    "mit jemandem": "with someone",
    "nicht mehr": "no longer",
    "leb wohl": "farewell goodbye",
    "lebe wohl": "farewell goodbye",
    "man sieht sich": "see you goodbye",
    "bis dann": "see you then goodbye",
    "machs gut": "take care goodbye",
    "mach's gut": "take care goodbye",
    "uf widerluege": "goodbye",
    "tag auch": "hello",
    "auf gar keinen fall": "definitely not",
    "kommando zurueck": "cancel that",
    "lass gut sein": "never mind",
    "lasst das": "stop that",
    "lass das": "stop that",
    "keine mails mehr": "no more emails",
    "keine werbung": "no advertising",
    "zum newsletter": "to the newsletter",
    "vom newsletter": "from the newsletter",
    "lass es": "never mind",
    "vergiss es": "forget it never mind",
    "schon gut": "never mind",
    "passt so": "that's fine",
    "passt schon": "that's fine",
    "genau so": "exactly",
    "na klar": "of course",
    "auf jeden fall": "definitely",
    "auf keinen fall": "definitely not",
    "lieber nicht": "rather not",
    "doch nicht": "not after all",
    "nein danke": "no thanks",
    "ja bitte": "yes please",
    "ja genau": "yes exactly",
    "follow up": "follow up",
    "follow-up": "follow up",
    "to do": "to do",
    "to-do": "to do",
    "e mail": "email",
    "e-mail": "email",
    "in der pipeline": "in the pipeline",
    "was steht an": "what is due",
    "was liegt an": "what is due",
    "was ist offen": "what is open",
    "was gibt es neues": "what is new",
    "ueber mich": "about me",
    "meine daten": "my data",
    "meiner daten": "my data",
    "meinen daten": "my data",
    "personenbezogenen daten": "personal data",
    "personenbezogene daten": "personal data",
    "recht auf vergessenwerden": "right to be forgotten",
    "recht auf auskunft": "right of access",
    "geht nicht": "is not working",
    "funktioniert nicht": "is not working",
    "klappt nicht": "does not work",
    "laeuft nicht": "is not running",
    "ist kaputt": "is broken",
    "ist abgestuerzt": "crashed",
    "neuer kontakt": "new contact",
    "neuen kontakt": "new contact",
    "neue kontakt": "new contact",
    "neues ticket": "new ticket",
    "neuen deal": "new deal",
    "neue aufgabe": "new task",
    "neue nummer": "new number",
    "neue adresse": "new address",
    "neue telefonnummer": "new phone number",
    "neue e-mail": "new email",
    "neue email": "new email",
    "neue mail": "new email",
    "letzte woche": "last week",
    "letzten woche": "last week",
    "letzten monat": "last month",
    "diese woche": "this week",
    "dieser woche": "this week",
    "diesen monat": "this month",
    "naechste woche": "next week",
    "naechsten woche": "next week",
    "naechsten monat": "next month",
    "zuletzt gesprochen": "last spoke",
    "zuletzt kontakt": "last contact",
    "wann hatten wir": "when did we have",
    "wann haben wir": "when did we",
}

WORDS: dict[str, str] = {
    # -- pronouns, articles, function words ------------------------------------------------
    "ich": "i", "mich": "me", "mir": "me", "mein": "my", "meine": "my", "meinen": "my",
    "meinem": "my", "meiner": "my", "meines": "my", "du": "you", "dich": "you", "dir": "you",
    "dein": "your", "deine": "your", "deinen": "your", "er": "he", "ihn": "him", "ihm": "him",
    "sein": "his", "seine": "his", "seinen": "his", "sie": "you they", "ihr": "you her", "ihre": "her their",
    "ihren": "her their", "ihrer": "her their", "wir": "we", "uns": "us", "unser": "our",
    "unsere": "our", "unseren": "our", "euch": "you", "euer": "your", "eure": "your",
    "euren": "your", "eurem": "your", "es": "it", "man": "one", "jemand": "someone",
    "jemanden": "someone", "jemandem": "someone", "niemand": "nobody", "alle": "all",
    "allen": "all", "aller": "all", "alles": "everything", "nichts": "nothing", "nix": "nothing",
    "der": "the", "die": "the", "das": "the", "den": "the", "dem": "the", "des": "the",
    "ein": "a", "eine": "a", "einen": "a", "einem": "a", "einer": "a", "eines": "a",
    "nen": "a", "ne": "a", "kein": "no", "keine": "no", "keinen": "no", "keiner": "no",
    "dieser": "this", "diese": "this", "diesen": "this", "dieses": "this", "diesem": "this",
    "und": "and", "oder": "or", "aber": "but", "sondern": "but", "weil": "because",
    "dass": "that", "ob": "whether", "wenn": "if", "als": "as", "also": "so", "doch": "yet",
    "mit": "with", "ohne": "without", "fuer": "for", "fuers": "for the", "von": "from", "vom": "from the",
    "zu": "to", "zum": "to the", "zur": "to the", "bei": "at", "beim": "at the", "an": "at",
    "am": "on the", "auf": "on", "in": "in", "im": "in the", "ins": "into the", "aus": "from",
    "nach": "after", "vor": "before", "seit": "since", "bis": "until", "ueber": "about",
    "unter": "under", "gegen": "against", "wegen": "because of", "per": "by", "pro": "per",
    "statt": "instead of", "durch": "through", "um": "at", "ab": "from",
    "nicht": "not", "nie": "never", "noch": "still", "schon": "already", "auch": "also",
    "nur": "only", "mal": "just", "gerade": "just", "jetzt": "now", "sofort": "immediately",
    "gleich": "right away", "bald": "soon", "dann": "then", "immer": "always", "wieder": "again",
    "nochmal": "again", "mehr": "more", "sehr": "very", "zu viel": "too much", "ganz": "whole",
    "hier": "here", "da": "there", "dort": "there", "so": "so", "ja": "yes", "jo": "yes",
    "jep": "yep", "jawohl": "yes", "nein": "no", "nee": "no", "noe": "no",
    "bitte": "please", "gern": "gladly", "gerne": "gladly", "leider": "unfortunately",
    "eigentlich": "actually", "einfach": "just", "endlich": "finally", "genau": "exactly",
    "richtig": "correct", "korrekt": "correct", "falsch": "wrong", "stimmt": "right",
    "sicher": "sure", "klar": "sure", "ok": "ok", "okay": "okay", "passt": "fine",
    "insgesamt": "in total", "aktuell": "current", "aktuellen": "current", "offen": "open",
    "offene": "open", "offenen": "open", "alte": "old", "alten": "old", "neu": "new", "neue": "new",
    "neuen": "new", "neuer": "new", "neues": "new", "letzte": "last", "letzten": "last",
    "letzter": "last", "letztes": "last", "naechste": "next", "naechsten": "next",
    "naechster": "next", "erste": "first", "zweite": "second", "zweiten": "second",
    "andere": "other", "anderen": "other", "eigene": "own", "wichtig": "important",
    "dringend": "urgent", "hoch": "high", "hohe": "high", "niedrig": "low", "schnell": "quick",
    "kurz": "short", "lange": "long", "lang": "long", "gut": "good", "schlecht": "bad",
    "viel": "much", "viele": "many", "wenig": "few", "zwei": "two", "drei": "three",
    "vier": "four", "fuenf": "five",
    # -- question words -------------------------------------------------------------------
    "sich": "itself", "denn": "then", "her": "ago", "gibt's": "is there", "geht's": "goes",
    "wer": "who", "wen": "whom", "wem": "whom", "wessen": "whose", "was": "what", "wann": "when",
    "wo": "where", "wohin": "where", "woher": "where from", "wie": "how", "warum": "why",
    "wieso": "why", "weshalb": "why", "welche": "which", "welcher": "which", "welchen": "which",
    "welches": "which", "welchem": "which", "womit": "with what",
    # -- auxiliaries and common verbs -------------------------------------------------------
    "ist": "is", "sind": "are", "bin": "am", "bist": "are", "war": "was", "waren": "were",
    "wurde": "was", "wurden": "were", "worden": "been", "gewesen": "been", "wird": "will",
    "werden": "will", "hat": "has", "habe": "have", "hab": "have", "haben": "have",
    "hast": "have", "habt": "have", "hatte": "had", "hatten": "had", "haette": "would have",
    "gehabt": "had", "kann": "can", "kannst": "can", "koennen": "can", "koennt": "can",
    "koenntest": "could", "koennte": "could", "muss": "must", "musst": "must", "muessen": "must",
    "soll": "should", "sollte": "should", "will": "want", "willst": "want", "wollen": "want",
    "moechte": "would like", "moechten": "would like", "brauche": "need", "brauch": "need",
    "braucht": "needs", "brauchen": "need", "gibt": "there is", "gibts": "is there",
    "gab": "there was", "geben": "give", "gib": "give", "zeig": "show", "zeige": "show",
    "zeigen": "show", "zeigt": "shows", "sag": "tell", "sage": "tell", "sagen": "tell",
    "gesagt": "said", "mach": "make", "mache": "make", "machen": "make", "macht": "makes",
    "gemacht": "made", "tun": "do", "geht": "goes", "gehen": "go", "kommt": "comes",
    "komm": "come", "kommen": "come", "steht": "stands", "stehen": "stand", "liegt": "lies",
    "sehen": "see", "sieht": "looks", "weiss": "know", "wissen": "know", "finde": "find",
    "finden": "find", "gefunden": "found", "suche": "search", "such": "search", "suchen": "search",
    "bekommen": "get", "bekomme": "get", "kriege": "get", "lass": "let", "lassen": "let",
    "heisst": "is called", "lautet": "is", "arbeitet": "works", "arbeiten": "work",
    "gehoert": "belongs", "setz": "set", "setze": "set", "setzen": "set", "stell": "set",
    "stellen": "set", "trag": "enter", "trage": "enter", "tragen": "enter", "eintragen": "enter log",
    "nachtragen": "add log", "erfassen": "record", "erfasse": "record", "erfasst": "recorded",
    "festhalten": "note down", "halte": "hold", "vermerken": "note", "vermerk": "note",
    "notier": "note", "notiere": "note", "notieren": "note", "speichern": "save", "speicher": "save",
    "speichere": "save", "gespeichert": "stored", "gespeicherten": "stored",
    "anlegen": "create", "leg": "create", "lege": "create", "legen": "create", "angelegt": "created",
    "erstellen": "create", "erstelle": "create", "erstell": "create", "erstellt": "created",
    "hinzufuegen": "add", "fueg": "add", "fuege": "add", "hinzu": "add", "ergaenzen": "add",
    "ergaenze": "add", "aufnehmen": "add", "nimm": "take", "aendern": "change", "aendere": "change",
    "aender": "change", "geaendert": "changed", "aktualisieren": "update", "aktualisiere": "update",
    "aktualisiert": "updated", "korrigieren": "correct", "korrigiere": "correct",
    "ersetzen": "replace", "ersetze": "replace", "gewechselt": "changed", "wechseln": "change",
    "umgezogen": "moved", "verschieben": "move", "verschieb": "move", "verschoben": "moved",
    "loeschen": "delete", "loesche": "delete", "loesch": "delete", "loescht": "delete",
    "geloescht": "deleted", "loeschung": "deletion", "entfernen": "remove", "entferne": "remove",
    "entfernt": "removed", "streichen": "remove", "vergessen": "forget", "vergiss": "forget",
    "schliessen": "close", "schliess": "close", "schliesse": "close", "geschlossen": "closed",
    "zumachen": "close", "mach zu": "close", "abschliessen": "close", "abgeschlossen": "closed",
    "erledigt": "done", "erledigen": "do", "geloest": "solved", "behoben": "fixed",
    "geklaert": "resolved", "markieren": "mark", "markiere": "mark",
    "anrufen": "call", "anruf": "call", "anrufe": "calls", "angerufen": "called", "ruf": "call",
    "rufe": "call", "zurueckrufen": "call back", "rueckruf": "callback", "telefoniert": "called on the phone",
    "telefonieren": "phone", "telefonat": "phone call", "telefonate": "phone calls",
    "gesprochen": "spoke", "sprechen": "speak", "spreche": "speak", "rede": "talk",
    "reden": "talk", "geredet": "talked", "getroffen": "met", "treffen": "meet", "besucht": "visited",
    "besuch": "visit", "besuche": "visits", "besuchen": "visit", "gemailt": "emailed",
    "geschrieben": "wrote", "schreiben": "write", "schreib": "write", "schreibt": "writes",
    "geschickt": "sent", "schicken": "send", "schick": "send", "schickt": "send",
    "senden": "send", "sende": "send", "verschickt": "sent", "kontaktieren": "contact",
    "kontaktiert": "contacted", "nachfassen": "follow up", "melden": "report", "melde": "report",
    "meldet": "reports", "gemeldet": "reported", "erinnern": "remind", "erinnere": "remind",
    "erinner": "remind", "pruefen": "check", "pruef": "check", "checken": "check",
    "helfen": "help", "hilf": "help", "hilfst": "help", "geholfen": "helped",
    "verbinde": "connect", "verbinden": "connect", "weiterleiten": "forward",
    "abbrechen": "cancel", "abbruch": "cancel", "stopp": "stop", "stop": "stop", "halt": "stop",
    "zurueck": "back", "abmelden": "unsubscribe", "abbestellen": "unsubscribe",
    "austragen": "unsubscribe remove", "trag mich aus": "unsubscribe me",
    "kuendigen": "cancel", "abonniert": "subscribed", "einloggen": "log in", "loggen": "log",
    "geloggt": "logged", "anmelden": "log in", "exportieren": "export", "importieren": "import",
    "laedt": "loads", "laden": "load", "stuerzt": "crashes", "abgestuerzt": "crashed",
    "haengt": "hangs", "haengen": "hang", "bricht": "breaks", "funktioniert": "works",
    "klappt": "works", "laeuft": "runs", "lief": "went", "passiert": "happened",
    "fehlt": "missing", "kaufen": "buy", "kostet": "costs", "bestell": "order",
    "bestellen": "order", "bestellt": "ordered", "zugewiesen": "assigned", "zuweisen": "assign",
    "zuordnen": "assign", "gewonnen": "won", "verloren": "lost", "unterschrieben": "signed",
    "erzaehl": "tell", "erklaer": "explain", "erklaere": "explain", "wiederholen": "repeat",
    "warte": "waiting", "warten": "wait", "danke": "thanks", "dank": "thanks", "merci": "thanks",
    "bearbeitet": "processed", "bestaetigt": "confirmed", "verlange": "demand", "fordere": "request",
    # -- greetings and small talk ---------------------------------------------------------
    "hallo": "hello", "hi": "hi", "hey": "hey", "servus": "hello", "moin": "hello",
    "gruezi": "hello", "gruess": "greet", "gott": "god", "tach": "hello", "tschuess": "bye",
    "tschau": "bye", "ciao": "bye", "adieu": "bye", "ade": "bye", "pfiat": "bye", "baba": "bye",
    "wiedersehen": "goodbye", "feierabend": "end of work", "mahlzeit": "hello",
    "witz": "joke", "wetter": "weather", "rezept": "recipe", "flug": "flight", "hotel": "hotel",
    "fussball": "football", "essen": "food", "film": "movie", "musik": "music",
    # -- time -------------------------------------------------------------------------------
    "heute": "today", "morgen": "tomorrow", "gestern": "yesterday", "uebermorgen": "day after tomorrow",
    "vorgestern": "day before yesterday", "heuer": "this year", "vorhin": "earlier",
    "zuletzt": "last", "frueh": "early", "spaeter": "later", "abend": "evening",
    "mittag": "noon", "nachmittag": "afternoon", "vormittag": "morning", "woche": "week",
    "wochen": "weeks", "wochenende": "weekend", "monat": "month", "monats": "month",
    "monate": "months", "jahr": "year", "jahres": "year", "quartal": "quarter", "quartals": "quarter",
    "tag": "day", "tage": "days", "tagen": "days", "uhr": "o'clock", "stunde": "hour",
    "montag": "monday", "dienstag": "tuesday", "mittwoch": "wednesday", "donnerstag": "thursday",
    "freitag": "friday", "samstag": "saturday", "sonntag": "sunday", "januar": "january",
    "jaenner": "january", "februar": "february", "maerz": "march", "april": "april", "mai": "may",
    "juni": "june", "juli": "july", "august": "august", "september": "september",
    "oktober": "october", "november": "november", "dezember": "december", "ende": "end",
    "anfang": "start", "mitte": "middle", "faellig": "due", "ueberfaellig": "overdue",
    "frist": "deadline", "datum": "date", "zeit": "time", "dauert": "takes long",
    # -- CRM nouns --------------------------------------------------------------------------
    "kontakt": "contact", "kontakte": "contacts", "kontakten": "contacts",
    "kontaktdaten": "contact details", "ansprechpartner": "contact person",
    "ansprechpartnerin": "contact person", "person": "person", "personen": "people",
    "kunde": "customer", "kunden": "customer", "kundin": "customer", "firma": "company",
    "firmen": "companies", "unternehmen": "company", "organisation": "organization",
    "frau": "ms", "herr": "mr", "herrn": "mr", "kollege": "colleague", "kollegen": "colleague",
    "kollegin": "colleague", "chef": "boss", "chefin": "boss", "team": "team",
    "mitarbeiter": "employee staff", "mitarbeiterin": "employee staff", "mensch": "human",
    "menschen": "human", "echten": "real", "echter": "real", "echte": "real",
    "berater": "agent advisor", "beraterin": "agent advisor", "support": "support",
    "techniker": "technician", "vertrieb": "sales", "vertriebler": "sales rep",
    "geschaeftsfuehrer": "ceo managing director", "einkaufsleiter": "head of purchasing",
    "einkauf": "purchasing", "position": "position", "titel": "title", "rolle": "role",
    "name": "name", "namen": "name", "nachname": "last name", "nachnamen": "last name",
    "vorname": "first name", "adresse": "address", "anschrift": "address",
    "rechnungsadresse": "billing address", "telefonnummer": "phone number",
    "handynummer": "mobile number", "festnetznummer": "landline number", "durchwahl": "extension",
    "nummer": "number", "handy": "mobile", "telefon": "phone", "mail": "email", "mails": "emails",
    "email": "email", "emails": "emails", "webseite": "website", "website": "website",
    "visitenkarte": "business card", "profil": "profile", "notiz": "note", "notizen": "notes",
    "aktivitaet": "activity", "aktivitaeten": "activities", "verlauf": "history",
    "historie": "history", "gespraech": "conversation", "gespraeche": "conversations",
    "termin": "appointment meeting", "termine": "appointments meetings", "meeting": "meeting",
    "besprechung": "meeting", "aufgabe": "task", "aufgaben": "tasks", "todo": "todo",
    "todos": "todos", "erinnerung": "reminder", "wiedervorlage": "follow up reminder",
    "angebot": "quote offer", "angebote": "quotes", "offerte": "quote offer", "auftrag": "order",
    "vertrag": "contract", "abschluss": "closing deal", "abschlussdatum": "close date",
    "verkaufschance": "sales opportunity", "chance": "opportunity", "geschaeft": "deal business",
    "verhandlung": "negotiation", "phase": "stage", "stufe": "stage", "stand": "status",
    "status": "status", "wahrscheinlichkeit": "probability", "betrag": "amount", "wert": "value",
    "volumen": "volume", "umsatz": "revenue", "summe": "sum", "rabatt": "discount",
    "preis": "price", "preise": "prices", "budget": "budget", "prognose": "forecast",
    "qualifiziert": "qualified", "angebotsphase": "proposal stage", "gewinn": "win",
    "rechnung": "invoice", "rechnungen": "invoices", "zahlung": "payment", "lizenzen": "licenses",
    "ticket": "ticket", "tickets": "tickets", "anfrage": "request", "anfragen": "requests",
    "supportanfrage": "support request", "vorgang": "case", "fall": "case", "meldung": "report",
    "fehlermeldung": "error message", "fehler": "error bug", "problem": "problem",
    "probleme": "problems", "stoerung": "outage", "absturz": "crash", "reklamation": "complaint",
    "beschwerde": "complaint", "prioritaet": "priority", "loesung": "solution",
    "rueckmeldung": "feedback reply", "antwort": "answer", "zugang": "access", "zugriff": "access",
    "passwort": "password", "konto": "account", "benutzer": "user", "anmeldung": "login",
    "daten": "data", "datensatz": "record", "eintrag": "entry", "datei": "file", "kopie": "copy",
    "auskunft": "information access request", "einwilligung": "consent", "dsgvo": "gdpr",
    "datenschutz": "data protection privacy", "newsletter": "newsletter", "werbung": "advertising",
    "werbemails": "marketing emails", "verteiler": "mailing list", "liste": "list",
    "uebersicht": "overview", "ueberblick": "overview", "bericht": "report", "auswertung": "report",
    "statistik": "statistics", "anzahl": "number count", "zahlen": "numbers", "schnitt": "average",
    "hilfe": "help", "frage": "question", "fragen": "questions", "funktionen": "features",
    "anleitung": "guide", "einstellungen": "settings", "system": "system", "sachen": "things",
    "thema": "topic", "info": "info", "infos": "info", "unterlagen": "documents", "muehe": "effort", "gutschrift": "credit note",
    "reservier": "reserve", "reservieren": "reserve", "tisch": "table", "sortiert": "sorted",
    # -- more everyday and business vocabulary ------------------------------------------------
    "besichtigung": "visit inspection", "filiale": "branch", "filialen": "branches", "standort": "site location",
    "zentrale": "headquarters", "niederlassung": "branch office", "inhaber": "owner", "inhaberin": "owner",
    "geschaeftsfuehrerin": "managing director",         "vorgeschichte": "history", "chronologie": "chronology history",
    "zeitstrahl": "timeline history", "bisher": "so far", "bisherige": "previous", "bisherigen": "previous",
    "hinweis": "notice reminder", "hinweise": "notices", "punkt": "item point", "punkte": "items points",
    "eingabe": "input", "eingaben": "inputs", "version": "version", "update": "update", "filter": "filter",
    "unterstuetzung": "support help", "handbuch": "manual guide", "dokumentation": "documentation",
    "tutorial": "tutorial", "schulung": "training", "einfuehrung": "introduction", "tour": "tour",
    "tarif": "plan pricing", "tarife": "plans pricing", "paket": "package plan", "abo": "subscription",
    "abonnement": "subscription", "laufzeit": "term duration", "kuendigung": "cancellation",
    "angabe": "detail", "angaben": "details information", "information": "information",
    "informationen": "information", "vernichtung": "destruction deletion", "anonymisierung": "anonymization",
    "werbe": "advertising", "kommando": "command", "befehl": "command", "recht": "right", "rechte": "rights",
    "rechten": "rights", "berechtigung": "permission", "berechtigungen": "permissions",
    "weitere": "further", "weiteren": "further", "weiterer": "further", "kurze": "short", "kurzen": "short",
    "gar": "at all", "drin": "inside included", "weg": "gone away", "sobald": "as soon as",
    "samt": "together with", "inklusive": "including", "unkenntlich": "unrecognizable anonymous",
    "vollstaendig": "complete", "komplett": "complete", "saemtliche": "all", "jede": "every", "jeder": "every",
    "jedes": "every", "irgendwas": "something", "irgendwie": "somehow", "bereits": "already",
    "inzwischen": "meanwhile", "mittlerweile": "by now", "ausserdem": "also", "zusaetzlich": "additionally",
    "trotzdem": "still", "damit": "with it", "darum": "about it", "davon": "of it", "dafuer": "for it",
    "nei": "no", "naa": "no", "na": "well", "ned": "not", "net": "not", "seas": "hello", "servas": "hello",
    "hoi": "hello", "sali": "hello", "gruessech": "hello", "griass": "hello", "adele": "bye",
    "sache": "thing", "ding": "thing", "knopf": "button", "schaltflaeche": "button",
    "seite": "page", "bildschirm": "screen", "app": "app", "browser": "browser",
    "zugangsdaten": "login credentials", "kennwort": "password", "benutzername": "username",
    "fehlercode": "error code", "ausfall": "outage", "wartung": "maintenance", "verzoegerung": "delay",
    "lieferung": "delivery", "bestellung": "order", "mahnung": "payment reminder", "gebuehr": "fee",
    "gebuehren": "fees", "kosten": "costs", "erstattung": "refund", "rueckerstattung": "refund",
    "gutschein": "voucher", "lastschrift": "direct debit", "ueberweisung": "bank transfer",
}  # fmt: skip

_MAX_PHRASE = max(len(p.split()) for p in (*PHRASES, *WORDS))
_LEXICON: dict[tuple[str, ...], str] = {tuple(k.split()): v for k, v in WORDS.items()}
_LEXICON.update({tuple(k.split()): v for k, v in PHRASES.items()})
_VERB_FORMS, _SPLIT_VERBS = verb_forms()
for _form, _english in _VERB_FORMS.items():  # hand-written words win over generated verb forms
    _LEXICON.setdefault((_form,), _english)
# Changes with the lexicon: models trained on an older gloss are retrained (training_data.content_hash).
GLOSS_FINGERPRINT = hashlib.sha256(
    repr((sorted(_LEXICON.items()), sorted(_SPLIT_VERBS.items()))).encode()
).hexdigest()[:16]
_MIN_HEAD = 4
_MIN_TAIL = 5
_MIN_TAIL_AFTER_KNOWN_HEAD = 4  # "Monats|ende": a short tail counts when the head is a known word
_LINKERS = ("s", "n", "en", "es", "e")


def gloss_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """False when ``CRM_GERMAN_GLOSS`` is 0/false/no: a multilingual encoder reads German itself."""
    env = os.environ if environ is None else environ
    return env.get("CRM_GERMAN_GLOSS", "1").strip().lower() not in ("0", "false", "no")


def fingerprint() -> str:
    """What the encoder's view of German depends on: the lexicon, or that there is no gloss."""
    return GLOSS_FINGERPRINT if gloss_enabled() else "no-gloss"


def fold(word: str) -> str:
    return word.lower().translate(_FOLD)


@lru_cache(maxsize=8192)
def gloss_word(word: str) -> str | None:
    """The English for one folded word, splitting unknown compounds; None when unknown."""
    known = _LEXICON.get((word,))
    if known is not None:
        return known
    if len(word) < _MIN_HEAD + _MIN_TAIL_AFTER_KNOWN_HEAD or not word.isalpha():
        return None
    best: tuple[tuple[bool, bool, int], str] | None = None
    for cut in range(_MIN_HEAD, len(word) - _MIN_TAIL_AFTER_KNOWN_HEAD + 1):
        tail = _LEXICON.get((word[cut:],))
        if tail is None:
            continue
        head = word[:cut]
        front, linked = _LEXICON.get((head,)), False
        for linker in _LINKERS:
            if head.endswith(linker) and len(head) - len(linker) >= _MIN_HEAD:
                bare = _LEXICON.get((head[: -len(linker)],))
                if bare is not None:
                    front, linked = front or bare, True
                    break
        if front is None and len(word) - cut < _MIN_TAIL:
            continue
        # A known head beats an unknown one, a head joined by a linker ("Monats|ende") beats a bare one
        # ("Monat|sende"), and then the longer tail wins.
        score = (front is not None, linked, len(word) - cut)
        if best is None or score > best[0]:
            best = (score, f"{front} {tail}" if front else tail)
    return best[1] if best else None


def gloss(text: str) -> str:
    """Word-by-word English for German ``text``; unknown words are kept (lower-cased)."""
    tokens = _TOKEN.findall(text)
    folded = [fold(t) for t in tokens]
    verbs, particles = join_separable(folded, _SPLIT_VERBS)  # "ruf sie morgen an" -> call ... (an dropped)
    out: list[str] = []
    i = 0
    while i < len(tokens):
        if i in particles:
            i += 1
            continue
        if i in verbs:
            out.append(verbs[i])
            i += 1
            continue
        for n in range(min(_MAX_PHRASE, len(tokens) - i), 1, -1):
            if any(j in verbs or j in particles for j in range(i, i + n)):
                continue
            phrase = _LEXICON.get(tuple(folded[i : i + n]))
            if phrase is not None:
                out.append(phrase)
                i += n
                break
        else:
            out.append(gloss_word(folded[i]) or tokens[i].lower())
            i += 1
    return " ".join(out)


def encoder_text(text: str, language: str) -> str:
    """What the sentence encoder reads: the gloss for German (unless CRM_GERMAN_GLOSS=0), else the text."""
    return gloss(text) if language == "de" and gloss_enabled() else text
