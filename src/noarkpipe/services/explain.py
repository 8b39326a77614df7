"""`noarkpipe classify --explain FILE`: what the run would decide for an inbox file, and why, journaling nothing.

The file is parsed as the run parses it; then, per letter, the case references
found and whether those cases exist, the rule or model decision, the
screening, and what each document's archival copy would be (from its format
alone: nothing is converted).
"""

from __future__ import annotations

from pathlib import Path
from tempfile import TemporaryDirectory

from noarkpipe.classify.learned import submission_text
from noarkpipe.classify.policy import load_policy
from noarkpipe.classify.rules import explain_text
from noarkpipe.classify.screening import decide_screening, screening_input
from noarkpipe.clock import utcnow
from noarkpipe.convert import is_email_body, plan
from noarkpipe.convert.pdfa import Route
from noarkpipe.core.context import IntakeContext
from noarkpipe.core.references import find_case_references
from noarkpipe.errors import InputFileError
from noarkpipe.files.identify import identify
from noarkpipe.intake.dispatch import choose_parser
from noarkpipe.services.installation import Installation
from noarkpipe.store import queries


def explain(installation: Installation, path: Path, kode: str | None) -> str:
    settings = installation.settings
    creator = installation.creator(kode)
    policy = load_policy(settings, creator)
    if not path.exists():
        raise InputFileError(f"no such file: {path}")
    settings.work_dir.mkdir(parents=True, exist_ok=True)
    with TemporaryDirectory(dir=settings.work_dir, prefix=".explain-") as scratch:
        source, parse = choose_parser(path, path.name)
        context = IntakeContext(
            origin_name=path.name, received=utcnow(), scratch=Path(scratch),
            limits=settings.intake.limits, ocr_languages=settings.intake.ocr_languages,
            sandbox=settings.convert.sandbox,
        )
        submissions = parse(path, context)
        previews = [
            [_archival_preview(document, Path(scratch) / f"preview-{n}-{m}") for m, document in enumerate(s.documents)]
            for n, s in enumerate(submissions)
        ]
    sections = []
    with installation.store.read() as session:
        arkivskaper_id = queries.arkivskaper_id(session, creator.kode)
        for number, submission in enumerate(submissions, start=1):
            lines = [f"== {path.name}" + (f", letter {number} of {len(submissions)}" if len(submissions) > 1 else "")
                     + f" ({source.value}) for {creator.kode}"]
            refs = find_case_references(f"{submission.subject}\n{submission.body_text}")
            for ref in refs:
                exists = arkivskaper_id is not None and queries.case_exists(
                    session, arkivskaper_id, ref.saksaar, ref.sakssekvensnummer
                )
                lines.append(f"case reference {ref} ({ref.quoted!r}): "
                             + ("exists: the item joins that case, no rule needed" if exists else "no such case here"))
            if policy.classification_rules is not None:
                lines.append(explain_text(submission, policy.classification_rules))
            else:
                lines.append("no classification rules configured (klassifikasjonssystem.rules)")
            if policy.model is not None:
                suggestion = policy.model.suggest(submission_text(submission))
                verdict = "confident" if suggestion.confidence >= policy.model_threshold else "below threshold: review"
                lines.append(f"learned model: klasse {suggestion.klasse_id} ({suggestion.confidence:.0%}, {verdict})")
            decision = decide_screening(screening_input(submission), policy.screening_rules)
            if decision.screened:
                lines.append(f"skjerming: {decision.skjermingshjemmel} (tilgangsrestriksjon {decision.tilgangsrestriksjon})")
                lines += [f"  because: {reason}" for reason in decision.reasons]
                lines.append(f"  offentligTittel: {decision.offentlig_tittel}")
            else:
                lines.append("skjerming: none")
            lines.append("documents:")
            lines += [f"  {line}" for line in previews[number - 1]]
            if any("NO ARCHIVAL COPY" in line for line in previews[number - 1]):
                lines.append("  → journaled as received, without archival copy for those: the journalpost goes to review (M)")
            sections.append("\n".join(lines))
    return "\n\n".join(sections)


def _archival_preview(document, scratch: Path) -> str:
    """What the run would do with one document's archival copy, from its format alone (nothing is converted)."""
    name = f"{document.filename} ({document.role.value})"
    if document.archival_gap:
        return f"{name}: NO ARCHIVAL COPY: {document.archival_gap}"
    if not document.content:
        return f"{name}: NO ARCHIVAL COPY: the file is empty (0 bytes)"
    scratch.write_bytes(document.content)
    try:
        fmt = identify(scratch)
    except InputFileError as exc:
        return f"{name}: NO ARCHIVAL COPY: {exc.message}"
    decision = plan(fmt, email_body=is_email_body(document.role, document.filename))
    if decision.route is Route.reject:
        return f"{name}: NO ARCHIVAL COPY: {decision.reason}"
    return f"{name}: {decision.reason}"
