"""`noarkpipe classify train`: one arkivskaper's class model, retrained on its journaled items and saved."""

from __future__ import annotations

from pathlib import Path

from noarkpipe.classify import learned
from noarkpipe.classify.policy import model_path
from noarkpipe.services.installation import Installation
from noarkpipe.store import queries


def train(installation: Installation, kode: str | None, holdout: float) -> tuple[learned.TrainingReport, Path]:
    settings = installation.settings
    creator = installation.creator(kode)
    with installation.store.read() as session:
        arkivskaper_id = queries.arkivskaper_id(session, creator.kode)
        examples = learned.training_examples(session, arkivskaper_id) if arkivskaper_id else []
    installation.close()  # training takes a while; it needs no store
    report = learned.train(examples, holdout=holdout, threshold=creator.klassifikasjonssystem.model_threshold)
    path = model_path(settings, creator.kode)
    path.parent.mkdir(parents=True, exist_ok=True)
    report.model.save(path)
    return report, path
