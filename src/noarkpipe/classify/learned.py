"""Learned class suggestions: a text classifier trained on the archive's own journaled items.

Where no rule and no case reference decides, `ClassModel.suggest` proposes a
class (klasseID) with a probability, and `decide` says whether that is
confident enough to use or the item goes to review. `noarkpipe classify
train` calls `training_examples`, `train` and `ClassModel.save`.

What the model sees: what a new item brings, which is its title (the
subject) and the names of correspondence parties that are organisations
(have an organisasjonsnummer; private persons' names are noise and personal
data). Build that text with `submission_text`. The history adds one more
thing to learn from: each case's title, which an archivist has usually made
telling ("Byggesak - gnr. 12 bnr. 7 - tilbygg"). Case titles are fitted as
examples of their own, not glued onto the item's text: a new item has no
case title yet, and a model tested on item + case title scores far better
than it will do on real intake. Document contents are not in the store and
are not used.

Features and classifier
-----------------------
Titles are short (5-15 words), full of compounds ("tilbyggsøknad",
"skjenkeløyve"), typos, nynorsk and bokmål forms of one word, and numbers
that identify a property or a date but not a class. So:

- text is NFKC-normalised and case-folded, and every digit becomes "0":
  "gnr. 12 bnr. 7" and "gnr. 3 bnr. 145" share the shape, not the number;
- æ, ø and å are kept: they are letters of their own in Norwegian
  ("får"/"far", "søk"/"sok"), and scikit-learn's `strip_accents` would fold
  å to a but leave æ and ø alone, which is worse than either choice;
- character n-grams of 2-5 letters within each word, padded with a space
  at either end (like scikit-learn's `char_wb`), catch compounds,
  inflection, nynorsk variants and typos;
  word unigrams and bigrams catch set phrases ("ferdigattest for");
  each block is tf-idf weighted (sublinear tf) and L2-normalised on its own
  so the many character n-grams do not drown the few words;
- a term seen in only one item is dropped (min_df=2): it cannot generalise,
  and it is mostly names and addresses we would rather not keep in a file;
- the classifier is logistic regression, one binary model per class ("is
  this an L42 item?"), each a probability fitted by log-loss. The confidence
  for a class is its probability divided by the sum over all classes when
  that sum is above 1, else left as it is. When two classes both claim an
  item ("skjenkebevilling og barnehageplass") they share the confidence and
  the item goes to review; when no class claims it (gibberish, or a class
  with too little history to be in the model) the confidences stay low and
  it goes to review too. A multinomial (softmax) model must put all its
  probability on known classes: on the generated test history it was
  confident about 27% of the items of a class it had never seen, this model
  about 13%, at the same accuracy. A fitted model is a weight matrix, which
  is also what safe persistence needs.

The analyzer is our own function rather than scikit-learn's, so a saved
vocabulary means exactly the same after a scikit-learn upgrade; scikit-learn
is used to fit, never to predict.

Evaluation
----------
The model is asked about items that do not quote a case, so mostly items
that start one. The held-out part is split by case (no case on both sides,
or its title and look-alike follow-ups would flatter the score) and
stratified by class, and held-out items are scored on their own text only,
as intake will present them. That includes follow-up letters whose titles
say little ("Ettersending av dokumentasjon"), which makes the numbers a
little cautious. The saved model is then refitted on all examples.

Model file
----------
One `.npz` file (a zip of NumPy arrays) written and read with
`allow_pickle=False`: loading cannot run code. It holds the vocabularies,
idf weights, coefficients and a JSON metadata record (format version,
trained_at, counts, classes, library versions, held-out scores) with a
SHA-256 over all of it; a file from another format version, or whose
contents do not match the digest, is refused with `ModelFileError`.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import re
import unicodedata
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from numpy.lib.npyio import NpzFile
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from scipy import sparse
from scipy.special import expit
from sqlalchemy import select
from sqlalchemy.orm import Session

from noarkpipe.classify.screening import MASK
from noarkpipe.clock import utcnow
from noarkpipe.core.codes import Journalstatus, Saksstatus
from noarkpipe.core.submission import Submission
from noarkpipe.errors import ModelFileError, TrainingError
from noarkpipe.store import tables

# Statuses at or past journaling: an archivist (or a rule) has settled the class.
# M is unchecked intake, Utgår was a mistake, a Reservert dokument has no content yet.
ELIGIBLE_JOURNALSTATUS = frozenset(
    {
        Journalstatus.journalfoert.value,
        Journalstatus.ferdigstilt_fra_saksbehandler.value,
        Journalstatus.godkjent_av_leder.value,
        Journalstatus.ekspedert.value,
        Journalstatus.arkivert.value,
    }
)

# How the journal notes a class the model chose on its own (journalpost.classification_note).
# Such items are left out of training: nobody checked them, and learning from
# its own guesses would let the model reinforce its mistakes.
MODEL_DECIDED_NOTE = "learned model →"

MIN_EXAMPLES_PER_CLASS = 10
# A class seen in one case only has nothing to generalise from, and cannot be
# on both sides of a by-case split.
MIN_CASES_PER_CLASS = 2
DEFAULT_HOLDOUT = 0.2
DEFAULT_THRESHOLD = 0.7
# Inverse regularisation strength. Short texts give few features per item, so
# the default of 1.0 leaves probabilities too flat to ever pass a threshold;
# 20 gave the best-calibrated confidences on held-out items (10-100 tried).
REGULARISATION_C = 20.0

MODEL_FORMAT = "noarkpipe-class-model"
# Bump whenever the analyzer, weighting or file layout changes: old files then
# refuse to load instead of giving quietly different suggestions.
MODEL_FORMAT_VERSION = 1
FEATURE_SCHEME = "NFKC+casefold, digits->0; words 1-2, in-word chars 2-5 (min_df 2); sublinear tf-idf, L2 per block"


_RETRAIN_HINT = "train a new one with 'noarkpipe classify train'"


# --- Data passed on ---------------------------------------------------------


class TrainingExample(BaseModel):
    model_config = ConfigDict(frozen=True)

    text: str = Field(description="what the item itself said: its title and organisation names")
    klasse_id: str
    case: str | None = Field(
        default=None, description="the saksmappe's systemID: held-out splits keep a case on one side"
    )
    case_title: str | None = Field(default=None, description="the saksmappe's title, learned from once per case")


class ClassProbability(BaseModel):
    model_config = ConfigDict(frozen=True)

    klasse_id: str
    probability: float


class Suggestion(BaseModel):
    model_config = ConfigDict(frozen=True)

    klasse_id: str
    confidence: float = Field(description="the model's probability that the item belongs in klasse_id, 0-1")
    alternatives: list[ClassProbability] = Field(
        description="the next most probable classes after klasse_id, at most 3, most probable first"
    )


class ClassScore(BaseModel):
    """One class on the held-out part; a score is None where it has nothing to count."""

    klasse_id: str
    precision: float | None = Field(description="None: the class was never predicted")
    recall: float | None = Field(description="None: no held-out item of this class")
    f1: float | None = Field(description="None: neither held out nor predicted")
    support: int = Field(description="held-out items of this class")


class HeldOutPrediction(BaseModel):
    text: str
    klasse_id: str = Field(description="the class it was journaled in")
    predicted: str
    confidence: float


class ModelMetadata(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: str = MODEL_FORMAT
    format_version: int = MODEL_FORMAT_VERSION
    feature_scheme: str = FEATURE_SCHEME
    trained_at: datetime
    n_examples: int
    classes: list[str]
    excluded_classes: dict[str, int] = Field(description="classes with too little history, and their counts")
    sklearn_version: str = Field(description="used for fitting; predicting does not use scikit-learn")
    numpy_version: str
    holdout_accuracy: float
    holdout_macro_f1: float


class TrainingReport(BaseModel):
    """What `noarkpipe classify train` found; `model` is the fitted model to save."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    n_examples: int = Field(description="eligible examples in learnable classes")
    n_train: int
    n_test: int
    classes: list[str]
    excluded_classes: dict[str, int] = Field(
        description=f"classes with fewer than {MIN_EXAMPLES_PER_CLASS} examples or "
        f"{MIN_CASES_PER_CLASS} cases, and their example counts: never suggested"
    )
    accuracy: float
    macro_f1: float
    per_class: list[ClassScore]
    threshold: float
    confident_accuracy: float | None = Field(description="accuracy on held-out items at or above threshold")
    deferred_share: float = Field(description="share of held-out items below threshold: sent to review")
    predictions: list[HeldOutPrediction]
    model: ClassModel = Field(exclude=True)


