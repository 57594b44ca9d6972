"""Realistic name generators for NER training: people, organisations and job titles.

A blank NER learns whatever the training names have in common. With a few hundred annotated names it
learns those names; with thousands of generated ones it learns the shapes that carry over to names it has
never seen: "Surname Branch GmbH", "Surname & Surname", "X und Y", hyphenated and double-barrelled names,
umlauts and other diacritics, legal forms of the DACH region, the Nordic countries, Poland, Italy, the
UK and the US, names that are also common words ("Kompass", "Maple"), written lower-case or in capitals.

Every pool here is everyday vocabulary (frequent first and last names per region, trade words, places,
legal forms); nothing is taken from evaluation data. ``LEGAL_FORMS`` is also what the entity clean-up
(``nlu.ner``) uses to end an organisation at its legal form.
"""

from __future__ import annotations

import random
import re

# ---------------------------------------------------------------- people

FIRST_NAMES: dict[str, tuple[str, ...]] = {
    "dach": (
        "Anneliese", "Bärbel", "Brigitte", "Christa", "Dagmar", "Elke", "Erika", "Frauke", "Gabriele",
        "Gudrun", "Hannelore", "Ilse", "Karin", "Kerstin", "Lieselotte", "Margarete", "Renate", "Rosemarie",
        "Silke", "Ulrike", "Waltraud", "Annika", "Charlotte", "Clara", "Emilia", "Franziska", "Johanna",
        "Luisa", "Mathilda", "Theresa", "Valentina", "Veronika", "Antje", "Imke", "Tjorven", "Svenja",
        "Adalbert", "Bernd", "Burkhard", "Detlef", "Eberhard", "Egon", "Friedhelm", "Gerhard", "Gottfried",
        "Hartmut", "Heinrich", "Helmut", "Hubert", "Joachim", "Konrad", "Leopold", "Manfred", "Norbert",
        "Reinhard", "Rolf", "Siegfried", "Ulrich", "Volker", "Werner", "Alois", "Anton", "Benedikt",
        "Bastian", "Dominik", "Fabian", "Henrik", "Jannik", "Kilian", "Lorenz", "Malte", "Moritz", "Niklas",
        "Oskar", "Quirin", "Severin", "Till", "Valentin", "Wilhelm", "Jörg", "Björn", "Sönke", "Gökhan",
        "Hans-Jürgen", "Eva-Maria", "Marie-Luise", "Karl-Otto", "Ann-Kathrin", "Jan-Hendrik",
    ),
    "nordic": (
        "Astrid", "Solveig", "Sigrid", "Ingrid", "Liv", "Kari", "Tone", "Hilde", "Randi", "Signe", "Maja",
        "Freja", "Linnea", "Elsa", "Ebba", "Aino", "Aili", "Tuula", "Päivi", "Kaisa", "Guðrún", "Katrín",
        "Åse", "Birgitta", "Karoline", "Nora", "Ida", "Anders", "Håkon", "Magnus", "Olav", "Knut", "Lars",
        "Nils", "Per", "Torbjørn", "Trond", "Eirik", "Gunnar", "Leif", "Rune", "Sindre", "Stig", "Ulf",
        "Vidar", "Mikael", "Johan", "Fredrik", "Gustav", "Axel", "Mattias", "Pekka", "Juha", "Timo",
        "Ville", "Antti", "Heikki", "Mikko", "Sami", "Jón", "Sigurður", "Ólafur", "Søren", "Jesper",
        "Rasmus", "Mads", "Kasper",
    ),
    "pl": (
        "Agata", "Aleksandra", "Anna", "Barbara", "Beata", "Dorota", "Ewa", "Grażyna", "Joanna", "Justyna",
        "Karolina", "Małgorzata", "Monika", "Natalia", "Renata", "Zofia", "Żaneta", "Adam", "Andrzej",
        "Bartłomiej", "Grzegorz", "Jacek", "Jakub", "Krzysztof", "Łukasz", "Maciej", "Marcin", "Marek",
        "Mariusz", "Michał", "Paweł", "Rafał", "Sławomir", "Stanisław", "Szymon", "Wojciech", "Zbigniew",
    ),
    "it": (
        "Alessandra", "Alessia", "Beatrice", "Caterina", "Elisa", "Francesca", "Ilaria", "Lucia", "Martina",
        "Paola", "Roberta", "Serena", "Silvia", "Simona", "Alberto", "Alessandro", "Andrea", "Antonio",
        "Davide", "Emanuele", "Enrico", "Fabio", "Giacomo", "Gianluca", "Giorgio", "Giuseppe", "Lorenzo",
        "Massimo", "Matteo", "Nicola", "Paolo", "Riccardo", "Roberto", "Salvatore", "Stefano", "Vincenzo",
    ),
    "en": (
        "Abigail", "Alison", "Amanda", "Bethany", "Chloe", "Deborah", "Eleanor", "Fiona", "Gemma", "Hannah",
        "Harriet", "Imogen", "Jacqueline", "Katherine", "Lauren", "Megan", "Natalie", "Philippa", "Rachel",
        "Rebecca", "Shannon", "Tabitha", "Victoria", "Zoe", "Aidan", "Alistair", "Benjamin", "Callum",
        "Christopher", "Connor", "Declan", "Edward", "Gareth", "Graham", "Harrison", "Hugh", "Jack",
        "Jonathan", "Kieran", "Malcolm", "Nathaniel", "Nigel", "Oliver", "Patrick", "Rhys", "Rupert",
        "Samuel", "Stuart", "Trevor", "Tyler", "Wesley", "Brandon", "Dwayne", "Marcus", "DeShawn", "Kayla",
        "Brittany", "Madison", "Cody", "Chad", "Siobhán", "Aoife", "Ciarán", "Eoin", "Mary-Kate",
    ),
    "other": (
        "Ayla", "Derya", "Esra", "Gül", "Leyla", "Selin", "Burak", "Cem", "Hakan", "Kerem", "Oğuz", "Tarık",
        "Ana", "Inés", "Pilar", "Rocío", "Alejandro", "Diego", "Javier", "Sergio", "João", "Inês", "Amélie",
        "Céline", "Hélène", "Mathieu", "Olivier", "Thibault", "Anouk", "Femke", "Sanne", "Bram", "Joost",
        "Ruben", "Nikola", "Milan", "Zoran", "Snežana", "Dragana", "Bogdan", "Irina", "Olga", "Dmytro",
        "Oksana", "Anh", "Minh", "Jing", "Hiroshi", "Aiko", "Arjun", "Ananya", "Kwame", "Amina", "Youssef",
    ),
}  # fmt: skip

