"""Entity substitution for NER training: the same sentences with other names in them.

A blank spaCy NER trained on a few hundred annotated names learns the names, not the contexts they
stand in ("called ___ from ___"): on names it has never seen its recall halves. ``augment`` adds copies
of the annotated examples whose person, organisation and job-title spans are replaced by generated
ones: mostly from ``nlu.names`` (people, firms and titles across the DACH region, the Nordic countries,
Poland, Italy, the UK and the US, in many shapes), sometimes from the small pools below, some of them
lower-cased or in capitals the way reps type. Every other entity stays; offsets are shifted. The pools
are everyday vocabulary, never taken from evaluation data.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace

from nlu import names
from nlu.training_data import TrainingExample
from nlu.types import Entity

FIRST_NAMES: tuple[str, ...] = (
    "Anna", "Lena", "Sophie", "Marie", "Laura", "Julia", "Katharina", "Sabine", "Petra", "Ursula",
    "Monika", "Claudia", "Birgit", "Heike", "Jana", "Nina", "Mia", "Emma", "Lea", "Hanna", "Greta",
    "Ida", "Elif", "Ayşe", "Zeynep", "Fatma", "Mehmet", "Emre", "Can", "Murat", "Ivana", "Marta",
    "Agnieszka", "Katarzyna", "Milena", "Jelena", "Dragan", "Luka", "Tomasz", "Piotr", "Jan", "Lukas",
    "Felix", "Jonas", "Leon", "Paul", "Maximilian", "Stefan", "Thomas", "Michael", "Andreas", "Markus",
    "Jürgen", "Klaus", "Wolfgang", "Dieter", "Uwe", "Horst", "Günther", "Sebastian", "Tobias", "Florian",
    "Matthias", "Reto", "Urs", "Beat", "Ruedi", "Seppi", "Franz", "Xaver", "Vreni", "Heidi", "Luca",
    "Giulia", "Marco", "Chiara", "Pierre", "Camille", "Élodie", "Julien", "James", "John", "Robert",
    "Mary", "Patricia", "Jennifer", "Linda", "David", "William", "Richard", "Susan", "Jessica", "Sarah",
    "Karen", "Daniel", "Matthew", "Emily", "Olivia", "Liam", "Noah", "Priya", "Raj", "Wei", "Mei",
    "Kenji", "Yuki", "Carlos", "María", "José", "Lucía", "Ahmed", "Fatima", "Omar", "Sven", "Björn",
    "Ingrid", "Astrid", "Niamh", "Siobhan", "Hans-Peter", "Karl-Heinz", "Anne-Marie",
)  # fmt: skip

LAST_NAMES: tuple[str, ...] = (
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz",
    "Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder", "Neumann",
    "Schwarz", "Zimmermann", "Braun", "Krüger", "Hofmann", "Hartmann", "Lange", "Schmitt", "Werner",
    "Krause", "Meier", "Lehmann", "Köhler", "Huber", "Gruber", "Pichler", "Steiner", "Moser", "Mayer",
    "Hofer", "Leitner", "Berger", "Fuchs", "Eder", "Fischbacher", "Brunner", "Gerber", "Keller",
    "Baumgartner", "Frei", "Widmer", "Zürcher", "Bühler", "Stöckli", "Yılmaz", "Kaya", "Demir", "Şahin",
    "Çelik", "Öztürk", "Kowalski", "Nowak", "Wiśniewski", "Horvat", "Kovačević", "Petrović", "Novak",
    "Rossi", "Bianchi", "Dubois", "Lefèvre", "García", "Fernández", "Smith", "Johnson", "Williams",
    "Brown", "Jones", "Miller", "Davis", "Wilson", "Taylor", "Anderson", "Thomas", "Moore", "Martin",
    "Thompson", "White", "Clark", "Lewis", "O'Brien", "McCarthy", "Nguyen", "Chen", "Wang", "Tanaka",
    "Sato", "Kumar", "Patel", "Singh", "Hansen", "Johansson", "Andersson", "van der Berg", "de Vries",
    "von Arnim", "Graf", "Vogel", "Jäger", "Sommer", "Winter", "Brandt", "Haas", "Schuster", "Roth",
    "Lorenz", "Ludwig", "Peters", "Kraus", "Böhm", "Frank", "Albrecht", "Simon", "Franke", "Busch",
)  # fmt: skip

TITLES_EN: tuple[str, ...] = ("Mr", "Mrs", "Ms", "Dr.", "Mr.", "Ms.", "Prof.")
TITLES_DE: tuple[str, ...] = ("Herr", "Frau", "Hr.", "Fr.", "Dr.", "Herrn", "Prof.")

ORG_STEMS: tuple[str, ...] = (
    "Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay", "Nordwind",
    "Alpenblick", "Bergmann", "Sonnenschein", "Rheintal", "Donau", "Elbe", "Isar", "Zugspitze",
    "Edelweiss", "Hanse", "Brückner", "Lindner", "Kessler", "Hagedorn", "Steinbach", "Weißhorn",
    "Blaufeld", "Grünwald", "Silbermann", "Falkenstein", "Adler", "Löwen", "Kranich", "Phoenix",
    "Orion", "Vega", "Atlas", "Helix", "Quantum", "Nexus", "Vertex", "Pinnacle", "Summit", "Bluewave",
    "Redstone", "Greenfield", "Ironbridge", "Silverline", "Brightpath", "Northstar", "Westend",
    "Tiroler", "Wiener", "Zürcher", "Berner", "Münchner", "Hamburger", "Kölner", "Sächsische",
    "Bayerische", "Schwäbische", "Thermo", "Medi", "Agro", "Techno", "Bau", "Logi", "Data", "Cloud",
)  # fmt: skip
ORG_MIDDLES: tuple[str, ...] = (
    "", "", "", " Solutions", " Systems", " Logistik", " Maschinenbau", " Software", " Pharma", " Bau",
    " Consulting", " Energie", " Holding", " Technologies", " Industries", " Medical", " Versicherung",
    " Immobilien", " Handels", " Werke", " Digital", " Labs", " Group", " Partners", " Textil", " Foods",
)  # fmt: skip
ORG_FORMS: tuple[str, ...] = (
    "", "", "", " GmbH", " GmbH", " AG", " AG", " KG", " GmbH & Co. KG", " SE", " e.V.", " Ltd.",
    " Ltd", " Inc.", " Inc", " Corp.", " LLC", " plc", " S.A.", " B.V.", " OG", " Sàrl",
)  # fmt: skip

COPIES = 3  # augmented copies per annotated example
LOWER_SHARE = 0.25  # of the copies, how many get their names lower-cased
GENERATED_SHARE = 0.75  # of the substituted names, how many come from nlu.names (the rest: pools below)
SUBSTITUTED = ("person", "organization", "job_title")


def random_person(rng: random.Random, language: str) -> str:
    if rng.random() < GENERATED_SHARE:
        return names.person_name(rng, language)
    shape = rng.random()
    last = rng.choice(LAST_NAMES)
    if shape < 0.6:
        return f"{rng.choice(FIRST_NAMES)} {last}"
    if shape < 0.8:
        titles = TITLES_DE if language == "de" else TITLES_EN
        return f"{rng.choice(titles)} {last}"
    if shape < 0.9:
        return rng.choice(FIRST_NAMES)
    return last


def random_organization(rng: random.Random, language: str = "en") -> str:
    if rng.random() < GENERATED_SHARE:
        return names.organization_name(rng, language)
    return f"{rng.choice(ORG_STEMS)}{rng.choice(ORG_MIDDLES)}{rng.choice(ORG_FORMS)}"


def substitute(example: TrainingExample, rng: random.Random, *, lower: bool = False) -> TrainingExample:
    """``example`` with every person and organisation span replaced; other spans shifted."""
    pieces: list[str] = []
    entities: list[Entity] = []
    pos = shift = 0
    for ent in sorted(example.entities, key=lambda e: (e.start, e.end)):
        if ent.start < pos:  # overlapping annotation: keep the text, drop the overlap
            continue
        pieces.append(example.text[pos : ent.start])
        surface = example.text[ent.start : ent.end]
        if ent.entity == "person":
            new = names.restyle(random_person(rng, example.language), rng, lower=0.0)
        elif ent.entity == "organization":
            new = names.restyle(random_organization(rng, example.language), rng, lower=0.0, upper=0.08)
        elif ent.entity == "job_title" and ent.value == surface:
            new = names.job_title(rng, example.language)
        else:
            new = surface
        replaced = ent.entity in ("person", "organization") or (
            ent.entity == "job_title" and ent.value == surface
        )
        if lower and replaced:
            new = new.lower()
        start = ent.start + shift
        value = new if replaced else ent.value
        entities.append(replace(ent, value=value, start=start, end=start + len(new)))
        shift += len(new) - len(surface)
        pieces.append(new)
        pos = ent.end
    pieces.append(example.text[pos:])
    return replace(example, text="".join(pieces), entities=entities)


def augment(
    examples: Sequence[TrainingExample], *, copies: int = COPIES, seed: int = 0
) -> list[TrainingExample]:
    """The examples plus ``copies`` substituted versions of each one that names a person or company."""
    rng = random.Random(seed)
    out = list(examples)
    for ex in examples:
        if not any(e.entity in SUBSTITUTED for e in ex.entities):
            continue
        for _ in range(copies):
            out.append(substitute(ex, rng, lower=rng.random() < LOWER_SHARE))
    return out


__all__ = ["augment", "random_organization", "random_person", "substitute"]
