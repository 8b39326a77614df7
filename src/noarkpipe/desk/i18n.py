"""The desk's language: bokmål by default, English on request.

The templates and messages are written in English and marked for
translation (`_()` in Jinja2, `gettext` here); `locale/<lang>.po` holds the
bokmål catalog, read once by Babel (`core.language`, which the run report and
the review commands share). English needs no catalog. The language is the
user's choice (a cookie set by the language links), else the installation's
`[noarkpipe] lang`, else bokmål, which is what archivists in a Norwegian post
room expect: unlike the command line, the desk does not go by the locale,
since the server's locale is not the reader's.
"""

from __future__ import annotations

from collections.abc import Callable

from noarkpipe.core import language
from noarkpipe.core.language import LANGUAGES, Language

__all__ = ["DEFAULT", "LANGUAGES", "Language", "catalog", "choose", "translator"]

DEFAULT: Language = "nb"
CATALOG = "locale/{lang}.po"


def catalog(lang: Language) -> dict[str, str]:
    """msgid → translation for `lang`; empty for English, the language the sources are written in."""
    return dict(language.catalog(__package__, CATALOG, lang))


def translator(lang: Language) -> Callable[..., str]:
    """gettext for `lang`, with %-style named arguments: _('%(n)s items', n=3)."""
    return language.translator(__package__, CATALOG, lang)


def choose(cookie: str | None, configured: str | None) -> Language:
    """The cookie's language, else the configured one, else bokmål; a cookie naming no language is passed over."""
    return language.choose(cookie if cookie in LANGUAGES else None,
                           configured if configured in LANGUAGES else None, {}, default=DEFAULT)
