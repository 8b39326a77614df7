"""One records creator's classification and screening policy, loaded from its config.

Rules files are read and checked once per run (a rule naming a class that
is not in the creator's classification system stops the run with a message
naming the rule); the learned model is used when one has been trained.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from noarkpipe.classify.rulefile import RuleSet, load_classification_rules, validate_against_classes
from noarkpipe.classify.screenrules import ScreeningRuleSet, default_screening_rules, load_screening_rules
from noarkpipe.config import ArkivskaperSettings, FiksArkivSettings, Settings

if TYPE_CHECKING:  # numpy and scipy load only when a model does
    from noarkpipe.classify.learned import ClassModel

DEFAULT_MODEL_THRESHOLD = 0.8


@dataclass(frozen=True)
class Policy:
    screening_rules: ScreeningRuleSet
    classification_rules: RuleSet | None = None
    model: ClassModel | None = None
    """The trained model, or None before `noarkpipe classify train`."""
    model_threshold: float = DEFAULT_MODEL_THRESHOLD
    quoted_case_unknown_sender: Literal["review", "journal"] = "review"
    """What a letter quoting an existing case does when its sender is no party of that case (`references.py`)."""
    fiks_arkiv: FiksArkivSettings = field(default_factory=FiksArkivSettings)
    """Which systems send arkivmeldinger and how far each is trusted (`journal/arkivmelding.py`)."""

    @classmethod
    def standard(cls) -> Policy:
        return cls(screening_rules=default_screening_rules())


def model_path(settings: Settings, kode: str) -> Path:
    return settings.data_dir / "models" / f"{kode}.klassemodell.npz"


def load_policy(settings: Settings, creator: ArkivskaperSettings) -> Policy:
    system = creator.klassifikasjonssystem
    screening = (
        load_screening_rules(creator.screening_rules) if creator.screening_rules else default_screening_rules()
    )
    rules = None
    if system.rules is not None:
        rules = load_classification_rules(system.rules)
        validate_against_classes(rules, {k.klasseID for k in system.klasser})
    return Policy(
        screening_rules=screening,
        classification_rules=rules,
        model=_load_model(model_path(settings, creator.kode)),
        model_threshold=system.model_threshold,
        quoted_case_unknown_sender=system.quoted_case_unknown_sender,
        fiks_arkiv=creator.fiks_arkiv,
    )


def _load_model(path: Path):
    if not path.is_file():
        return None
    from noarkpipe.classify.learned import ClassModel

    return ClassModel.load(path)
