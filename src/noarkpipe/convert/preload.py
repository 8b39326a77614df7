"""Imported once by the fork server of the conversion workers: what every conversion needs, loaded before they fork.

Workers are forked from that server, so each starts with the PRONOM
signatures parsed and compiled (about a second of start-up), the fonts
e-mails are typeset in read, and the conversion modules imported, instead
of paying for them in every worker of every run.
"""

from noarkpipe.convert import html  # noqa: F401  (WeasyPrint, for the HTML e-mail; pdfa imports it only when needed)
from noarkpipe.convert.typeset import preload_fonts
from noarkpipe.files.identify import preload

preload()
preload_fonts()
