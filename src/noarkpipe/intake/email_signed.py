"""Signed and encrypted mail: what the e-mail intake says in the letter's text instead of making documents.

A detached signature (S/MIME, PGP/MIME) signs the message; it is no
document of its own. Encrypted content is kept as an attachment, but cannot
be read without the recipient's key, so it gets no archival copy. Both are
said in the letter's text in Norwegian, for the archivist and the reader of
the archival copy; the original .eml, stored whole, keeps the signature and
the encrypted bytes.
"""

from __future__ import annotations

from email.message import Message

SIGNATURE_TYPES = frozenset({"application/pkcs7-signature", "application/x-pkcs7-signature"})
PGP_SIGNATURE_TYPE = "application/pgp-signature"
SMIME_CONTAINER_TYPES = frozenset({"application/pkcs7-mime", "application/x-pkcs7-mime"})
SIGNED_NOTE = "[Meldingen var signert (S/MIME). Signaturen er bevart i den opprinnelige e-posten.]"
SIGNED_NOTES = {
    "S/MIME": SIGNED_NOTE,
    "PGP/MIME": "[Meldingen var signert med PGP/MIME. Signaturen er bevart i den opprinnelige e-posten.]",
    "PGP": "[Meldingen var signert med PGP i selve teksten. Signaturen står i teksten og er bevart i den "
    "opprinnelige e-posten.]",
    "S/MIME-innpakket": "[Meldingen var signert med S/MIME i innpakket form: innholdet ligger i vedlegget "
    "(smime.p7m), som er bevart som det kom.]",
}
ENCRYPTED_NOTE = (
    "[Meldingen var kryptert ({kind}) og kan ikke leses uten mottakerens nøkkel. Det krypterte innholdet "
    "er bevart som vedlegg og i den opprinnelige e-posten.]"
)


def signature_kind(part: Message, content_type: str, parent: str) -> str | None:
    """'S/MIME' or 'PGP/MIME' for a detached signature part, else None."""
    if content_type in SIGNATURE_TYPES:
        return "S/MIME"
    if content_type == PGP_SIGNATURE_TYPE:
        return "PGP/MIME"
    if parent == "multipart/signed":
        name = (part.get_filename() or "").lower()
        if name.endswith(".p7s"):
            return "S/MIME"
        if name.endswith((".asc", ".sig")):
            return "PGP/MIME"
    return None


def encrypted_gap(kind: str) -> str:
    """Why an encrypted part gets no archival copy, as the quarantine and the review desk show it."""
    return f"the part is encrypted ({kind}) and cannot be read without the recipient's private key"
