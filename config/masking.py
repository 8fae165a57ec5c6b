"""What counts as a secret, and masking secret values out of text.

One place for the rules that environment variables (environments.secrets), the audit
trail (audit.services) and run logs (runs.logstore) share: a name that looks secret,
the password part of a URL, and a ``Masker`` that replaces known values wherever
they appear, as CI systems mask their secrets in job logs.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = "***"
# Shorter values would mask ordinary words and digits all over a log.
MIN_MASKED_LENGTH = 4

# A name is split into words (FOO_BAR, foo-bar, fooBar); one word of these marks it
# secret, as does a word ending in the longer ones (APIKEY, GITHUBTOKEN, DBPASSWORD).
_EXACT_WORDS = frozenset(
    {"KEY", "KEYS", "TOKEN", "TOKENS", "SECRET", "SECRETS", "PASSWORD", "PASSWD", "PASS", "PWD"}
    | {"CREDENTIAL", "CREDENTIALS", "AUTH", "AUTHORIZATION", "PASSPHRASE"}
)
_SUFFIX_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIALS", "CREDENTIAL")
_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Za-z])(?=[0-9])")
# scheme://user:password@host — the password is what is secret, not the rest.
URL_CREDENTIALS = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s]*:)(?P<password>[^@/?#\s]+)(?=@)")


def looks_secret_name(name: str) -> bool:
    for word in _WORD_SPLIT.split(name):
        upper = word.upper()
        if upper in _EXACT_WORDS or (len(upper) > 3 and upper.endswith(_SUFFIX_WORDS)):
            return True
    return False


def url_passwords(value: str) -> list[str]:
    """The passwords of every ``scheme://user:password@host`` in ``value``."""
    return [m.group("password") for m in URL_CREDENTIALS.finditer(value)]


def mask_url_passwords(value: str) -> str:
    return URL_CREDENTIALS.sub(lambda m: m.group("head") + MASK, value)


def encodings(value: str) -> set[str]:
    """``value`` as it may show up in text: as is, URL-quoted, JSON-escaped, base64."""
    forms = {value, quote(value, safe=""), quote(value), quote_plus(value), json.dumps(value)[1:-1]}
    raw = value.encode()
    forms.add(base64.b64encode(raw).decode().rstrip("="))
    forms.add(base64.urlsafe_b64encode(raw).decode().rstrip("="))
    return forms


class Masker:
    """Replaces known secret values (and their simple encodings) with ``***``.

    Built once per run: one compiled alternation, longest first so a value that
    contains another is masked whole. Values shorter than MIN_MASKED_LENGTH are left
    alone (they would match everywhere)."""

    __slots__ = ("_forms", "_pattern")

    def __init__(self, values: Iterable[str]) -> None:
        forms: set[str] = set()
        for value in values:
            if len(value) >= MIN_MASKED_LENGTH:
                forms |= {form for form in encodings(value) if len(form) >= MIN_MASKED_LENGTH}
        self._forms = tuple(sorted(forms, key=len, reverse=True))
        self._pattern = re.compile("|".join(map(re.escape, self._forms))) if self._forms else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def __call__(self, text: str) -> str:
        if self._pattern is None:
            return text
        # Most lines hold no secret: substring tests (C speed) skip the regex for them,
        # about twice as fast as letting the alternation scan every position.
        for form in self._forms:
            if form in text:
                return self._pattern.sub(MASK, text)
        return text


NO_MASK = Masker(())
