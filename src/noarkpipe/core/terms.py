"""Terms (keywords, names) found as whole words in free text: the one matcher, with an explicit fold switch.

A term is one or more words. It matches only whole words: letters and digits
are Unicode word characters without the underscore, so æ, ø and å are part of
a word ("sø" is not found in "søknad") and "Legeerklaering_Ase" holds the word
"Ase". Between the words of a term any run of spaces or punctuation matches.
With `wildcards`, `*` at the start or end of a term stands for any letters
("innsyn*" finds "innsynsbegjæring"); with `possessive`, a term also matches
its possessive ("Ødegårds", "Hans'"), as names are written.

The fold switch says how spelling may differ, and the caller chooses it
explicitly because the two uses want different things:

- `fold=False` (classification keywords): case-insensitive, nothing else.
  Letters are not transliterated, so "søknad" does not find "soknad". The
  pattern is searched in the text as written.
- `fold=True` (screening: names and keywords that must not leak): the text is
  NFKC-normalised and case-folded, accents are dropped, æ/ø/å fold to e/o/a
  and the transliterations ae/oe/aa fold the same way, so "Åse Ødegård",
  "ASE ODEGARD" and "Aase Oedegaard" are one name. A zero-width space or a
  change from lower to upper case ("AseOdegard.pdf") counts as a word break.
  The pattern is searched in `fold_text(text).text`, whose `span` maps a match
  back to the original text.

Patterns are compiled once per term (cached), and `any_term_pattern` gives one
alternation for many terms, so a text with no hit costs a single search.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import NamedTuple

WORD = re.compile(r"[^\W_]+")
"""A word of a term: Unicode letters and digits, without the underscore."""

_LETTER_FOLDS = {"ø": "o", "æ": "e", "œ": "oe", "đ": "d", "ð": "d", "ł": "l", "þ": "th", "ı": "i"}
_DIGRAPH_FOLDS = {"aa": "a", "oe": "o", "ae": "e"}
_MARKS = ("Mn", "Me", "Cf")
# Marks a word break the text shows without a space: a lower-case letter followed
# by an upper-case one ("AseOdegard.pdf") or a zero-width space. Terms may run
# across it, and it counts as a word boundary, so "Odegard" is found in both.
HIDDEN_BREAK = "\x00"
_BEFORE = r"(?<![^\W_])"
_AFTER = r"(?![^\W_])"
_LETTERS = r"[^\W_]*"
_POSSESSIVE = r"(?:s|['’]s?)?"


class Folded(NamedTuple):
    """A text folded for spelling-tolerant comparison, with each character's span in the original."""

    text: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    def span(self, match: re.Match) -> tuple[int, int]:
        return self.starts[match.start()], self.ends[match.end() - 1]


# Small: one item's texts are folded once per rule otherwise, and bodies can be large.
@lru_cache(maxsize=32)
def fold_text(text: str) -> Folded:
    """The text as `fold=True` patterns search it (see the module docstring)."""
    chars: list[str] = []
    origins: list[int] = []
    previous = ""
    for index, original in enumerate(text):
        if original == "\u200b" or (original.isupper() and previous.islower()):
            chars.append(HIDDEN_BREAK)
            origins.append(index)
        if unicodedata.category(original) not in _MARKS:
            previous = original
        for ch in unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", original).casefold()):
            if unicodedata.category(ch) in _MARKS:
                continue
            for folded in _LETTER_FOLDS.get(ch, ch):
                chars.append(folded)
                origins.append(index)
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    i = 0
    while i < len(chars):
        pair = "".join(chars[i : i + 2])
        width = 2 if pair in _DIGRAPH_FOLDS else 1
        out.append(_DIGRAPH_FOLDS[pair] if width == 2 else chars[i])
        starts.append(origins[i])
        ends.append(origins[i + width - 1] + 1)
        i += width
    return Folded("".join(out), tuple(starts), tuple(ends))


@lru_cache(maxsize=4096)
def term_pattern(term: str, *, fold: bool, wildcards: bool = True, possessive: bool = False) -> re.Pattern | None:
    """The pattern of one term; None if the term has no words.

    `fold=True`: search it in `fold_text(text).text`; `fold=False`: in the text
    as written, case-insensitively.
    """
    term = term.strip()
    wild_start, wild_end = (term.startswith("*"), term.endswith("*")) if wildcards else (False, False)
    if fold:
        words = WORD.findall(fold_text(term).text.replace(HIDDEN_BREAK, ""))
        spelled = [f"{HIDDEN_BREAK}?".join(map(re.escape, word)) for word in words]
    else:
        words = WORD.findall(term)
        spelled = [re.escape(word) for word in words]
    if not words:
        return None
    start = _BEFORE + (_LETTERS if wild_start else "")
    end = (_LETTERS if wild_end else _POSSESSIVE if possessive else "") + _AFTER
    return re.compile(start + r"[\W_]+".join(spelled) + end, 0 if fold else re.IGNORECASE)


@lru_cache(maxsize=256)
def any_term_pattern(terms: tuple[str, ...], *, fold: bool) -> re.Pattern | None:
    """One pattern that matches a text exactly when one of the terms' patterns does; None for no terms.

    An alternation fails at a position only when every alternative fails
    there, so it finds a match wherever any single term would. The term
    patterns hold no groups or backreferences to renumber, and all share their
    flags. Every one starts with the word-start lookbehind, which is taken out
    in front of the alternation (the same condition, tested once per position
    instead of once per term: about 20 times faster for the bundled screening
    rules).
    """
    patterns = [p for p in (term_pattern(term, fold=fold) for term in terms) if p is not None]
    if not patterns:
        return None
    flags = 0 if fold else re.IGNORECASE
    if all(p.pattern.startswith(_BEFORE) for p in patterns):
        return re.compile(_BEFORE + "(?:" + "|".join(p.pattern[len(_BEFORE) :] for p in patterns) + ")", flags)
    return re.compile("|".join(f"(?:{p.pattern})" for p in patterns), flags)


@lru_cache(maxsize=1024)
def user_pattern(regex: str) -> re.Pattern:
    """A regular expression from a rules file, compiled once, case-insensitive; raises re.error."""
    return re.compile(regex, re.IGNORECASE)


def checked_keyword(keyword: str, *, fold: bool) -> str:
    """A rules file's keyword as given, or ValueError saying why it cannot match (for the file's validators)."""
    if "*" in keyword.strip("*"):
        raise ValueError(f"keyword {keyword!r}: '*' is only allowed at the start or end")
    if term_pattern(keyword, fold=fold) is None:
        raise ValueError(f"keyword {keyword!r} has no letters or digits")
    return keyword


def checked_user_pattern(pattern: str) -> re.Pattern:
    """A rules file's regular expression compiled, or ValueError: invalid, or matching everything."""
    try:
        compiled = user_pattern(pattern)
    except re.error as exc:
        raise ValueError(f"pattern {pattern!r} is not a valid regular expression: {exc}") from None
    if compiled.search(""):
        raise ValueError(f"pattern {pattern!r} matches the empty string, so it matches everything")
    return compiled
