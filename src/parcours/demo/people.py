"""The customers of the demo world and the identifiers each one owns.

Identifiers that must never collide between two customers (phone, email, card and account
numbers, handles) are built from the customer's index through a seed-dependent permutation, so
they are unique by construction at any size; cookies and device ids are 128-bit random values.
`Customer.seen` collects the identifiers that actually reach a stored export record: that, not
the full list, is the identity truth, since an identifier nobody exported cannot be linked;
`Customer.evidence` keeps which records showed them together or described the customer (see
evidence.py). Names and birth dates are written as tills and agents type them: typos included.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from parcours.demo.catalog import EMAIL_DOMAINS, FIRST_NAMES, LAST_NAMES, STREETS, TOWNS, Town
from parcours.demo.evidence import Evidence

JOURNEY_SHARES = {
    "web_researcher": 0.25,
    "store_loyal": 0.20,
    "app_native": 0.15,
    "support_heavy": 0.12,
    "one_time": 0.15,
    "inactive": 0.13,
}


@dataclass(frozen=True)
class Profile:
    """How likely a customer of one journey type is to hold each kind of identifier."""

    in_crm: float
    loyalty: float
    account: float
    handle: float
    app: float


# Shares of the whole base: CRM ~85 %, loyalty card ~40 %, web account ~60 %, handle ~15 %.
PROFILES = {
    "web_researcher": Profile(in_crm=0.90, loyalty=0.20, account=0.80, handle=0.15, app=0.20),
    "store_loyal": Profile(in_crm=0.97, loyalty=1.00, account=0.50, handle=0.12, app=0.15),
    "app_native": Profile(in_crm=0.93, loyalty=0.30, account=1.00, handle=0.25, app=1.00),
    "support_heavy": Profile(in_crm=0.92, loyalty=0.30, account=0.65, handle=0.30, app=0.25),
    "one_time": Profile(in_crm=0.50, loyalty=0.15, account=0.25, handle=0.08, app=0.05),
    "inactive": Profile(in_crm=0.80, loyalty=0.25, account=0.45, handle=0.10, app=0.15),
}

# French mobile numbers phonenumbers accepts as valid: 06 0x-2x, 4x-8x and 07 3x-9x, each
# followed by seven free digits.
_MOBILE_LEADS = (
    "60",
    "61",
    "62",
    "64",
    "65",
    "66",
    "67",
    "68",
    "73",
    "74",
    "75",
    "76",
    "77",
    "78",
    "79",
)
_MOBILE_SPACE = len(_MOBILE_LEADS) * 10**7


@dataclass(frozen=True)
class Device:
    device_id: str
    platform: str
    update_lag_days: int
    """How long after a release this device installs it."""


@dataclass
class Customer:
    index: int
    customer_id: str
    journey_type: str
    first_name: str
    last_name: str
    birth_date: str
    street: str
    town: Town
    email: str
    mobile: str
    """National significant number, nine digits: 612345678."""
    crm_id: str | None
    loyalty_card: str | None
    user_id: str | None
    handle: str | None
    """Lower-case, without `@`: as parcours stores it."""
    cookies: list[str]
    devices: list[Device]
    email_opt_in: bool
    seen: dict[str, dict[str, None]] = field(default_factory=dict)
    """type -> identifiers seen in good export records, in first-seen order."""
    evidence: Evidence = field(default_factory=Evidence)
    shared: dict[tuple[str, str], str] = field(default_factory=dict)
    """(type, value) -> why it is no one customer's (`shared_device`, `blocked`): values seen
    on this customer's records that other customers' records carry too."""

    @property
    def phone(self) -> str:
        return "+33" + self.mobile

    def recorded(self, *identifiers: tuple[str, str], describes: Iterable[str] = ()) -> None:
        """A good export record carrying these (type, value) identifiers, as parcours stores
        them, and describing the customer by these person attributes (`first_name`...)."""
        for kind, value in identifiers:
            self.seen.setdefault(kind, {})[value] = None
        self.evidence.record(identifiers, frozenset(describes))


# Distinct prime multipliers per identifier kind: each a*i+b (mod m) is a permutation of
# 0..m-1 (the primes divide none of the moduli), and two kinds of the same customer share no
# visible digits, so ids cannot be linked by their numbers.
_MULTIPLIERS = {
    "phone": 2_147_483_647,
    "crm": 998_244_353,
    "loyalty": 4_294_967_291,
    "account": 3_221_225_473,
    "email": 104_729,
    "handle": 7_919,
}


@dataclass(frozen=True)
class IdentityKeys:
    """Seed-dependent offsets of the permutations that number identifiers."""

    offsets: dict[str, int]
    suffix_modulus: int

    @classmethod
    def draw(cls, rng: random.Random, customers: int) -> IdentityKeys:
        offsets = {kind: rng.getrandbits(48) for kind in _MULTIPLIERS}
        # Suffixes of emails and handles have one digit more than the customer count needs.
        return cls(offsets, 10 ** (len(str(customers)) + 1))

    def number(self, kind: str, index: int, modulus: int) -> int:
        """A number in [0, modulus) unique to customer `index` among those of this kind."""
        return (_MULTIPLIERS[kind] * index + self.offsets[kind]) % modulus


def ascii_word(text: str) -> str:
    """`N'Diaye` -> `ndiaye`, `Hélène` -> `helene`: how names enter emails and handles."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def _uuid(rng: random.Random) -> str:
    bits = rng.getrandbits(128)
    # Version 4 and the RFC 4122 variant, like uuid.uuid4().
    bits = (bits & ~(0xF << 76)) | (0x4 << 76)
    bits = (bits & ~(0x3 << 62)) | (0x2 << 62)
    text = f"{bits:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def random_uuid(rng: random.Random) -> str:
    return _uuid(rng)


