"""`noarkpipe export`: closed arkivdeler of one arkivskaper as a DIAS transfer package for its depot."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from noarkpipe.classify.policy import load_policy
from noarkpipe.core.progress import Progress
from noarkpipe.errors import ConfigError
from noarkpipe.export import ExportOptions, ExportResult, export_package
from noarkpipe.services.installation import Installation
from noarkpipe.store.engine import Store


def export(
    installation: Installation,
    kode: str | None,
    output: Path,
    *,
    arkivdeler: tuple[str, ...],
    force: bool,
    package_id: str | None,
    created: Callable[[], datetime | None],
    info_xml: bool,
    identify_formats: bool,
    progress: Progress | None,
) -> ExportResult:
    """`created` gives the package's time (called after the config's checks, so they come first)."""
    settings = installation.settings
    creator = installation.creator(kode)
    if settings.depot is None:
        raise ConfigError(
            f"{settings.config_path}: [depot] is missing; an export names the depot it is for",
            hint='add a [depot] table with navn = "..." (the regional archive) and avtale = "..." (the agreement)',
        )
    try:
        chosen_id = uuid.UUID(package_id) if package_id else None
    except ValueError:
        raise ConfigError(f"--uuid '{package_id}' is not a UUID", hint="e.g. 3f2b8c1e-...; or leave it out") from None
    options = ExportOptions(
        arkivskaper=creator.kode,
        arkivdeler=tuple(arkivdeler),
        output=output.expanduser().resolve(),
        force=force,
        created=created(),
        package_id=chosen_id,
        info_xml=info_xml,
        identify_formats=identify_formats,
    )
    Store.open(settings.store_url).dispose()  # migrate the store before the export reads it
    return export_package(
        store_url=settings.store_url,
        documents_root=settings.documents_dir,
        options=options,
        depot=settings.depot,
        deponering=creator.deponering,
        rules=load_policy(settings, creator).screening_rules,
        actor=settings.actor,
        progress=progress,
    )