# --- Text --------------------------------------------------------------------

_WORD = re.compile(r"\w+")
_DIGIT = re.compile(r"\d")


def compose_text(*parts: str | None) -> str:
    """Join the non-empty parts, each once, without screening masks."""
    seen: list[str] = []
    for part in parts:
        cleaned = " ".join((part or "").replace(MASK, " ").split())
        if cleaned and cleaned not in seen:
            seen.append(cleaned)
    return "\n".join(seen)


def submission_text(submission: Submission) -> str:
    """The text to `suggest` from for an incoming item, built like the training texts."""
    sender = submission.sender
    organisation = sender.name if sender is not None and sender.organisasjonsnummer else None
    return compose_text(submission.subject, organisation)


def _words(text: str) -> list[str]:
    normalised = _DIGIT.sub("0", unicodedata.normalize("NFKC", text).casefold())
    return _WORD.findall(normalised)


def _word_terms(text: str) -> list[str]:
    words = [w for w in _words(text) if len(w) > 1]
    return words + [f"{a} {b}" for a, b in itertools.pairwise(words)]


def _char_terms(text: str) -> list[str]:
    terms = []
    for word in _words(text):
        padded = f" {word} "
        for n in range(2, 6):
            terms.extend(padded[i : i + n] for i in range(len(padded) - n + 1))
    return terms


