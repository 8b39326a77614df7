"""The DIAS package around the extract: safe members, layout, submission description, tar checksum, METS.

A depot receives `<UUID>.tar` with `<UUID>.xml` (or the older info.xml)
beside it. The tar's SHA-256 in the description proves the tar arrived
whole; dias-mets.xml inside lists every file with its size and checksum,
so a file lost, added or changed after packing shows up (PKG-05). Members
a tar should never hold (links, devices, paths that climb out) are
reported from the listing itself (PKG-01) and never read.

For an extract folder the package checks do not apply and say so.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from noarkpipe.validate.checks import Family, check
from noarkpipe.validate.messages import msg
from noarkpipe.validate.model import Severity
from noarkpipe.validate.walker import Frame

if TYPE_CHECKING:
    from noarkpipe.validate.engine import Run

FAMILY = "package"
UNSAFE_MEMBERS = "PKG-01"
LAYOUT = "PKG-02"
SUBMISSION = "PKG-03"
TAR_CHECKSUM = "PKG-04"
METS_FILES = "PKG-05"
ADDML_COPY = "PKG-06"

XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
REQUIRED_PACKAGE_FILES = (
    "dias-mets.xml", "dias-mets.xsd", "log.xml", "administrative_metadata/addml.xml",
    "administrative_metadata/addml.xsd", "administrative_metadata/dias-premis.xml",
    "administrative_metadata/dias-premis.xsd", "content/arkivstruktur.xml",
)
SHA256_NAMES = {"sha256", "sha-256"}


def mets_path(href: str) -> str:
    """'file:content/dokumenter/1.pdf' -> 'content/dokumenter/1.pdf' (relative to the package root)."""
    path = href.strip()
    if path.lower().startswith("file:"):
        path = path[5:]
    return path.removeprefix("./")


class PackageFamily(Family):
    name = FAMILY
    title = "DIAS package"
    checks = (
        check(FAMILY, UNSAFE_MEMBERS, "No unsafe members", Severity.error,
              "No member has an absolute path or climbs out with `..`, and none is a symbolic or hard link, device, "
              "FIFO, sparse or cut-off member; such members are reported and never followed, extracted or read."),
        check(FAMILY, LAYOUT, "DIAS package layout", Severity.error,
              "One top folder named by the package UUID holding dias-mets.xml, log.xml, administrative_metadata/ "
              "(addml.xml, dias-premis.xml and schemas) and content/ with the extract; the tar is named <UUID>.tar."),
        check(FAMILY, SUBMISSION, "Submission description", Severity.error,
              "The submission description (<UUID>.xml, or the older info.xml) names this package and states the "
              "SHA-256 of the tar."),
        check(FAMILY, TAR_CHECKSUM, "Tar checksum", Severity.error,
              "The SHA-256 of the whole tar equals the checksum in the submission description."),
        check(FAMILY, METS_FILES, "METS file list", Severity.error,
              "dias-mets.xml lists every file of the package and no other, each with its actual size and SHA-256."),
        check(FAMILY, ADDML_COPY, "ADDML copy", Severity.error,
              "administrative_metadata/addml.xml is byte-identical to content/arkivuttrekk.xml."),
    )

    def __init__(self) -> None:
        self.objid = ""
        self.described: list[tuple[str, str, str, int | None]] = []
        """Files named in the submission description: (name, checksum, algorithm, line)."""
        self.description_objid: tuple[str, int | None] | None = None

    def prepare(self, run: Run) -> None:
        run.ledger.table("mets_file", "path TEXT, size TEXT, checksum TEXT, algorithm TEXT, line INTEGER, href TEXT")
        mets = run.subscribe("dias-mets")
        mets.keep_attributes = True
        mets.start("mets", lambda frame: setattr(self, "objid", (frame.attrib or {}).get("OBJID", "")))
        mets.track(["metsHdr", "fileSec", "fileGrp", "file"])
        mets.end("FLocat", lambda frame: self._mets_file(run, frame))
        described = run.subscribe("submission")
        described.keep_attributes = True
        described.start("mets", self._description_root)
        described.start("info", self._description_root)
        described.track(["file"])
        described.end("FLocat", self._described_mets_file)
        described.end("fil", self._described_info_file)

    # -- collecting -------------------------------------------------------------------------

    def _mets_file(self, run: Run, frame: Frame) -> None:
        file = frame.parent
        if file is None or file.name != "file":
            return
        href = (frame.attrib or {}).get(XLINK_HREF, "")
        attributes = file.attrib or {}
        run.ledger.add("mets_file", (
            run.package_path(mets_path(href)), attributes.get("SIZE", ""), attributes.get("CHECKSUM", "").lower(),
            attributes.get("CHECKSUMTYPE", ""), file.line, href,
        ))

    def _description_root(self, frame: Frame) -> None:
        attributes = frame.attrib or {}
        self.description_objid = (attributes.get("OBJID") or attributes.get("pakkeID") or "", frame.line)

    def _described_mets_file(self, frame: Frame) -> None:
        file = frame.parent
        if file is None or file.name != "file":
            return
        attributes = file.attrib or {}
        self.described.append((mets_path((frame.attrib or {}).get(XLINK_HREF, "")),
                               attributes.get("CHECKSUM", ""), attributes.get("CHECKSUMTYPE", ""), file.line))

    def _described_info_file(self, frame: Frame) -> None:
        self.described.append(((frame.attrib or {}).get("filnavn", ""), frame.get("sjekksum"),
                               frame.get("algoritme"), frame.line))

    # -- judging ----------------------------------------------------------------------------

    def finish(self, run: Run) -> None:
        unsafe = run.findings(UNSAFE_MEMBERS)
        if not unsafe.count:
            unsafe.summary = msg("{files} file(s), none unsafe", files=run.files)
        if run.package_root is None or run.input_kind == "extract-folder":
            for check_id in (LAYOUT, SUBMISSION, TAR_CHECKSUM, METS_FILES, ADDML_COPY):
                run.findings(check_id).not_run(msg("an extract folder, not a DIAS package"))
            return
        self._layout(run)
        self._submission(run)
        self._mets(run)
        self._addml_copy(run)

    def _layout(self, run: Run) -> None:
        found = run.findings(LAYOUT)
        root = run.package_root or ""
        for name in REQUIRED_PACKAGE_FILES:
            if run.member(run.package_path(name)) is None:
                found.add(msg("missing (the DIAS layout has it)"), file=run.package_path(name))
        if run.content_root != root + "content/":
            found.add(msg("the extract is in {content_root}, not in {root}content/",
                          content_root=run.content_root or './', root=root), file=run.content_root)
        top = root.rstrip("/")
        if run.is_tar:
            if not run.package_uuid or "/" in top:
                found.add(msg("the tar's top folder is not named by a package UUID"), file=top or "(tar root)")
            outside = run.inventory.scalar(
                "SELECT count(*) FROM member WHERE problem = '' AND kind = 'file' AND substr(name, 1, length(?1)) != ?1",
                (root,)
            )
            if root and outside:
                found.add(msg("{outside} file(s) outside the top folder {top}/", outside=outside, top=top))
            expected = f"{run.package_uuid}.tar" if run.package_uuid else None
            if expected and run.options.path.name.lower() != expected:
                found.add(msg("the tar is named {name}, the depot expects {expected}",
                              name=run.options.path.name, expected=expected),
                          file=run.options.path.name)
        if self.objid and run.package_uuid and self.objid.lower() != f"uuid:{run.package_uuid}":
            found.add(msg("dias-mets.xml has OBJID {objid!r}, the top folder says UUID:{package_uuid}",
                          objid=self.objid, package_uuid=run.package_uuid),
                      file=run.package_path("dias-mets.xml"))
        if not found.count:
            found.summary = (msg("DIAS layout under {top} (package {uuid})", top=top or "./", uuid=run.package_uuid)
                             if run.package_uuid else msg("DIAS layout under {top}", top=top or "./"))

    def _submission(self, run: Run) -> None:
        found = run.findings(SUBMISSION)
        checksum = run.findings(TAR_CHECKSUM)
        if run.submission_path is None:
            reason = msg("no submission description given or found beside the package "
                         "(<UUID>.xml or info.xml; pass --submission-description)")
            found.not_run(reason)
            checksum.not_run(reason)
            if run.tar_sha256:
                checksum.data["sha256"] = run.tar_sha256
                checksum.summary = msg("{reason}; the tar's SHA-256 is {tar_sha256}",
                                       reason=reason, tar_sha256=run.tar_sha256)
            return
        label = run.submission_path.name
        if self.description_objid is None:
            found.add(msg("not a METS submission description or info.xml (see STR-02/STR-03)"), file=label)
            checksum.not_run(msg("the submission description could not be read"))
            return
        objid, line = self.description_objid
        if run.package_uuid and objid and not re.search(re.escape(run.package_uuid), objid, re.IGNORECASE):
            found.add(msg("names package {objid!r}, but the package is {package_uuid}",
                          objid=objid, package_uuid=run.package_uuid), file=label, line=line)
        tar_name = run.options.path.name
        candidates = [entry for entry in self.described if entry[0].rsplit("/", 1)[-1] == tar_name]
        if not candidates and len(self.described) == 1:
            candidates = self.described
        if not candidates:
            found.add(msg("states no checksum for {tar_name}", tar_name=tar_name), file=label)
            checksum.not_run(msg("the submission description states no checksum for {tar_name}", tar_name=tar_name))
            return
        _, stated, algorithm, line = candidates[0]
        if algorithm.lower().replace(" ", "") not in SHA256_NAMES:
            found.add(msg("checksum algorithm {algorithm!r}; depots require SHA-256",
                          algorithm=algorithm), file=label, line=line)
        if not found.count:
            found.summary = msg("{label} describes package {package_uuid}",
                                label=label, package_uuid=run.package_uuid or objid)
        if not run.is_tar:
            checksum.not_run(msg("the package was given as a folder; the stated checksum is that of the tar"))
            return
        checksum.data = {"stated": stated.lower(), "actual": run.tar_sha256}
        if run.tar_sha256 and stated.strip().lower() != run.tar_sha256:
            checksum.add(msg("the tar's SHA-256 is {tar_sha256}, the submission description states {stated}",
                             tar_sha256=run.tar_sha256, stated=stated.strip()),
                         file=label, line=line)
        else:
            checksum.summary = msg("SHA-256 {tar_sha256} as stated", tar_sha256=run.tar_sha256)

    def _mets(self, run: Run) -> None:
        found = run.findings(METS_FILES)
        mets = run.package_path("dias-mets.xml")
        if mets not in run.outcomes:
            found.not_run(msg("no readable dias-mets.xml"))
            return
        db = run.ledger
        db.flush()
        db.index("mets_file_path", "mets_file", "path")
        listed = db.scalar("SELECT count(*) FROM mets_file")
        for path, line in db.query(
            "SELECT m.path, m.line FROM mets_file m LEFT JOIN inv.member i ON i.name = m.path "
            "WHERE i.name IS NULL OR i.kind != 'file' OR i.problem != '' ORDER BY m.line"
        ):
            found.add(msg("listed in dias-mets.xml but not in the package: {path}", path=path), file=mets, line=line)
        for (path,) in db.query(
            "SELECT i.name FROM inv.member i LEFT JOIN mets_file m ON m.path = i.name "
            "WHERE i.kind = 'file' AND i.problem = '' AND substr(i.name, 1, length(?1)) = ?1 AND i.name != ?2 "
            "AND m.path IS NULL ORDER BY i.rowid",
            (run.package_root or "", mets),
        ):
            found.add(msg("in the package but not listed in dias-mets.xml"), file=path)
        for path, line, stated_size, size, stated, actual, algorithm in db.query(
            "SELECT m.path, m.line, m.size, h.size, m.checksum, h.sha256, m.algorithm FROM mets_file m "
            "JOIN h.file h ON h.name = m.path WHERE m.path != ? ORDER BY m.line",
            (mets,),
        ):
            if stated_size.strip() and stated_size.strip() != str(size):
                found.add(msg("{path}: SIZE {stated_size}, the file has {size} bytes",
                              path=path, stated_size=stated_size, size=size), file=mets, line=line)
            if algorithm.lower().replace(" ", "") not in SHA256_NAMES:
                found.add(msg("{path}: CHECKSUMTYPE {algorithm!r}, only SHA-256 can be verified",
                              path=path, algorithm=algorithm), file=mets, line=line)
            elif stated != actual:
                found.add(msg("{path}: CHECKSUM {stated}, the file's SHA-256 is {actual}",
                              path=path, stated=stated, actual=actual), file=mets, line=line)
        found.data["listed"] = listed
        if not found.count:
            found.summary = msg("{listed} file(s) listed, each present with the stated size and checksum",
                                listed=listed)

    def _addml_copy(self, run: Run) -> None:
        found = run.findings(ADDML_COPY)
        copy = run.package_path("administrative_metadata/addml.xml")
        original = run.content_path("arkivuttrekk.xml")
        digests = dict(run.ledger.query("SELECT name, sha256 FROM h.file WHERE name IN (?, ?)", (copy, original)))
        if copy not in digests or original not in digests:
            found.not_run(msg("administrative_metadata/addml.xml or content/arkivuttrekk.xml is missing (see PKG-02)"))
        elif digests[copy] != digests[original]:
            found.add(msg("differs from {original}", original=original), file=copy)
        else:
            found.summary = msg("identical to content/arkivuttrekk.xml")