def _ean13(body: str) -> str:
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def _pick_type(rng: random.Random) -> str:
    return rng.choices(list(JOURNEY_SHARES), list(JOURNEY_SHARES.values()))[0]


def _email(rng: random.Random, first: str, last: str, suffix: int) -> str:
    f, ln = ascii_word(first), ascii_word(last)
    # Every pattern ends with a letter before the digits, so distinct suffixes never collide.
    local = rng.choice((f"{f}.{ln}", f"{f[0]}{ln}", f"{f}_{ln}", f"{ln}.{f}", f"{f}{ln}"))
    return f"{local}{suffix}@{rng.choice(EMAIL_DOMAINS)}"


def _handle(rng: random.Random, first: str, last: str, suffix: int) -> str:
    f, ln = ascii_word(first), ascii_word(last)
    return f"{rng.choice((f'{f}_{ln}', f'{f}{ln[0]}', f'{ln}_{f}', f'{f}'))}{suffix}"


def _mobile(keys: IdentityKeys, index: int) -> str:
    number = keys.number("phone", index, _MOBILE_SPACE)
    return _MOBILE_LEADS[number // 10**7] + f"{number % 10**7:07d}"


def _devices(rng: random.Random, wanted: bool, journey_type: str) -> list[Device]:
    if not wanted:
        return []
    count = 1 + (rng.random() < (0.35 if journey_type == "app_native" else 0.1))
    devices = []
    for _ in range(count):
        if rng.random() < 0.45:
            devices.append(Device(_uuid(rng).upper(), "ios", rng.randrange(30)))
        else:
            devices.append(Device(f"{rng.getrandbits(64):016x}", "android", rng.randrange(45)))
    return devices


def _maybe(rng: random.Random, chance: float, value: str) -> str | None:
    return value if rng.random() < chance else None


def make_customer(rng: random.Random, index: int, keys: IdentityKeys) -> Customer:
    """One customer with a name, an address and the identifiers of their journey type."""
    journey_type = _pick_type(rng)
    profile = PROFILES[journey_type]
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    age = int(rng.triangular(18, 86, 38))
    birth = f"{2025 - age}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    suffix = keys.number("email", index, keys.suffix_modulus)
    handle_suffix = keys.number("handle", index, keys.suffix_modulus)
    return Customer(
        index=index,
        customer_id=f"P{index + 1:07d}",
        journey_type=journey_type,
        first_name=first,
        last_name=last,
        birth_date=birth,
        street=f"{rng.randint(1, 120)} {rng.choice(STREETS)}",
        town=rng.choice(TOWNS),
        email=_email(rng, first, last, suffix),
        mobile=_mobile(keys, index),
        crm_id=_maybe(rng, profile.in_crm, f"C{keys.number('crm', index, 10**8):08d}"),
        loyalty_card=_maybe(
            rng, profile.loyalty, _ean13(f"2990{keys.number('loyalty', index, 10**8):08d}")
        ),
        user_id=_maybe(rng, profile.account, f"U{keys.number('account', index, 10**8):08d}"),
        handle=_handle(rng, first, last, handle_suffix) if rng.random() < profile.handle else None,
        cookies=[_uuid(rng) for _ in range(rng.choices((1, 2, 3), (0.55, 0.3, 0.15))[0])],
        devices=_devices(rng, rng.random() < profile.app, journey_type),
        email_opt_in=rng.random() < 0.7,
    )


def phone_as_written(rng: random.Random, mobile: str) -> str:
    """The mobile as people and systems write it; every form normalises to `+33` + mobile."""
    national = "0" + mobile
    pairs = " ".join(national[i : i + 2] for i in range(0, 10, 2))
    form = rng.randrange(7)
    if form == 0:
        return pairs
    if form == 1:
        return f"+33 {mobile[0]} " + " ".join(mobile[i : i + 2] for i in range(1, 9, 2))
    if form == 2:
        return "0033" + mobile
    if form == 3:
        return pairs.replace(" ", ".")
    if form == 4:
        return national
    if form == 5:
        return "+33" + mobile
    return pairs.replace(" ", "-")


def email_as_typed(rng: random.Random, email: str) -> str:
    """An email with the case and stray spaces people type; lower+trim gives `email` back."""
    form = rng.random()
    if form < 0.75:
        return email
    if form < 0.88:
        local, domain = email.split("@")
        return ".".join(p.capitalize() for p in local.split(".")) + "@" + domain.capitalize()
    if form < 0.94:
        return email.upper()
    return f" {email} "


def handle_as_written(rng: random.Random, handle: str) -> str:
    """`@jane_doe92`, sometimes `@Jane_Doe92`: networks keep the case the user chose."""
    if rng.random() < 0.2:
        return "@" + "_".join(p.capitalize() for p in handle.split("_"))
    return "@" + handle


def typo(rng: random.Random, text: str) -> str:
    """One slip of the keyboard: a letter dropped, doubled, swapped with the next, or wrong."""
    if len(text) < 3:
        return text
    at = rng.randrange(1, len(text) - 1)
    slip = rng.randrange(4)
    if slip == 0:
        return text[:at] + text[at + 1 :]
    if slip == 1:
        return text[:at] + text[at] + text[at:]
    if slip == 2:
        return text[:at] + text[at + 1] + text[at] + text[at + 2 :]
    wrong = rng.choice("aeioulnrst".replace(text[at].lower(), ""))
    return text[:at] + wrong + text[at + 1 :]


def name_as_typed(rng: random.Random, name: str, *, slips: float) -> str:
    """A name as a till or an agent types it: often in capitals, sometimes without its
    accents, with a typo at the rate `slips`."""
    if rng.random() < slips:
        name = typo(rng, name)
    form = rng.random()
    if form < 0.3:
        return name.upper()
    if form < 0.4:
        return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return name


def birth_date_as_typed(rng: random.Random, birth_date: str, *, slips: float) -> str:
    """An ISO birth date as an agent types it, `DD/MM/YYYY`, with the day or the year one off
    at the rate `slips`."""
    year, month, day = birth_date.split("-")
    if rng.random() < slips:
        if rng.random() < 0.5:
            day = f"{int(day) % 28 + 1:02d}"
        else:
            year = str(int(year) + rng.choice((-1, 1)))
    return f"{day}/{month}/{year}"