_ANALYZERS: dict[str, Callable[[str], list[str]]] = {"word": _word_terms, "char": _char_terms}


# --- Reading the history -----------------------------------------------------


def training_examples(session: Session, arkivskaper_id: int) -> list[TrainingExample]:
    """Examples from one records creator's journaled items (`arkivskaper_id` is `Arkivskaper.id`)."""
    journalpost, saksmappe = tables.Journalpost, tables.Saksmappe
    eligible = (
        select(journalpost.id)
        .join(saksmappe, journalpost.saksmappe_id == saksmappe.id)
        .where(journalpost.arkivskaper_id == arkivskaper_id)
        .where(journalpost.journalstatus.in_(ELIGIBLE_JOURNALSTATUS))
        .where(saksmappe.saksstatus != Saksstatus.utgaar.value)
        .where(
            journalpost.classification_note.is_(None)
            | ~journalpost.classification_note.startswith(MODEL_DECIDED_NOTE, autoescape=True)
        )
    )
    organisations: dict[int, list[str]] = defaultdict(list)
    for journalpost_id, name in session.execute(
        select(tables.Korrespondansepart.journalpost_id, tables.Korrespondansepart.korrespondansepartNavn)
        .where(tables.Korrespondansepart.journalpost_id.in_(eligible))
        .where(tables.Korrespondansepart.organisasjonsnummer.is_not(None))
        .order_by(tables.Korrespondansepart.id)
    ):
        organisations[journalpost_id].append(name)

    rows = session.execute(
        select(
            journalpost.id,
            journalpost.tittel,
            journalpost.offentligTittel,
            journalpost.tilgangsrestriksjon,
            journalpost.skjermingMetadata,
            saksmappe.systemID,
            saksmappe.tittel,
            saksmappe.offentligTittel,
            saksmappe.tilgangsrestriksjon,
            saksmappe.skjermingMetadata,
            tables.Klasse.klasseID,
        )
        .join(saksmappe, journalpost.saksmappe_id == saksmappe.id)
        .join(tables.Klasse, saksmappe.klasse_id == tables.Klasse.id)
        .where(journalpost.id.in_(eligible))
        .order_by(journalpost.id)
    )
    examples = []
    for (
        journalpost_id, title, public_title, restriction, hidden,
        case, case_title, case_public_title, case_restriction, case_hidden,
        klasse_id,
    ) in rows:  # fmt: skip
        # A screened title may hold names or health details: its public form
        # is what screening judged safe, and all a model file should contain.
        # A screened item's parties stay out too: skjermingMetadata may hide them.
        screened = bool(restriction or hidden)
        parties = [] if screened else organisations.get(journalpost_id, [])
        text = compose_text(public_title if screened else title, *parties)
        if text:
            case_text = compose_text(case_public_title if case_restriction or case_hidden else case_title)
            examples.append(TrainingExample(text=text, klasse_id=klasse_id, case=case, case_title=case_text or None))
    return examples


