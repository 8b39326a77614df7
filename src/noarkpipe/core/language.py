"""The two languages people read noarkpipe in, bokmål and English, and which one a reader gets.

What an archivist reads (the review desk, the run report and its mail, the
review commands) is written in English in the code and marked for
translation, the gettext way: `_("%(count)s quarantined", count=2)`. Each
package that has such texts keeps its bokmål catalog beside it,
`locale/nb.po`, which Babel reads once, the first time a bokmål text is asked
for; a translator edits that one file. English needs no catalog: the source
strings are the English texts. (The validator keeps its own resource files,
`validate/texts/*.toml`, but picks its language by the same rule.)

Which language (`choose`): the one asked for (an option), else the
installation's `[noarkpipe] lang`, else the locale (LC_ALL, LC_MESSAGES,
LANG; nb_NO, nn_NO and no_NO give bokmål: there are no nynorsk texts yet,
and bokmål is closer than English), else English. A caller with its own
default (the desk speaks bokmål whatever the server's locale) passes no
locale and its default.

Babel is imported only when a bokmål catalog is first read, so `noarkpipe
--help` and an English run never load it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from importlib import resources
from typing import Literal, cast

Language = Literal["nb", "en"]
LANGUAGES: tuple[Language, ...] = ("nb", "en")
SOURCE_LANGUAGE: Language = "en"
"""The language the texts are written in, which needs no catalog."""

NORWEGIAN_LOCALES = ("nb", "no", "nn")
"""Locale prefixes for which the texts are in bokmål."""
LOCALE_VARIABLES = ("LC_ALL", "LC_MESSAGES", "LANG")
"""Read in POSIX order: the first one set decides, so LC_ALL=C overrides LANG=nb_NO.UTF-8."""


def known(lang: str) -> Language:
    """`lang` as a Language; anything else is a ValueError naming the choices."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}; choose one of {', '.join(LANGUAGES)}")
    return cast(Language, lang)


def choose(explicit: str | None, configured: str | None, environ: Mapping[str, str], *,
           default: Language = "en") -> Language:
    """`explicit` (an option), else `configured` ([noarkpipe] lang), else the locale in `environ`, else `default`."""
    for given in (explicit, configured):
        if given:
            return known(given)
    for variable in LOCALE_VARIABLES:
        value = environ.get(variable, "")
        if value:
            return "nb" if value.lower().startswith(NORWEGIAN_LOCALES) else "en"
    return default


def N_(message: str) -> str:
    """Mark `message` for the catalog where it is kept (a label in a table); `_` translates it where it is shown.

    The gettext name, which the extractors know (babel.messages.extract, xgettext).
    """
    return message


@cache
def catalog(package: str, domain_file: str, lang: Language) -> Mapping[str, str]:
    """msgid → translation of `lang` from the .po file `domain_file` in `package`; empty for English.

    `domain_file` is the catalog's path inside the package with `{lang}` for
    the language, e.g. "locale/{lang}.po". Untranslated and fuzzy entries are
    left out (their English is shown, as gettext does); so are plural
    entries, which no text here uses.
    """
    if known(lang) == SOURCE_LANGUAGE:
        return {}
    from babel.messages.pofile import read_po  # only where bokmål is read: not for --help or an English run

    source = resources.files(package).joinpath(*domain_file.format(lang=lang).split("/"))
    with source.open("rb") as handle:
        read = read_po(handle, locale=lang)
    return {
        message.id: str(message.string)
        for message in read
        if isinstance(message.id, str) and message.id and message.string and not message.fuzzy
    }


def translator(package: str, domain_file: str, lang: Language) -> Callable[..., str]:
    """gettext for `lang` from `package`'s catalog, with %-style named arguments: _("%(n)s items", n=3).

    Without arguments the text is returned as it is (a "%" in it stays); with
    them it is formatted, so a literal "%" is written "%%".
    """
    table = catalog(package, domain_file, lang)

    def gettext(message: str, /, **values: object) -> str:
        text = table.get(message, message)
        return text % values if values else text

    return gettext