LAST_NAMES: dict[str, tuple[str, ...]] = {
    "dach": (
        "Ackermann", "Adam", "Arnold", "Baumann", "Beck", "Bergmann", "Böttcher", "Dietrich", "Engel",
        "Ernst", "Feldmann", "Friedrich", "Geiger", "Götz", "Hahn", "Heinrich", "Herrmann",
        "Horn", "Jansen", "Kaiser", "Kästner", "Kühn", "Kuhn", "Lang", "Lindemann", "Löffler", "Maurer",
        "Mertens", "Möller", "Nagel", "Oswald", "Otto", "Pohl", "Rößler", "Sauer", "Scholz",
        "Thiele", "Vogt", "Voigt", "Walter", "Weiß", "Winkler", "Ziegler", "Zimmer", "Dörfler",
        "Hämmerle", "Grünberger", "Oberhuber", "Aigner", "Wimmer", "Brandstätter", "Egger", "Ebner",
        "Hinterberger", "Lechner", "Reiter", "Stadler", "Wallner", "Zoller", "Ammann", "Bachmann",
        "Bosshard", "Fankhauser", "Hürlimann", "Küng", "Schürch", "Tanner", "Wüthrich", "Zwahlen",
        "Osterkamp", "Petersen", "Ruhnke", "Tammen", "Westphal", "Dreyer", "Heinemann", "Kowalewski",
        "Schulze-Wessel", "Meyer-Landrut", "Müller-Thurgau", "von Bülow", "von der Heide", "zu Dohna",
    ),
    "nordic": (
        "Berg", "Dahl", "Eriksen", "Haugen", "Johansen", "Karlsen", "Larsen", "Lie", "Moen", "Nilsen",
        "Pedersen", "Strand", "Tangen", "Bakken", "Lund", "Holm", "Lindqvist", "Sjöberg", "Bergström",
        "Nyström", "Lindberg", "Åberg", "Engström", "Ekström", "Forsberg", "Hedlund", "Söderberg",
        "Virtanen", "Mäkinen", "Nieminen", "Mäkelä", "Hämäläinen", "Laine", "Heikkinen", "Koskinen",
        "Järvinen", "Lehtonen", "Jónsson", "Guðmundsson", "Sigurðsson", "Kristensen", "Mortensen",
        "Jørgensen", "Østergaard", "Bækgaard",
    ),
    "pl": (
        "Wójcik", "Kowalczyk", "Kamiński", "Lewandowski", "Zając", "Szymański", "Woźniak", "Kozłowski",
        "Jankowski", "Mazur", "Krawczyk", "Piotrowski", "Grabowski", "Pawłowski", "Michalski", "Król",
        "Wieczorek", "Jabłoński", "Majewski", "Olszewski", "Stępień", "Malinowski", "Jaworski", "Adamczyk",
        "Dudek", "Nowakowska", "Pietrzak", "Sikora", "Walczak", "Baran", "Rutkowski", "Michalak", "Szewczyk",
        "Ostrowski", "Tomaszewski", "Zalewski", "Wróblewski", "Jasiński", "Brzozowska", "Chmielewski",
    ),
    "it": (
        "Russo", "Ferrari", "Esposito", "Romano", "Colombo", "Ricci", "Marino", "Greco", "Bruno", "Conti",
        "De Luca", "Mancini", "Costa", "Giordano", "Rizzo", "Lombardo", "Moretti", "Barbieri",
        "Santoro", "Mariani", "Rinaldi", "Caruso", "Ferrara", "Galli", "Martini", "Leone", "Longo",
        "Gentile", "Martinelli", "Vitale", "Serra", "Coppola", "De Santis", "D'Angelo", "Marchi", "Parisi",
        "Villa", "Conte", "Ferraro", "Ferri", "Fabbri", "Bianco", "Marini", "Grasso", "Valentini", "Messina",
    ),
    "en": (
        "Ashford", "Barker", "Bennett", "Blackwood", "Carter", "Chambers", "Cooper", "Cunningham",
        "Davies", "Ellis", "Evans", "Fletcher", "Foster", "Gibson", "Griffiths", "Hamilton", "Harding",
        "Hughes", "Jenkins", "Kennedy", "Lawrence", "Lloyd", "Marshall", "Mitchell", "Morgan", "Murphy",
        "Palmer", "Parker", "Pearson", "Phillips", "Powell", "Reynolds", "Roberts", "Robinson", "Russell",
        "Shaw", "Spencer", "Stevens", "Sullivan", "Turner", "Walsh", "Ward", "Watson", "Webb", "Whitaker",
        "Wright", "Young", "O'Connor", "O'Sullivan", "McDonald", "MacLeod", "Fitzgerald", "Gonzalez",
        "Rodriguez", "Washington", "Jefferson", "Brooks", "Sanders", "Bailey", "Hayes", "Kowalczyk-Smith",
        "Ashton-Jones",
    ),
    "other": (
        "Aydın", "Arslan", "Doğan", "Kılıç", "Aslan", "Çetin", "Kurt", "Özdemir", "Polat", "Martínez",
        "López", "Sánchez", "Pérez", "Gómez", "Ruiz", "Díaz", "Moreno", "Álvarez", "Silva", "Santos",
        "Oliveira", "Pereira", "Moreau", "Laurent", "Girard", "Bonnet", "Rousseau", "Fontaine", "Chevalier",
        "Janssen", "Visser", "Smit", "Bakker", "van Dijk", "de Jong", "van den Broek", "Jovanović",
        "Nikolić", "Marković", "Popescu", "Ionescu", "Shevchenko", "Kovalenko", "Tran", "Le", "Zhang",
        "Liu", "Yamamoto", "Suzuki", "Sharma", "Gupta", "Mensah", "Haddad", "Khalil", "Rahman",
    ),
}  # fmt: skip