# --- The fitted model ---------------------------------------------------------


@dataclass(frozen=True)
class _Block:
    """One feature block: an analyzer, its vocabulary and idf weights."""

    analyzer: str
    terms: np.ndarray  # str, the term of each column
    idf: np.ndarray  # float64, one per term


class _Weights:
    """Everything needed to predict: feature blocks, then one weight row per class."""

    def __init__(self, blocks: Sequence[_Block], coef: np.ndarray, intercept: np.ndarray, classes: Sequence[str]):
        self.blocks = tuple(blocks)
        self.coef = coef
        self.intercept = intercept
        self.classes = list(classes)
        self._indexes = [{term: column for column, term in enumerate(b.terms.tolist())} for b in self.blocks]

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        claims = expit(self._features(texts) @ self.coef.T + self.intercept)
        return claims / np.maximum(1.0, claims.sum(axis=1, keepdims=True))

    def _features(self, texts: Sequence[str]) -> sparse.csr_matrix:
        # The weighting TfidfVectorizer(sublinear_tf=True, norm="l2") applied
        # when fitting, redone from the saved arrays alone.
        matrices = []
        for block, index in zip(self.blocks, self._indexes):
            data, columns, starts = [np.empty(0)], [np.empty(0, dtype=np.int64)], [0]
            for text in texts:
                counts = Counter(index[t] for t in _ANALYZERS[block.analyzer](text) if t in index)
                cols = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
                tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
                weights = (1.0 + np.log(tf)) * block.idf[cols]
                norm = np.sqrt(np.dot(weights, weights))
                data.append(weights / norm if norm > 0 else weights)
                columns.append(cols)
                starts.append(starts[-1] + len(cols))
            matrices.append(
                sparse.csr_matrix(
                    (np.concatenate(data), np.concatenate(columns), np.array(starts)),
                    shape=(len(texts), len(block.terms)),
                )
            )
        return sparse.hstack(matrices, format="csr")


