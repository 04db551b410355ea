"""Person records with typos, generated for the matching tests: seeded, reproducible, with the
truth.

Each person gets 1 to 9 records (a CRM row, till receipts, a loyalty form...). The first is
written as the person is; each other one is written the way people and clerks write: a random
date format and letter case always, a phone (when there is one) in some format of its own, and
up to `MAX_ERRORS` mistakes drawn from `ERRORS`: a transposition, deletion, insertion or
substitution in a name or an address, a nickname, first and last names swapped, a field left
out, a birth date typed American (day and month swapped) or with a wrong digit, a postcode
digit wrong. Names follow a skewed frequency (a few common ones, many rare), so that namesakes
are common, as in life, and only the birth date or the address tells them apart.

The truth is the generator's person id: each record's id is `p<person>-<n>`, its `record_id`
identifier, never a property that matching compares (like FEBRL's `rec_id`).
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

MAPPING = """
name: people
type: {value: identify}
channel: {value: other}
occurred_at: {value: "2026-01-01T00:00:00Z"}
identifiers:
  record_id: rec_id
  phone: {field: phone, country: "33"}
properties: [first_name, last_name, birth_date, postcode, city, street]
"""
COLUMNS = ["rec_id", "phone", "first_name", "last_name", "birth_date", "postcode", "city", "street"]
TRUTH = (
    "SELECT type, value, regexp_extract(value, '^p(\\d+)-', 1) AS true_id "
    "FROM identity_map WHERE type = 'record_id'"
)
"""The truth for `accuracy.pairwise_scores`: the person id in each record's id."""
MAX_ERRORS = 4
"""Each record but a person's first carries 0 to this many mistakes, each of another kind."""
PHONE_SHARE = 0.25
"""People with a phone; a record carries it one time in two."""
RECORDS_PER_PERSON = range(1, 10)

NICKNAMES = {
    "robert": ["bob", "rob", "bobby"],
    "william": ["bill", "will", "billy"],
    "elizabeth": ["liz", "beth", "betty"],
    "margaret": ["maggie", "peggy", "meg"],
    "richard": ["rick", "dick", "richie"],
    "james": ["jim", "jimmy", "jamie"],
    "catherine": ["kate", "cathy", "katie"],
    "thomas": ["tom", "tommy"],
    "jennifer": ["jen", "jenny"],
    "michael": ["mike", "mick"],
    "christopher": ["chris", "kit"],
    "patricia": ["pat", "patty", "trish"],
    "alexander": ["alex", "sandy"],
    "victoria": ["vicky", "tori"],
    "edward": ["ed", "eddie", "ted"],
    "susan": ["sue", "suzy"],
    "daniel": ["dan", "danny"],
    "rebecca": ["becky", "becca"],
    "joseph": ["joe", "joey"],
    "samantha": ["sam", "sammy"],
    "nicholas": ["nick", "nico"],
    "jacqueline": ["jackie"],
    "anthony": ["tony"],
    "deborah": ["debbie", "deb"],
    "frederic": ["fred"],
    "dominique": ["dom"],
    "maximilien": ["max"],
    "guillaume": ["guy"],
}
# fmt: off
OTHER_FIRST_NAMES = [
    "camille", "louis", "emma", "jules", "chloe", "hugo", "lea", "arthur", "manon", "ines",
    "paul", "claire", "marc", "anne", "luc", "sophie", "jean", "marie", "pierre", "julie",
    "nathalie", "olivier", "sandrine", "laurent", "isabelle", "eric", "celine", "vincent",
    "aurelie", "julien", "emilie", "mathieu", "helene", "antoine", "lucie", "benoit", "pauline",
    "yann", "margaux", "noah", "olivia", "liam", "ava", "ethan", "mia", "lucas", "amelia",
    "mason", "harper", "logan", "ella", "aiden", "grace",
]
# fmt: on
FIRST_NAMES = [*NICKNAMES, *OTHER_FIRST_NAMES]
# fmt: off
SYLLABLES = [
    "mar", "tin", "ber", "nard", "du", "bois", "tho", "mas", "ro", "chard", "pe", "tit", "ran",
    "le", "roy", "mo", "reau", "fon", "taine", "ga", "lin", "fau", "re", "mer", "cier", "bou",
    "cher", "ri", "viere", "gi", "rard", "mi", "chel", "bla", "nc", "car", "pen", "tier", "ley",
    "ton", "ash", "ford", "wil", "kins", "haw", "thorne", "pres", "ton", "sel", "by", "dun",
    "ham", "grif", "fith", "col", "lins", "wat", "son",
]
# fmt: on
STREET_KINDS = ["rue", "avenue", "boulevard", "place", "chemin", "allee", "impasse", "road"]
FORMATS = ["%Y-%m-%d", "%d/%m/%Y", "%Y/%m/%d", "%d.%m.%Y", "%Y%m%d"]
"""Ways a birth date is written that mean the same date (the import reads them all)."""
LETTERS = "abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class Person:
    first_name: str
    last_name: str
    birth_date: dt.date
    postcode: str
    city: str
    street: str
    phone: str | None


@dataclass(frozen=True)
class Record:
    """A record as written: every field text, "" when left out."""

    rec_id: str
    phone: str
    first_name: str
    last_name: str
    birth_date: str
    postcode: str
    city: str
    street: str


def _skewed(rng: random.Random, items: list[str]) -> str:
    """A few items common, most rare: the i-th is drawn with weight 1 / (i + 1)."""
    return rng.choices(items, weights=[1 / (i + 1) for i in range(len(items))])[0]


def _word(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(syllables))