# Which regions a sentence in a language draws names from, with weights.
_REGION_WEIGHTS: dict[str, tuple[tuple[str, float], ...]] = {
    "de": (("dach", 0.5), ("nordic", 0.1), ("pl", 0.1), ("it", 0.1), ("en", 0.1), ("other", 0.1)),
    "en": (("en", 0.4), ("dach", 0.15), ("nordic", 0.1), ("pl", 0.1), ("it", 0.1), ("other", 0.15)),
}

TITLES: dict[str, tuple[str, ...]] = {
    "en": ("Mr", "Mr.", "Mrs", "Mrs.", "Ms", "Ms.", "Dr.", "Dr", "Prof.", "Sir"),
    "de": (
        "Herr",
        "Frau",
        "Herrn",
        "Hr.",
        "Fr.",
        "Dr.",
        "Herr Dr.",
        "Frau Dr.",
        "Herrn Dr.",
        "Prof.",
        "Frau Prof.",
    ),
}


def _region(rng: random.Random, language: str) -> str:
    weights = _REGION_WEIGHTS.get(language, _REGION_WEIGHTS["en"])
    return rng.choices([r for r, _ in weights], weights=[w for _, w in weights])[0]


def last_name(rng: random.Random, region: str) -> str:
    name = rng.choice(LAST_NAMES[region])
    if rng.random() < 0.06:  # double-barrelled
        name = f"{name}-{rng.choice(LAST_NAMES[region])}"
    return name