class ClassModel:
    """A fitted class model; make one with `train`, or `ClassModel.load` a saved one."""

    def __init__(self, metadata: ModelMetadata, weights: _Weights) -> None:
        self.metadata = metadata
        self._weights = weights

    @property
    def classes(self) -> list[str]:
        return list(self._weights.classes)

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """One row per text, one column per class in `classes`.

        A row sums to at most 1; what is missing is the chance that the item
        belongs to none of the classes the model knows.
        """
        return self._weights.probabilities(texts)

    def suggest(self, text: str) -> Suggestion:
        row = self.probabilities([text])[0]
        order = np.argsort(-row, kind="stable")
        classes = self._weights.classes
        return Suggestion(
            klasse_id=classes[order[0]],
            confidence=float(row[order[0]]),
            alternatives=[
                ClassProbability(klasse_id=classes[i], probability=float(row[i])) for i in order[1:4]
            ],
        )

    # --- persistence ---

    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = {"coef": self._weights.coef, "intercept": self._weights.intercept}
        for number, block in enumerate(self._weights.blocks):
            arrays[f"block{number}_terms"] = block.terms
            arrays[f"block{number}_idf"] = block.idf
        return arrays

    def save(self, path: Path) -> None:
        """Write the model to `path` (an .npz file), replacing it only once complete."""
        path = Path(path)
        arrays = self._arrays()
        analyzers = [block.analyzer for block in self._weights.blocks]
        record = {"metadata": self.metadata.model_dump(mode="json"), "analyzers": analyzers}
        record["sha256"] = _digest(record, arrays)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, record=np.frombuffer(json.dumps(record).encode(), dtype=np.uint8), **arrays)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(buffer.getvalue())
        partial.replace(path)

    @classmethod
    def load(cls, path: Path) -> ClassModel:
        """Read a model saved by `save`; anything else, or anything changed, is refused."""
        path = Path(path)
        try:
            # Opened here, so a file that is not an .npz is closed again too.
            with open(path, "rb") as handle:
                loaded = np.load(handle, allow_pickle=False)
                if not isinstance(loaded, NpzFile):
                    raise ModelFileError(
                        f"{path} is not a noarkpipe class model: it holds a single array", hint=_RETRAIN_HINT
                    )
                with loaded as npz:
                    contents = {name: npz[name] for name in npz.files}
        except FileNotFoundError as exc:
            raise ModelFileError(f"no class model at {path}", hint=_RETRAIN_HINT) from exc
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            raise ModelFileError(
                f"{path} is not a noarkpipe class model: {exc}", hint=_RETRAIN_HINT
            ) from exc
        try:
            record = json.loads(contents.pop("record").tobytes())
            found = (record["metadata"].get("format"), record["metadata"].get("format_version"))
        except (KeyError, ValueError, AttributeError, TypeError) as exc:
            raise ModelFileError(f"{path} is not a noarkpipe class model (no metadata)", hint=_RETRAIN_HINT) from exc
        if found != (MODEL_FORMAT, MODEL_FORMAT_VERSION):
            raise ModelFileError(
                f"{path} is a class model of format {found[0]} version {found[1]}; "
                f"this noarkpipe reads {MODEL_FORMAT} version {MODEL_FORMAT_VERSION}",
                hint=_RETRAIN_HINT,
            )
        if record.get("sha256") != _digest(record, contents):
            raise ModelFileError(
                f"{path} has been changed or damaged since it was trained: its contents do not match its checksum",
                hint=_RETRAIN_HINT,
            )
        try:
            metadata = ModelMetadata.model_validate(record["metadata"])
            blocks = [
                _Block(analyzer, contents[f"block{n}_terms"], contents[f"block{n}_idf"])
                for n, analyzer in enumerate(record["analyzers"])
            ]
            _check_shapes(metadata, blocks, contents["coef"], contents["intercept"])
        except (KeyError, ValidationError, ValueError) as exc:
            raise ModelFileError(f"{path} is not a consistent class model: {exc}", hint=_RETRAIN_HINT) from exc
        return cls(metadata, _Weights(blocks, contents["coef"], contents["intercept"], metadata.classes))


