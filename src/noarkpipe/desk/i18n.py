"""The desk's language: bokmål by default, English on request.

The templates and messages are written in English and marked for
translation (`_()` in Jinja2, `gettext` here); `locale/<lang>.po` holds the
bokmål catalog, read once by Babel. English needs no catalog. The language
is the user's choice (a cookie set by the language links), else the
installation's `[noarkpipe] lang`, else bokmål, which is what archivists in
a Norwegian post room expect.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from importlib import resources
from typing import Literal

from babel.messages.pofile import read_po

Language = Literal["nb", "en"]
LANGUAGES: tuple[Language, ...] = ("nb", "en")
DEFAULT: Language = "nb"


@lru_cache(maxsize=len(LANGUAGES))
def catalog(lang: Language) -> dict[str, str]:
    """msgid → translation for `lang`; empty for English, the language the sources are written in."""
    if lang == "en":
        return {}
    with resources.files(__package__).joinpath("locale", f"{lang}.po").open("rb") as handle:
        read = read_po(handle, locale=lang)
    return {str(message.id): str(message.string) for message in read if message.id and message.string}


def translator(lang: Language) -> Callable[..., str]:
    """gettext for `lang`, with %-style named arguments: _('%(n)s items', n=3)."""
    table = catalog(lang)

    def gettext(message: str, **values: object) -> str:
        text = table.get(message, message)
        return text % values if values else text

    return gettext


def choose(cookie: str | None, configured: str | None) -> Language:
    for candidate in (cookie, configured):
        if candidate in LANGUAGES:
            return candidate  # type: ignore[return-value]
    return DEFAULT
