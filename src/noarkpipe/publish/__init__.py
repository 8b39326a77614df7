"""The public journal (offentlig journal / postliste): what the public may see, as XML and HTML.

Publishing screened information is the worst thing this system can do, so
every string takes the same path, and three independent checks stand between
the store and a published file:

1. `public_entries` (postliste.py) builds each `PublicEntry` (entries.py) from
   the stored row (stored.py), with the screening decision made again from the
   stored data and every string screened and checked (rescreening.py).
2. Secrets are pooled per saksmappe, so a name screened in one journalpost is
   masked in every row of that case (rescreening.py).
3. The writers (offentlig_journal.py, postliste_html.py) write to a temporary
   file, validate it against the official offentligJournal.xsd, and scan every
   character of the finished file for identity numbers; only a file that
   passes is moved into place (checked.py).

The order of work: `public_journal_header` and `public_entries` read the
store, `write_offentlig_journal` and `write_html` write and check the files.
"""

from noarkpipe.errors import EmptyPublicJournalError
from noarkpipe.publish.entries import (
    NO_TITLE,
    PUBLISHED_JOURNALSTATUS,
    UNKNOWN_PART,
    PublicEntry,
    PublicJournalHeader,
    PublicJournalSummary,
    PublicKorrespondansepart,
    PublicSkjerming,
)
from noarkpipe.publish.offentlig_journal import (
    NAMESPACE,
    OFFENTLIG_JOURNAL_SCHEMA,
    check_offentlig_journal,
    write_offentlig_journal,
)
from noarkpipe.publish.postliste import public_entries, public_journal_header
from noarkpipe.publish.postliste_html import check_public_html, write_html

__all__ = [
    "NAMESPACE",
    "NO_TITLE",
    "OFFENTLIG_JOURNAL_SCHEMA",
    "PUBLISHED_JOURNALSTATUS",
    "UNKNOWN_PART",
    "EmptyPublicJournalError",
    "PublicEntry",
    "PublicJournalHeader",
    "PublicJournalSummary",
    "PublicKorrespondansepart",
    "PublicSkjerming",
    "check_offentlig_journal",
    "check_public_html",
    "public_entries",
    "public_journal_header",
    "write_html",
    "write_offentlig_journal",
]