def _digest(record: dict, arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    signed = {key: value for key, value in record.items() if key != "sha256"}
    digest.update(json.dumps(signed, sort_keys=True).encode())
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _check_shapes(metadata: ModelMetadata, blocks: list[_Block], coef: np.ndarray, intercept: np.ndarray) -> None:
    if any(block.analyzer not in _ANALYZERS for block in blocks):
        raise ValueError(f"unknown analyzer among {[b.analyzer for b in blocks]}")
    if any(block.terms.dtype.kind != "U" or block.terms.shape != block.idf.shape for block in blocks):
        raise ValueError("a vocabulary and its idf weights differ in length or type")
    n_features = sum(len(block.terms) for block in blocks)
    if coef.shape != (len(metadata.classes), n_features) or intercept.shape != (len(metadata.classes),):
        raise ValueError(f"coefficients {coef.shape} do not fit {len(metadata.classes)} classes and {n_features} terms")
    if not all(np.isfinite(a).all() for a in (coef, intercept, *(b.idf for b in blocks))):
        raise ValueError("weights that are not finite numbers")


# --- Deciding and training ----------------------------------------------------


def decide(suggestion: Suggestion, threshold: float) -> bool:
    """True: confident enough to use the suggested class; False: send the item to review."""
    return _confident(suggestion.confidence, threshold)


def _confident(confidence: float | np.ndarray, threshold: float) -> bool | np.ndarray:
    # One rule for live decisions and for the report's held-out numbers.
    return confidence >= threshold


def _fit(texts: Sequence[str], labels: Sequence[str]) -> _Weights:
    # scikit-learn is needed to fit only; importing it costs every run a second or two.
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    vectorizers = {
        name: TfidfVectorizer(analyzer=analyzer, min_df=2, sublinear_tf=True, norm="l2")
        for name, analyzer in _ANALYZERS.items()
    }
    try:
        matrix = sparse.hstack([v.fit_transform(texts) for v in vectorizers.values()], format="csr")
    except ValueError as exc:  # every term occurred only once
        raise TrainingError(f"the journaled titles share too few words to learn from: {exc}") from exc
    classifier = OneVsRestClassifier(LogisticRegression(C=REGULARISATION_C, max_iter=2000))
    classifier.fit(matrix, list(labels))
    blocks = [
        _Block(name, v.get_feature_names_out().astype(str), np.asarray(v.idf_, dtype=np.float64))
        for name, v in vectorizers.items()
    ]
    coef = np.vstack([estimator.coef_ for estimator in classifier.estimators_])
    intercept = np.concatenate([estimator.intercept_ for estimator in classifier.estimators_])
    if len(classifier.estimators_) == 1:
        # Two classes: scikit-learn fits one model, for the second class; the
        # first class's probability is 1 - sigmoid(z) = sigmoid(-z).
        coef, intercept = np.vstack([-coef, coef]), np.concatenate([-intercept, intercept])
    return _Weights(blocks, coef, intercept, [str(c) for c in classifier.classes_])


def _fitting_set(examples: Sequence[TrainingExample]) -> tuple[list[str], list[str]]:
    """Each item's own text, then each case's title once."""
    texts = [e.text for e in examples]
    labels = [e.klasse_id for e in examples]
    titles = {e.case: (e.case_title, e.klasse_id) for e in examples if e.case and e.case_title}
    return texts + [t for t, _ in titles.values()], labels + [k for _, k in titles.values()]


def _learnable(examples: Sequence[TrainingExample], min_per_class: int) -> tuple[set[str], dict[str, int]]:
    counts = Counter(e.klasse_id for e in examples)
    cases: dict[str, set[str]] = defaultdict(set)
    for number, example in enumerate(examples):
        cases[example.klasse_id].add(example.case or f"#{number}")
    learnable = {k for k, n in counts.items() if n >= min_per_class and len(cases[k]) >= MIN_CASES_PER_CLASS}
    return learnable, {k: n for k, n in sorted(counts.items()) if k not in learnable}


def _split(examples: Sequence[TrainingExample], holdout: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and test indexes: stratified by class, each case on one side only."""
    from sklearn.model_selection import StratifiedGroupKFold

    labels = [e.klasse_id for e in examples]
    # Numbered by first appearance: the split then depends on the seed and the
    # examples' order only, not on the (random) systemIDs naming the cases.
    first_seen: dict[str, int] = {}
    groups = [first_seen.setdefault(e.case or f"#{n}", len(first_seen)) for n, e in enumerate(examples)]
    folds = StratifiedGroupKFold(n_splits=max(2, round(1 / holdout)), shuffle=True, random_state=seed)
    classes = set(labels)
    for train_index, test_index in folds.split(np.zeros(len(labels)), labels, groups):
        if {labels[i] for i in train_index} == classes:
            return train_index, test_index
    raise TrainingError(
        "no held-out split leaves every class something to learn from: the classes have too few cases",
        hint=f"each class needs items in at least {MIN_CASES_PER_CLASS} cases; try a smaller holdout",
    )


def train(
    examples: Sequence[TrainingExample],
    *,
    holdout: float = DEFAULT_HOLDOUT,
    seed: int = 0,
    threshold: float = DEFAULT_THRESHOLD,
    min_per_class: int = MIN_EXAMPLES_PER_CLASS,
) -> TrainingReport:
    """Fit, score on a held-out part split by case, then refit on everything.

    `holdout` is rounded to 1/k for a whole number of folds k (0.2: 5 folds).
    `threshold` only sets which held-out items count as confident in the report.
    """
    import sklearn
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

    if not 0 < holdout <= 0.5:
        raise TrainingError(f"holdout must be more than 0 and at most 0.5, not {holdout}")
    learnable, excluded = _learnable(examples, min_per_class)
    if len(learnable) < 2:
        counts = ", ".join(f"{k}: {n}" for k, n in sorted(Counter(e.klasse_id for e in examples).items()))
        raise TrainingError(
            f"a class model needs at least two classes with {min_per_class} or more journaled items "
            f"in {MIN_CASES_PER_CLASS} or more cases; this history has "
            f"{len(learnable)} ({len(examples)} items{': ' + counts if counts else ''})",
            hint="journal more items first; until then every item without a rule goes to review",
        )
    used = [e for e in examples if e.klasse_id in learnable]

    train_index, test_index = _split(used, holdout, seed)
    # Scored on the held-out part, then thrown away.
    trial = _fit(*_fitting_set([used[i] for i in train_index]))
    test_texts = [used[i].text for i in test_index]
    truth = [used[i].klasse_id for i in test_index]
    probabilities = trial.probabilities(test_texts)
    predicted = [trial.classes[i] for i in probabilities.argmax(axis=1)]
    confidence = probabilities.max(axis=1)

    ordered = sorted(learnable)
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=ordered, zero_division=np.nan
    )
    confident = _confident(confidence, threshold)
    accuracy = float(accuracy_score(truth, predicted))
    # Over the classes the held-out part has or predicts: a small class whose
    # few cases all fell on the training side has no score to average in.
    macro_f1 = float(f1_score(truth, predicted, labels=sorted(set(truth) | set(predicted)), average="macro"))

    weights = _fit(*_fitting_set(used))
    metadata = ModelMetadata(
        trained_at=utcnow(),
        n_examples=len(used),
        classes=weights.classes,
        excluded_classes=excluded,
        sklearn_version=sklearn.__version__,
        numpy_version=np.__version__,
        holdout_accuracy=accuracy,
        holdout_macro_f1=macro_f1,
    )
    return TrainingReport(
        n_examples=len(used),
        n_train=len(train_index),
        n_test=len(test_index),
        classes=weights.classes,
        excluded_classes=excluded,
        accuracy=accuracy,
        macro_f1=macro_f1,
        per_class=[
            ClassScore(klasse_id=k, precision=_score(p), recall=_score(r), f1=_score(f), support=int(s))
            for k, p, r, f, s in zip(ordered, precision, recall, f1, support)
        ],
        threshold=threshold,
        confident_accuracy=(
            float(np.mean([t == p for t, p, c in zip(truth, predicted, confident) if c])) if confident.any() else None
        ),
        deferred_share=float(1 - confident.mean()),
        predictions=[
            HeldOutPrediction(text=x, klasse_id=t, predicted=p, confidence=float(c))
            for x, t, p, c in zip(test_texts, truth, predicted, confidence)
        ],
        model=ClassModel(metadata, weights),
    )


def _score(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


TrainingReport.model_rebuild()