def person_name(rng: random.Random, language: str) -> str:
    """A person as reps write them: "First Last" mostly, else a title with the surname, a full name with a
    title, a first name or a surname alone."""
    region = _region(rng, language)
    first, last = rng.choice(FIRST_NAMES[region]), last_name(rng, region)
    titles = TITLES.get(language, TITLES["en"])
    shape = rng.random()
    if shape < 0.62:
        return f"{first} {last}"
    if shape < 0.74:
        return f"{rng.choice(titles)} {last}"
    if shape < 0.80:
        return f"{rng.choice(titles)} {first} {last}"
    if shape < 0.86:
        return f"{first} {rng.choice(FIRST_NAMES[region])} {last}"
    if shape < 0.94:
        return first
    return last


# ---------------------------------------------------------------- organisations

LEGAL_FORMS: dict[str, tuple[str, ...]] = {
    "dach": (
        "GmbH", "GmbH", "GmbH", "GmbH", "AG", "AG", "KG", "GmbH & Co. KG", "e.V.", "mbB", "PartG mbB",
        "UG (haftungsbeschränkt)", "UG", "OHG", "GbR", "SE", "eG", "e.K.", "OG", "Sàrl", "SA", "Sagl",
        "gGmbH", "mbH", "GesmbH", "Ges.m.b.H.", "AöR", "SE & Co. KG", "KGaA",
    ),
    "nordic": ("AS", "AS", "ASA", "AB", "AB", "Oy", "Oy", "Oyj", "A/S", "ApS", "ehf.", "hf."),
    "pl": ("Sp. z o.o.", "Sp. z o.o.", "S.A.", "sp.j.", "Sp. k."),
    "it": ("S.p.A.", "S.p.A.", "S.r.l.", "S.r.l.", "S.n.c.", "S.a.s."),
    "en": ("Ltd", "Ltd.", "Limited", "plc", "LLP", "Inc.", "Inc", "LLC", "Corp.", "Corporation", "Co."),
    "other": ("S.A.", "S.L.", "B.V.", "N.V.", "SAS", "SARL", "Lda.", "d.o.o.", "S.R.L.", "A.Ş."),
}  # fmt: skip

# Regular expression alternatives for the legal forms (any case), longest first; "AS", "AB", "Oy" and
# similar words that are also ordinary words count only as written (see ``nlu.ner``).
_CASE_SENSITIVE_FORMS = frozenset(
    {"AS", "ASA", "AB", "Oy", "Oyj", "SE", "OG", "eG", "Co.", "UG", "hf.", "Sp. k."}
)
ALL_LEGAL_FORMS: tuple[str, ...] = tuple(
    sorted(
        {f for forms in LEGAL_FORMS.values() for f in forms}
        | {"GmbH & Co. KGaA", "KGaA", "Pty Ltd", "S.A.S."},
        key=len,
        reverse=True,
    )
)