def _population(rng: random.Random, persons: int) -> list[Person]:
    surnames = sorted({_word(rng, rng.choice([2, 2, 3])) for _ in range(persons)})
    rng.shuffle(surnames)
    # About twenty people a town and four a street name: neighbours share a lot.
    towns = [
        (f"{rng.randrange(1000, 99000):05d}", _word(rng, 2)) for _ in range(max(2, persons // 20))
    ]
    streets = sorted({_word(rng, 2) for _ in range(max(2, persons // 4))})
    people = []
    for _ in range(persons):
        postcode, city = rng.choice(towns)
        born = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(66 * 365))
        phone = f"06{rng.randrange(10**8):08d}" if rng.random() < PHONE_SHARE else None
        street = f"{rng.randrange(1, 200)} {rng.choice(STREET_KINDS)} {rng.choice(streets)}"
        first = _skewed(rng, FIRST_NAMES)
        people.append(Person(first, _skewed(rng, surnames), born, postcode, city, street, phone))
    return people


# ------------------------------------------------------------------ mistakes in a text


def transposition(rng: random.Random, text: str) -> str:
    if len(text) < 2:
        return text
    i = rng.randrange(len(text) - 1)
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


def deletion(rng: random.Random, text: str) -> str:
    i = rng.randrange(len(text))
    return text[:i] + text[i + 1 :] if len(text) > 3 else text


def insertion(rng: random.Random, text: str) -> str:
    i = rng.randrange(len(text) + 1)
    return text[:i] + rng.choice(LETTERS) + text[i:]


def substitution(rng: random.Random, text: str) -> str:
    i = rng.randrange(len(text))
    return text[:i] + rng.choice(LETTERS.replace(text[i].lower(), "")) + text[i + 1 :]


TYPOS = [transposition, deletion, insertion, substitution]


# ------------------------------------------------------------------ mistakes in a record


def _typo_in(field: str) -> Callable[[random.Random, Person, Record], Record]:
    def typo(rng: random.Random, person: Person, record: Record) -> Record:
        text = getattr(record, field)
        return replace(record, **{field: rng.choice(TYPOS)(rng, text)}) if text else record

    return typo


def nickname(rng: random.Random, person: Person, record: Record) -> Record:
    names = NICKNAMES.get(person.first_name)
    return replace(record, first_name=rng.choice(names)) if names else record


def swapped_names(rng: random.Random, person: Person, record: Record) -> Record:
    return replace(record, first_name=record.last_name, last_name=record.first_name)


def missing_field(rng: random.Random, person: Person, record: Record) -> Record:
    field = rng.choice(["first_name", "birth_date", "postcode", "city", "street", "street"])
    return replace(record, **{field: ""})


def american_date(rng: random.Random, person: Person, record: Record) -> Record:
    """Month first, as in the US: read day first where it can be (a day up to 12), the day
    and the month come out swapped."""
    return replace(record, birth_date=person.birth_date.strftime("%m/%d/%Y"))


def date_digit(rng: random.Random, person: Person, record: Record) -> Record:
    iso = person.birth_date.isoformat()
    i = rng.choice([2, 3, 6, 8, 9])  # a digit of the year's end, the month or the day
    wrong = iso[:i] + rng.choice("0123456789".replace(iso[i], "")) + iso[i + 1 :]
    return replace(record, birth_date=wrong)


def postcode_digit(rng: random.Random, person: Person, record: Record) -> Record:
    code = record.postcode
    if not code:
        return record
    if rng.random() < 0.5:
        return replace(record, postcode=transposition(rng, code))
    i = rng.randrange(len(code))
    return replace(record, postcode=code[:i] + rng.choice("0123456789") + code[i + 1 :])


ERRORS: list[Callable[[random.Random, Person, Record], Record]] = [
    _typo_in("first_name"),
    _typo_in("last_name"),
    _typo_in("street"),
    _typo_in("city"),
    nickname,
    missing_field,
    american_date,
    date_digit,
    postcode_digit,
    swapped_names,  # last: the mistakes before it are made in the right fields
]
"""The mistakes a record can carry, in the order they are made."""


def _phone(rng: random.Random, phone: str) -> str:
    """The same number, written some way: `0612345678`, `06 12 34 56 78`, `+33 6 12...`."""
    pairs = " ".join(phone[i : i + 2] for i in range(0, 10, 2))
    return rng.choice(
        [phone, pairs, pairs.replace(" ", "."), "+33 " + phone[1:], "0033" + phone[1:]]
    )


def _cased(rng: random.Random, text: str) -> str:
    return rng.choice([text, text.upper(), text.title()])


def _written(rng: random.Random, person: Person, rec_id: str, clean: bool) -> Record:
    record = Record(
        rec_id,
        _phone(rng, person.phone) if person.phone and rng.random() < 0.5 else "",
        _cased(rng, person.first_name),
        _cased(rng, person.last_name),
        person.birth_date.strftime("%Y-%m-%d" if clean else rng.choice(FORMATS)),
        person.postcode,
        _cased(rng, person.city),
        _cased(rng, person.street),
    )
    if clean:
        return record
    made = set(rng.sample(range(len(ERRORS)), rng.randint(0, MAX_ERRORS)))
    for error in (e for i, e in enumerate(ERRORS) if i in made):
        record = error(rng, person, record)
    return record


def person_records(persons: int, seed: int) -> list[Record]:
    """`persons` people, each with 1 to 9 records, shuffled; the same for the same seed."""
    rng = random.Random(seed)
    records = []
    for number, person in enumerate(_population(rng, persons)):
        for n in range(rng.choice(RECORDS_PER_PERSON)):
            records.append(_written(rng, person, f"p{number:05d}-{n}", clean=n == 0))
    rng.shuffle(records)
    return records


def write_records(records: list[Record], path: Path) -> Path:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        writer.writerows([getattr(r, c) for c in COLUMNS] for r in records)
    return path
