"""Whether a line of text read from a photo looks like personal data (`--cover pii`): a name,
a number (phone, account, ID, date), an e-mail address or handle, a street address, or a
field of a personal document (a label such as "Name", "Tel", "Passport").

Rules, not a model: they read the characters a line holds and nothing else, and the text is
dropped as soon as they have answered (detect/text.py). They err towards covering: a sign
with a number or two capitalised words on it is covered too; a slogan in ordinary words
stays. What they cannot read (a misread name, a handwritten one) they cannot see, which is
why `--cover text` exists.
"""

from __future__ import annotations

import re


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Enough digits for a phone number, an account, an ID, a birth date or a house number with
# its postcode; not a "12" on a placard.
MIN_DIGITS = 4
# A token that mixes letters and digits this long is an identifier (a postcode, a booking
# code, a plate, a badge number), not a word.
MIN_CODE = 5
# Words that label a field of a personal document or a name tag; the line holding one, and
# the lines before and after it (as turned, side by side), are covered.
LABELS = _words("""
name names nom nombre nome surname firstname lastname vorname nachname apellido
hello press staff crew visitor guest delegate volunteer member employee student patient
tel tél phone mobile cell fax email e-mail mail address adresse dirección indirizzo
id passport passeport licence license permit account iban bic card dob born birth geb
ticket boarding booking seat pnr reservation
""")
TITLES = _words("dr mr mrs ms mx miss prof sir dame rev fr sr sra herr frau mme mlle")
# A house number beside one of these is an address.
STREETS = _words("""
st street str straße strasse ave av avenue rd road ln lane blvd boulevard way dr drive ct
court pl place sq square rue via viale calle avenida rua platz weg gasse allee ul ulica
""")
# Name particles, allowed lower-case inside a name.
PARTICLES = _words("de da das do dos di du del della der den van von la le el al bin ben ibn y e")
# Ordinary words: a line of capitalised words holding one of these is a slogan or a sign,
# not a name ("JUSTICE FOR ALL", "Stop The War").
COMMON = _words("""
a an the and or but not no yes for to of in on at by with from up down out all our your my
their his her its we you they he she it is are was be will shall can must do does now here
there this that these those free stop end save keep open closed exit entrance only new
more less one two than who what when where why how us them me
""")
NAME_WORDS = (2, 4)
# How sure the reader must be (mean probability of its characters) for a line to be taken
# for a name: a garbled read of a slogan in capitals ("WEWILNO ESLENT", 0.6-0.7 on the
# bench) looks like two names; the names drawn there read at 0.8 and up.
NAME_SURE = 0.75


def _tokens(text: str) -> list[str]:
    return re.findall(r"[^\W_]+(?:['-][^\W_]+)*\.?", text)


def _is_name_word(token: str) -> bool:
    word = token.rstrip(".")
    if len(word) == 1:  # an initial, or a letter the reader got wrong
        return word.isalpha()
    # Capitalised, upper case, or with capitals inside (McDonald, DeShawn, a misread letter)
    return word.replace("-", "").replace("'", "").isalpha() and word[0].isupper()


def looks_like_name(text: str) -> bool:
    """Two to four capitalised words (initials and particles allowed), none of them an
    ordinary word: ANNA KOWALSKI, Li Wei, Jose M. Ferreira, Ana de la Cruz."""
    tokens = [t for t in _tokens(text) if t.lower() not in PARTICLES]
    words = [t for t in tokens if len(t.rstrip(".")) > 1]
    if not NAME_WORDS[0] <= len(words) <= NAME_WORDS[1] or len(tokens) > NAME_WORDS[1] + 1:
        return False
    if any(t.rstrip(".").lower() in COMMON for t in tokens):
        return False
    return all(_is_name_word(t) for t in tokens)


def is_label(text: str) -> bool:
    """A field label of a personal document or a name tag (Name:, Tel, Passport, STAFF)."""
    return any(t.rstrip(".").lower() in LABELS for t in _tokens(text))


def looks_personal(text: str, sure: float = 1.0) -> bool:
    """Whether a line read from a photo may be personal data (see the module's rules);
    `sure`: how sure the reader was of the characters (names need a sure reading)."""
    tokens = [t.rstrip(".") for t in _tokens(text)]
    lowered = [t.lower() for t in tokens]
    if sum(c.isdigit() for c in text) >= MIN_DIGITS or "@" in text:
        return True
    if any(len(t) >= MIN_CODE and re.search(r"\d", t) and re.search(r"[^\W\d_]", t)
           for t in tokens):
        return True
    if any(c.isdigit() for c in text) and any(t in STREETS for t in lowered):
        return True
    if any(t in TITLES for t in lowered[:-1]) or is_label(text):
        return True
    return sure >= NAME_SURE and looks_like_name(text)