def legal_form_pattern() -> re.Pattern[str]:
    """Matches a legal form at the end of a name (``... GmbH``, ``... Sp. z o.o.``, ``... AS``)."""
    parts = []
    for form in ALL_LEGAL_FORMS:
        escaped = re.escape(form).replace(r"\ ", r"\s+")
        parts.append(escaped if form in _CASE_SENSITIVE_FORMS else f"(?i:{escaped})")
    return re.compile(rf"(?<![\w.])(?:{'|'.join(parts)})(?![\w&])")


BRANCHES: dict[str, tuple[str, ...]] = {
    "dach": (
        "Maschinenbau", "Logistik", "Feinkost", "Elektro", "Holzbau", "Metallbau", "Anlagenbau", "Bau",
        "Brauerei", "Bäckerei", "Druckerei", "Spedition", "Transporte", "Immobilien", "Versicherung",
        "Steuerberatung", "Energie", "Energietechnik", "Medizintechnik", "Kunststoffe", "Textil",
        "Möbelwerk", "Mühle", "Käserei", "Landtechnik", "Präzisionsteile", "Werkzeugbau", "Gießerei",
        "Verpackungen", "Systemhaus", "Software", "Haustechnik", "Gebäudetechnik", "Dachdeckerei",
        "Autohaus", "Handelsgesellschaft", "Vertrieb", "Consulting", "Beratung", "Verlag", "Reisen",
        "Optik", "Apotheke", "Pharma", "Chemie", "Stahlbau", "Fenster", "Elektronik", "Reederei",
    ),
    "nordic": (
        "Bygg", "Transport", "Fisk", "Skog", "Eiendom", "Data", "Energi", "Marin", "Maskin", "Verktyg",
        "Trä", "Fastigheter", "Konsult", "Logistikk", "Puu", "Rakennus", "Kuljetus", "Teknik", "Shipping",
        "Bryggeri", "Møbler", "Elektro", "Havbruk", "Sjømat",
    ),
    "pl": (
        "Budownictwo", "Transport", "Meble", "Stal", "Logistyka", "Handel", "Drewno", "Elektro", "Serwis",
        "Systemy", "Spedycja", "Piekarnia", "Okna", "Zakłady Mięsne", "Mleczarnia", "Poligrafia",
    ),
    "it": (
        "Costruzioni", "Tessuti", "Impianti", "Ceramiche", "Arredamenti", "Meccanica", "Trasporti",
        "Alimentari", "Vini", "Olearia", "Calzature", "Elettronica", "Plastica", "Gelati", "Pastificio",
        "Acciai", "Logistica", "Servizi", "Grafiche", "Oleodinamica",
    ),
    "en": (
        "Logistics", "Foods", "Engineering", "Print", "Freight", "Capital", "Analytics", "Outfitters",
        "Holdings", "Group", "Partners", "Solutions", "Systems", "Software", "Labs", "Consulting",
        "Manufacturing", "Supplies", "Industries", "Brands", "Ventures", "Dynamics", "Networks",
        "Energy", "Healthcare", "Pharmaceuticals", "Construction", "Properties", "Insurance", "Media",
        "Robotics", "Technologies", "Telecom", "Trading", "Distribution", "Services", "Bakery",
    ),
    "other": ("Construcciones", "Transportes", "Industrias", "Logística", "Bouw", "Techniek", "Groep"),
}  # fmt: skip

PLACES: tuple[str, ...] = (
    "Oberland", "Bodensee", "Allgäu", "Eifel", "Harz", "Spreewald", "Wachau", "Vinschgau", "Emsland",
    "Lausitz", "Rhön", "Sauerland", "Uckermark", "Weserbergland", "Mittelrhein", "Nordsee", "Ostsee",
    "Rostock", "Kassel", "Bielefeld", "Leipzig", "Augsburg", "Graz", "Linz", "Innsbruck", "Basel",
    "Luzern", "St. Gallen", "Trondheim", "Bergen", "Tromsø", "Göteborg", "Malmö", "Uppsala", "Tampere",
    "Oulu", "Aarhus", "Odense", "Gdańsk", "Poznań", "Wrocław", "Kraków", "Łódź", "Torino", "Bologna",
    "Verona", "Brescia", "Napoli", "Leeds", "Bristol", "Sheffield", "Glasgow", "Cardiff", "Belfast",
    "Boston", "Denver", "Austin", "Phoenix", "Portland", "Midwest", "Pacific", "Atlantic", "Highland",
    "Northern", "Western", "Alpine", "Baltic", "Nordic", "Rhein-Main", "Rhein-Neckar",
)  # fmt: skip

