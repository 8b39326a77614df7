"""Arkade 5's Noark 5 tests, so a depot can set our report beside Arkade's line by line.

Arkade 5 (Arkivverket's testing tool) numbers its Noark 5 tests N5.01 to
N5.64, with gaps: 54 tests. Each of our checks names the tests it answers
(`CheckDef.arkade`); this table gives every Arkade test its name and, where
our check judges differently, why. `checks.arkade_table()` renders it for
the README, and a test makes sure every one of the 54 is answered.
"""

from __future__ import annotations

ARKADE_TESTS: dict[str, tuple[str, str]] = {
    "N5.01": ("Structure files exist", ""),
    "N5.02": ("ADDML data object checksums", "an empty checksum in arkivuttrekk.xml is a finding"),
    "N5.03": ("XML valid against the schemas", "always against the official schemas, never the package's copies"),
    "N5.04": ("Number of archives", ""),
    "N5.05": ("Number of archive parts", ""),
    "N5.06": ("Status of the archive parts", ""),
    "N5.07": ("Number of classification systems", ""),
    "N5.08": ("Number of classes", "also per arkivdel"),
    "N5.09": ("Empty classes in the main classification system",
              "classes of a secondary classification system (no folders or registrations anywhere) are left out"),
    "N5.10": ("Number of folders", ""),
    "N5.11": ("Number of folders per year", ""),
    "N5.12": ("Classes with subclasses have no folders", ""),
    "N5.13": ("Number of folders per class", "also per arkivdel"),
    "N5.14": ("Folders without registrations or subfolders", ""),
    "N5.15": ("Number of each saksstatus", "cases not in a final status (Avsluttet, Utgår) are listed"),
    "N5.16": ("Number of registrations", ""),
    "N5.17": ("Number of each journalposttype", "values outside the code list are listed"),
    "N5.18": ("Number of registrations per year", ""),
    "N5.19": ("Classes with subclasses have no registrations", ""),
    "N5.20": ("Number of registrations per class", ""),
    "N5.21": ("Registrations without document descriptions", "Utgår registrations and physical ones are left out"),
    "N5.22": ("Number of each journalstatus", "values outside the code list are listed"),
    "N5.23": ("Number of document descriptions", ""),
    "N5.24": ("Document descriptions without document objects",
              "Utgår entities and physical documents are left out"),
    "N5.25": ("Number of each dokumentstatus", "values outside the code list are listed"),
    "N5.26": ("Number of document objects", ""),
    "N5.27": ("First and last registration dates", "against the arkivdel's period"),
    "N5.28": ("Number of document files", "a missing antallDokumentfiler is a finding"),
    "N5.29": ("Number of each document format", ("formats from the bytes; the declared format and the file name "
              "are compared with what was identified")),
    "N5.30": ("Document file checksums", ""),
    "N5.32": ("Document files exist", ""),
    "N5.33": ("Document files referenced", ""),
    "N5.34": ("Document files referenced more than once", ""),
    "N5.35": ("Number of case parties", ""),
    "N5.36": ("Number of remarks (merknad)", "also per arkivdel"),
    "N5.37": ("Number of cross references", "also per arkivdel"),
    "N5.38": ("Number of precedents", "also per arkivdel"),
    "N5.39": ("Number of correspondence parties", ""),
    "N5.40": ("Number of avskrivninger", "also per arkivdel"),
    "N5.41": ("Number of document flows", ""),
    "N5.42": ("Number of screenings (skjerming)", "compared with inneholderSkjermetInformasjon in arkivuttrekk.xml"),
    "N5.43": ("Number of gradings", ""),
    "N5.44": ("Number of disposal decisions (kassasjon)",
              "compared with omfatterDokumenterSomSkalKasseres in arkivuttrekk.xml"),
    "N5.45": ("Number of disposals carried out (utført kassasjon)",
              "compared with inneholderDokumenterSomErKassert in arkivuttrekk.xml"),
    "N5.46": ("Number of conversions", ""),
    "N5.47": ("Unique systemIDs", ("one klassifikasjonssystem shared by several arkivdeler (same systemID, same "
              "content) is one entity, not a duplicate")),
    "N5.48": ("Arkivdel references", ""),
    "N5.51": ("Secondary class references", ""),
    "N5.59": ("Number of journalposter in the journals and the structure",
              "with sharp period separation all three must agree; soft: the two journals must"),
    "N5.60": ("Journal start and end dates", ("sharp period separation: no registration outside the journals' "
              "period, rather than first and last dates exactly on its bounds")),
    "N5.61": ("Number of changes logged", ""),
    "N5.62": ("Change-log references", ("before v5.0 document objects and arkivskaper have no systemID: "
              "references that cannot be resolved for that reason are a warning")),
    "N5.63": ("Elements that must carry a value", ""),
    "N5.64": ("Empty document files", ""),
}