# Words that are also company names: common nouns, fruit, animals, colours.
WORD_NAMES: tuple[str, ...] = (
    "Mond", "Stern", "Eiche", "Linde", "Fuchs", "Falke", "Biber", "Kompass",
    "Anker", "Leuchtturm", "Brücke", "Quelle", "Kiefer", "Blitz", "Wolke", "Feder",
    "Amazon", "Shell", "Oracle", "Target", "Gap", "Square", "Slack", "Notion", "Zoom", "Bolt", "Mango",
    "Lemon", "Pepper", "Maple", "Willow", "Harbor", "Summit", "Beacon", "Anchor", "Falcon", "Otter",
    "Raven", "Copper", "Granite", "Meadow", "River", "Canyon", "Compass", "Lantern", "Pebble", "Spark",
)  # fmt: skip

ADJECTIVES_EN: tuple[str, ...] = (
    "Blue", "Red", "Green", "Silver", "Golden", "Swift", "Northern", "Clear", "Prime", "Grand",
    "First", "Royal", "United", "Global", "Modern", "Smart", "Open", "Rapid", "Noble", "Iron", "Stone",
)  # fmt: skip

_SYLLABLES_A = (
    "Sol",
    "Quan",
    "Medi",
    "Nor",
    "Vel",
    "Tra",
    "Zen",
    "Cor",
    "Lum",
    "Ver",
    "Ax",
    "Bri",
    "Dyn",
    "Ev",
    "Flo",
    "Gal",
    "Hex",
    "Inno",
    "Kal",
    "Lux",
    "Mar",
    "Neo",
    "Omni",
    "Pro",
    "Syn",
    "Tec",
    "Uni",
    "Vi",
    "Xa",
    "Ze",
    "Agri",
    "Bio",
    "Cyber",
    "Geo",
    "Hydro",
    "Info",
    "Opti",
    "Terra",
)
_SYLLABLES_B = (
    "dis",
    "ria",
    "nova",
    "tek",
    "lytics",
    "gen",
    "line",
    "sys",
    "mind",
    "wave",
    "point",
    "tronic",
    "form",
    "lab",
    "sense",
    "flow",
    "grid",
    "core",
    "net",
    "plan",
    "dor",
    "ix",
    "os",
    "ara",
    "ano",
    "era",
    "io",
    "ify",
    "ly",
    "sphere",
    "works",
    "mira",
    "tec",
)


# Words that open a firm's name in the DACH region: "Gebrüder Brenner", "Autohaus am Ring", "Praxis Dr. Brenner".
ORG_PREFIXES_DE: tuple[str, ...] = (
    "Gebrüder", "Gebr.", "Autohaus", "Hotel", "Gasthof", "Landgasthof", "Gasthaus", "Weingut", "Weinbau",
    "Sektkellerei", "Brauerei", "Bäckerei", "Konditorei", "Metzgerei", "Fleischerei", "Klinik", "Praxis",
    "Zahnarztpraxis", "Apotheke", "Kanzlei", "Steuerkanzlei", "Notariat", "Stadtwerke", "Sparkasse",
    "Volksbank", "Raiffeisenbank", "Stiftung", "Verlag", "Druckerei", "Schreinerei", "Tischlerei",
    "Zimmerei", "Gärtnerei", "Baumschule", "Reisebüro", "Fahrschule", "Sanitätshaus", "Pflegedienst",
    "Hofgut", "Gut", "Mühle", "Käserei", "Molkerei", "Kellerei", "Spedition", "Elektro", "Malerbetrieb",
)  # fmt: skip


def coined_word(rng: random.Random) -> str:
    """An invented brand ("Zenflow", "Optisense")."""
    return rng.choice(_SYLLABLES_A) + rng.choice(_SYLLABLES_B)


def _form(rng: random.Random, region: str, share: float = 0.75) -> str:
    return f" {rng.choice(LEGAL_FORMS[region])}" if rng.random() < share else ""


def organization_name(rng: random.Random, language: str) -> str:
    """A company, association or public utility in one of many shapes (see the module docstring)."""
    region = _region(rng, language)
    branch_region = region if region in BRANCHES else "en"
    branch = rng.choice(BRANCHES[branch_region])
    shape = rng.random()
    if shape < 0.30:  # Brenner Feinkost GmbH, Haugen Maskin AS
        name = f"{last_name(rng, region)} {branch}{_form(rng, region)}"
    elif shape < 0.42:  # Brenner & Partner mbB, Holm & Dahl AB, Mond und Stern
        joiner = rng.choice(("&", "&", "und" if language == "de" else "and", "+"))
        second = rng.choice(
            (last_name(rng, region), "Partner", "Söhne" if region == "dach" else "Sons", "Co.", "Co")
        )
        first = rng.choice(WORD_NAMES) if rng.random() < 0.2 else last_name(rng, region)
        second = rng.choice(WORD_NAMES) if first in WORD_NAMES else second
        name = f"{first} {joiner} {second}{_form(rng, region, 0.5)}"
    elif shape < 0.52:  # Zenflow Group, Optisense GmbH
        name = f"{coined_word(rng)}{rng.choice(('', ' ' + branch))}{_form(rng, region, 0.6)}"
    elif shape < 0.60:  # Bodensee Energie GmbH, Stadtwerke Oberland
        if region == "dach" and rng.random() < 0.3:
            name = (
                f"{rng.choice(('Stadtwerke', 'Sparkasse', 'Volksbank', 'Kreiswerke'))} {rng.choice(PLACES)}"
            )
        else:
            name = f"{rng.choice(PLACES)} {branch}{_form(rng, region)}"
    elif shape < 0.68:  # Kompass GmbH, Maple, Anker
        name = f"{rng.choice(WORD_NAMES)}{_form(rng, region, 0.4)}"
    elif shape < 0.76:  # Blue Willow Capital LLC
        name = f"{rng.choice(ADJECTIVES_EN)} {rng.choice(WORD_NAMES)} {branch}{_form(rng, region, 0.5)}"
    elif shape < 0.84:  # Schulze-Logistik GmbH, Rhein-Main Bau
        name = f"{last_name(rng, region)}-{branch}{_form(rng, region)}"
    elif shape < 0.92:  # Brenner (a surname alone), Brenner AG
        name = f"{last_name(rng, region)}{_form(rng, region, 0.7)}"
    else:  # TCS, ABB, KSB Pumpen AG
        letters = "".join(rng.choice("ABCDEFGHIKLMNPRSTVWZ") for _ in range(rng.randint(2, 4)))
        name = f"{letters}{rng.choice(('', ' ' + branch))}{_form(rng, region, 0.5)}"
    return name


# ---------------------------------------------------------------- job titles

_FUNCTIONS_EN = (
    "Sales", "Procurement", "Purchasing", "Marketing", "Finance", "IT", "Operations", "HR", "Logistics",
    "R&D", "Engineering", "Customer Success", "Partnerships", "Product", "Supply Chain", "Quality",
    "Business Development", "Legal", "Compliance", "Facilities", "Data", "Security", "Strategy",
)  # fmt: skip
_ROLES_EN = (
    "manager", "director", "buyer", "engineer", "specialist", "coordinator", "analyst", "consultant",
    "assistant", "lead", "officer", "administrator", "executive", "controller", "architect", "planner",
)  # fmt: skip
_ACRONYMS = ("CEO", "CFO", "CTO", "COO", "CIO", "CMO", "CRO", "CISO", "CPO", "CHRO", "CDO")
_FUNCTIONS_DE = (
    "Einkauf", "Vertrieb", "IT", "Marketing", "Logistik", "Personal", "Finanzen", "Produktion",
    "Controlling", "Qualitätssicherung", "Entwicklung", "Buchhaltung", "Kundenservice", "Technik",
    "Instandhaltung", "Recht", "Datenschutz", "Export", "Verwaltung",
)  # fmt: skip
_COMPOUND_HEADS_DE = (
    "Einkaufs", "Vertriebs", "Marketing", "Logistik", "Personal", "Finanz", "Produktions", "Werk",
    "Betriebs", "Export", "Projekt", "Team", "Abteilungs", "Bereichs", "Niederlassungs", "Filial",
    "Verkaufs", "Lager", "Labor", "Bau", "Qualitäts",
)  # fmt: skip
_ROLES_DE = ("leiter", "leiterin", "chef", "chefin", "referent", "referentin")
_STANDALONE_DE = (
    "Geschäftsführer", "Geschäftsführerin", "Prokurist", "Prokuristin", "Inhaber", "Inhaberin",
    "Vorstand", "Vorständin", "Vorstandsvorsitzender", "Vorstandsvorsitzende", "Aufsichtsratsvorsitzender",
    "Werksleiter", "Einkäufer", "Einkäuferin", "Sachbearbeiter", "Sachbearbeiterin", "Disponent",
    "Disponentin", "Buchhalter", "Buchhalterin", "Justiziar", "Justiziarin", "Datenschutzbeauftragter",
    "Datenschutzbeauftragte", "Key Account Manager", "Key Account Managerin", "Office Managerin",
)  # fmt: skip


def job_title(rng: random.Random, language: str) -> str:
    if language == "de" and rng.random() < 0.75:
        shape = rng.random()
        if shape < 0.3:
            return rng.choice(_STANDALONE_DE)
        if shape < 0.55:
            return rng.choice(_COMPOUND_HEADS_DE) + rng.choice(_ROLES_DE)
        if shape < 0.8:
            lead = rng.choice(
                (
                    "Leiter",
                    "Leiterin",
                    "Teamleiter",
                    "Teamleiterin",
                    "Bereichsleiter",
                    "Bereichsleiterin",
                    "Abteilungsleiter",
                    "Abteilungsleiterin",
                    "Head of",
                )
            )
            return f"{lead} {rng.choice(_FUNCTIONS_DE)}"
        if shape < 0.9:
            person = rng.choice(("Sachbearbeiter", "Sachbearbeiterin", "Referent", "Referentin"))
            return f"{person} {rng.choice(('für', 'im'))} {rng.choice(_FUNCTIONS_DE)}"
        return rng.choice(
            (
                "Assistent der Geschäftsführung",
                "Assistentin der Geschäftsführung",
                "Kaufmännischer Leiter",
                "Kaufmännische Leiterin",
                "Technischer Leiter",
                "Technische Leiterin",
                "Leiter der Buchhaltung",
                "Leiterin der Personalabteilung",
            )
        )
    shape = rng.random()
    function = rng.choice(_FUNCTIONS_EN)
    if shape < 0.2:
        return rng.choice(_ACRONYMS)
    if shape < 0.4:
        return f"{rng.choice(('Head of', 'VP of', 'Director of', 'VP', 'SVP of'))} {function}"
    if shape < 0.75:
        senior = rng.choice(("", "", "Senior ", "Junior ", "Lead ", "Chief ", "Principal ", "Regional "))
        title = f"{senior}{function} {rng.choice(_ROLES_EN)}"
    elif shape < 0.85:
        title = f"{rng.choice(('Managing Director', 'Chief of Staff', 'Founder', 'Co-Founder', 'Owner', 'President', 'General Counsel', 'Plant Manager', 'Office Manager', 'Account Executive', 'Key Account Manager'))}"
    else:
        title = f"{rng.choice(_ROLES_EN).capitalize()} {rng.choice(('of', 'for'))} {function}"
    return title if rng.random() < 0.5 else title.lower() if rng.random() < 0.6 else title.title()


# ---------------------------------------------------------------- writing styles


def restyle(name: str, rng: random.Random, *, lower: float = 0.2, upper: float = 0.05) -> str:
    """How reps type names: mostly as written, sometimes all lower-case, rarely all caps."""
    roll = rng.random()
    if roll < lower:
        return name.lower()
    if roll < lower + upper:
        return name.upper()
    return name


__all__ = [
    "ALL_LEGAL_FORMS",
    "LEGAL_FORMS",
    "job_title",
    "legal_form_pattern",
    "organization_name",
    "person_name",
    "restyle",
]
