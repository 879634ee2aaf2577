"""Saving a fitted MatchingPipeline to a directory and loading it back, without pickles.

A saved pipeline is a folder::

    pipeline.json        manifest: format, config, taxonomy version, embedder model id, as-of,
                         training summary, feature names, SHA-256 of every other file
    lexical.json         the two TF-IDF vectorizers' parameters and vocabularies (terms in index order)
    lexical_idf.npz      their idf vectors (NumPy, loaded with allow_pickle=False)
    ranker/              LambdaRanker.save (LightGBM text model + JSON sidecar); absent when prior-only
    calibration.json     the calibrator's parameters and reliability; absent when no window calibrated it

Everything is data (JSON, NPZ, LightGBM text), so loading a file cannot run code. Embeddings and
retrieval indexes are not part of a model: they are recomputed (or read from the embedding cache) from
the vacancies of each run. One run's prepared vacancy side (profiles, vectors, FAISS indexes) can be
written too (``save_vacancy_state``), so that workers of a distributed run load it instead of
preparing it again::

    vacancy_state.json   manifest: how each profile field is stored, SHA-256 of every other file
    arrays.npz           numeric arrays and the parts of sparse matrices (allow_pickle=False)
    values.json          string arrays, text lists and counts
    retriever/           the FAISS indexes (faiss.write_index) and the rows they cover Loading checks that this install has the same taxonomy, the same feature
set and a locally loadable embedder with the same model id, because vectors and features from
another version would silently change every score.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError
from scipy import sparse
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer

from ilona_match import __version__
from ilona_match.matching.calibration import Calibrator
from ilona_match.matching.features import FEATURE_NAMES
from ilona_match.matching.history import InteractionHistory
from ilona_match.matching.pipeline import MatchingPipeline, PipelineConfig, VacancyState
from ilona_match.matching.profiles import VacancyProfiles
from ilona_match.matching.ranker import LambdaRanker
from ilona_match.matching.retrieval import CandidateRetriever
from ilona_match.text.lexical import LexicalEncoder

__all__ = ["FORMAT", "FORMAT_VERSION", "MANIFEST_FILE", "load_pipeline", "load_vacancy_state", "save_pipeline",
           "save_vacancy_state"]

FORMAT = "ilona-match/pipeline"
FORMAT_VERSION = 2  # 2: listed ESCO URIs and codes enter the texts as labels, so a version-1 model read other texts
MANIFEST_FILE = "pipeline.json"
_LEXICAL_FILE = "lexical.json"
_IDF_FILE = "lexical_idf.npz"
_RANKER_DIR = "ranker"
_CALIBRATION_FILE = "calibration.json"
_VECTORIZERS = ("words", "chars")
# the one callable the LexicalEncoder uses as an analyzer, stored by name
_ANALYZERS: dict[str, Any] = {"str.split": str.split}
_STATE_FORMAT = "ilona-match/vacancy-state"
_STATE_MANIFEST = "vacancy_state.json"
_STATE_ARRAYS = "arrays.npz"
_STATE_VALUES = "values.json"
_STATE_RETRIEVER = "retriever"
_STATE_HISTORY = "history"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_json(path: Path, payload: Mapping[str, Any]) -> None:
    # ensure_ascii=False keeps text as UTF-8, so a byte search for a text finds it if it ever leaks
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def _vectorizer_params(vectorizer: TfidfVectorizer) -> dict[str, Any]:
    """The constructor parameters as JSON values (analyzer callables by name, dtype by its name)."""
    params = vectorizer.get_params()
    params.pop("vocabulary")  # the terms are saved from vocabulary_ (a loaded pipeline's is fixed: it saves again)
    analyzer = params["analyzer"]
    if callable(analyzer):
        names = [name for name, known in _ANALYZERS.items() if known is analyzer]
        if not names:
            raise ValueError(f"cannot save a TfidfVectorizer with analyzer {analyzer!r}: only {sorted(_ANALYZERS)}")
        params["analyzer"] = names[0]
    for key in ("preprocessor", "tokenizer"):
        if params[key] is not None:
            raise ValueError(f"cannot save a TfidfVectorizer with a custom {key}")
    params["dtype"] = np.dtype(params["dtype"]).name
    return params


def _rebuilt_vectorizer(params: Mapping[str, Any], terms: list[str], idf: np.ndarray) -> TfidfVectorizer:
    """A TfidfVectorizer that transforms exactly like the saved one."""
    if len(terms) != len(idf):
        raise ValueError(f"{len(terms)} vocabulary terms but {len(idf)} idf values")
    options = dict(params)
    if options["analyzer"] in _ANALYZERS:
        options["analyzer"] = _ANALYZERS[options["analyzer"]]
    options["dtype"] = np.dtype(options["dtype"]).type
    options["ngram_range"] = tuple(options["ngram_range"])
    vocabulary = {term: index for index, term in enumerate(terms)}
    if len(vocabulary) != len(terms):
        raise ValueError("the vocabulary repeats a term")
    vectorizer = TfidfVectorizer(vocabulary=vocabulary, **options)
    vectorizer.idf_ = idf  # the setter validates the vocabulary and builds the inner transformer
    return vectorizer


def _save_lexical(encoder: LexicalEncoder, directory: Path) -> None:
    payload: dict[str, Any] = {
        "char_ngrams": list(encoder.char_ngrams),
        "char_weight": encoder.char_weight,
        "min_df": encoder.min_df,
        "max_features": encoder.max_features,
    }
    idf: dict[str, np.ndarray] = {}
    for name in _VECTORIZERS:
        vectorizer: TfidfVectorizer = getattr(encoder, f"{name}_")
        terms = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.__getitem__)
        payload[name] = {"params": _vectorizer_params(vectorizer), "terms": terms}
        idf[name] = vectorizer.idf_
    _write_json(directory / _LEXICAL_FILE, payload)
    np.savez(directory / _IDF_FILE, **idf)


def _load_lexical(directory: Path) -> LexicalEncoder:
    payload = _read_json(directory / _LEXICAL_FILE)
    try:
        with np.load(directory / _IDF_FILE, allow_pickle=False) as arrays:
            idf = {name: arrays[name] for name in _VECTORIZERS}
        encoder = LexicalEncoder(
            char_ngrams=tuple(payload["char_ngrams"]), char_weight=float(payload["char_weight"]),
            min_df=payload["min_df"], max_features=payload["max_features"],
        )
        for name in _VECTORIZERS:
            part = payload[name]
            setattr(encoder, f"{name}_", _rebuilt_vectorizer(part["params"], list(part["terms"]), idf[name]))
    except (KeyError, TypeError, ValueError, OSError) as error:
        raise ValueError(f"{directory / _LEXICAL_FILE} or {_IDF_FILE} is corrupt: {error}") from None
    return encoder


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"saved pipeline is incomplete: {path} is missing")
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is corrupt: not valid JSON ({error})") from None
    if not isinstance(payload, dict):
        raise ValueError(f"{path} is corrupt: expected a JSON object")
    return payload


def save_pipeline(pipeline: MatchingPipeline, directory: str | Path) -> Path:
    """Write a fitted pipeline into ``directory`` (created; it must not hold files already)."""
    if not hasattr(pipeline, "lexical_"):
        raise NotFittedError("cannot save an unfitted MatchingPipeline: call fit(...) first")
    directory = Path(directory)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise FileExistsError(f"{directory} already exists and is not an empty directory")
    directory.mkdir(parents=True, exist_ok=True)
    _save_lexical(pipeline.lexical_, directory)
    files = [_LEXICAL_FILE, _IDF_FILE]
    if pipeline.ranker_ is not None:
        pipeline.ranker_.save(directory / _RANKER_DIR)
        files += sorted(p.relative_to(directory).as_posix() for p in (directory / _RANKER_DIR).iterdir())
    calibrator = getattr(pipeline, "calibrator_", None)
    if calibrator is not None:
        _write_json(directory / _CALIBRATION_FILE, calibrator.to_dict())
        files.append(_CALIBRATION_FILE)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "ilona_match_version": __version__,
        "config": pipeline.config.model_dump(mode="json"),
        "taxonomy_version": pipeline.taxonomy.version,
        "embedder_model_id": pipeline.embedder.model_id,
        "as_of": pipeline.as_of_.isoformat(),
        "training_summary": pipeline.training_summary_,
        "feature_names": list(FEATURE_NAMES),
        "ranker": _RANKER_DIR if pipeline.ranker_ is not None else None,
        "calibration": _CALIBRATION_FILE if calibrator is not None else None,
        "files": {name: _sha256(directory / name) for name in files},
    }
    _write_json(directory / MANIFEST_FILE, manifest)
    return directory


def _checked_manifest(directory: Path) -> dict[str, Any]:
    """The manifest, after checking its format and every listed file's checksum."""
    manifest = _read_json(directory / MANIFEST_FILE)
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{directory / MANIFEST_FILE} is not a version-{FORMAT_VERSION} {FORMAT} manifest "
            f"(found {manifest.get('format')!r} version {manifest.get('format_version')!r}); "
            "fit and save it again with this version of ilona-match"
        )
    files = manifest.get("files")
    if not isinstance(files, dict) or _LEXICAL_FILE not in files:
        raise ValueError(f"{directory / MANIFEST_FILE} is corrupt: no file checksums")
    for name, digest in files.items():
        path = directory / name
        if not path.is_file():
            raise FileNotFoundError(f"saved pipeline is incomplete: {path} is missing")
        if _sha256(path) != digest:
            raise ValueError(f"{path} is corrupt: its SHA-256 differs from the one in {MANIFEST_FILE}")
    return manifest


def load_pipeline(directory: str | Path, cache_dir: str | Path | None = None) -> MatchingPipeline:
    """Read a pipeline written by ``save_pipeline``; ``cache_dir`` is the embedding cache to use."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"no saved pipeline at {directory}: not a directory")
    manifest = _checked_manifest(directory)
    try:
        config = PipelineConfig.model_validate(manifest["config"])
        as_of = date.fromisoformat(manifest["as_of"])
        feature_names = tuple(manifest["feature_names"])
        summary = dict(manifest["training_summary"])
    except (KeyError, TypeError, ValidationError, ValueError) as error:
        raise ValueError(f"{directory / MANIFEST_FILE} does not fit this version of ilona-match: {error}") from None
    if feature_names != FEATURE_NAMES:
        raise ValueError(
            f"the saved pipeline was trained on other features ({len(feature_names)} vs {len(FEATURE_NAMES)} "
            "here, or another order): retrain it with this version"
        )
    pipeline = MatchingPipeline(config, cache_dir=cache_dir)
    if manifest.get("taxonomy_version") != pipeline.taxonomy.version:
        raise ValueError(
            f"the saved pipeline uses taxonomy {manifest.get('taxonomy_version')!r}, "
            f"this install has {pipeline.taxonomy.version!r}: retrain it"
        )
    try:
        model_id = pipeline.embedder.model_id
    except (ImportError, FileNotFoundError) as error:
        raise ValueError(f"the saved pipeline's embedding model cannot be loaded here: {error}") from None
    if manifest.get("embedder_model_id") != model_id:
        raise ValueError(
            f"the saved pipeline was trained with embedder {manifest.get('embedder_model_id')!r}, "
            f"this install provides {model_id!r}: retrain it or install that model"
        )
    pipeline.lexical_ = _load_lexical(directory)
    pipeline.ranker_ = LambdaRanker.load(directory / manifest["ranker"]) if manifest.get("ranker") else None
    calibration = manifest.get("calibration")
    pipeline.calibrator_ = Calibrator.from_dict(_read_json(directory / calibration)) if calibration else None
    pipeline.as_of_ = as_of
    pipeline.training_summary_ = summary
    return pipeline


def _store_fields(obj: Any, prefix: str, arrays: dict[str, np.ndarray], values: dict[str, Any]) -> dict[str, str]:
    """Each dataclass field of ``obj`` into ``arrays`` (numeric, sparse parts) or ``values`` (JSON);
    returns how each was stored, so loading rebuilds the same types."""
    kinds: dict[str, str] = {}
    for field in dataclasses.fields(obj):
        name, value = f"{prefix}{field.name}", getattr(obj, field.name)
        if dataclasses.is_dataclass(value):
            kinds[name] = "dataclass"
            kinds.update(_store_fields(value, f"{name}.", arrays, values))
        elif sparse.issparse(value):
            csr = sparse.csr_matrix(value)
            arrays.update({f"{name}.data": csr.data, f"{name}.indices": csr.indices, f"{name}.indptr": csr.indptr,
                           f"{name}.shape": np.asarray(csr.shape, np.int64)})
            kinds[name] = "csr"
        elif isinstance(value, np.ndarray) and value.dtype != object:
            arrays[name] = value
            kinds[name] = "array"
        elif isinstance(value, np.ndarray):
            values[name] = value.tolist()
            kinds[name] = "object_array"
        elif isinstance(value, list) and value and isinstance(value[0], tuple):
            values[name] = [list(item) for item in value]
            kinds[name] = "tuple_list"
        elif isinstance(value, list | int | float | str):
            values[name] = value
            kinds[name] = "value"
        else:
            raise TypeError(f"cannot store field {name} of type {type(value).__name__}")
    return kinds


def _restored_fields(cls: type, prefix: str, kinds: Mapping[str, str], arrays: Any, values: Mapping[str, Any]) -> Any:
    restored: dict[str, Any] = {}
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        name = f"{prefix}{field.name}"
        kind = kinds[name]
        if kind == "dataclass":
            restored[field.name] = _restored_fields(hints[field.name], f"{name}.", kinds, arrays, values)
        elif kind == "csr":
            parts = (arrays[f"{name}.data"], arrays[f"{name}.indices"], arrays[f"{name}.indptr"])
            restored[field.name] = sparse.csr_matrix(parts, shape=tuple(arrays[f"{name}.shape"]))
        elif kind == "array":
            restored[field.name] = arrays[name]
        elif kind == "object_array":
            column = np.empty(len(values[name]), dtype=object)
            column[:] = values[name]
            restored[field.name] = column
        elif kind == "tuple_list":
            restored[field.name] = [tuple(item) for item in values[name]]
        else:
            restored[field.name] = values[name]
    return cls(**restored)


def save_vacancy_state(state: VacancyState, directory: str | Path) -> Path:
    """Write one run's prepared vacancy side into ``directory`` (created, empty): what a worker of a
    distributed run loads once instead of profiling, embedding and indexing the vacancies again."""
    directory = Path(directory)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise FileExistsError(f"{directory} already exists and is not an empty directory")
    directory.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {"dense": state.dense, "concept": state.concept}
    values: dict[str, Any] = {}
    kinds = _store_fields(state.jobs, "jobs.", arrays, values)
    lexical = sparse.csr_matrix(state.lexical)
    arrays.update({"lexical.data": lexical.data, "lexical.indices": lexical.indices, "lexical.indptr": lexical.indptr,
                   "lexical.shape": np.asarray(lexical.shape, np.int64)})
    np.savez(directory / _STATE_ARRAYS, **arrays)
    (directory / _STATE_VALUES).write_text(json.dumps(values), encoding="utf-8")
    state.retriever.save(directory / _STATE_RETRIEVER)
    if state.history is not None:
        state.history.save(directory / _STATE_HISTORY)
    files = sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())
    _write_json(directory / _STATE_MANIFEST, {
        "format": _STATE_FORMAT, "format_version": 1, "ilona_match_version": __version__,
        "retrieval": state.retriever.config.model_dump(mode="json"),
        "index": state.retriever.index_config.model_dump(mode="json"),
        "fields": kinds, "files": {name: _sha256(directory / name) for name in files},
    })
    return directory


def load_vacancy_state(directory: str | Path) -> VacancyState:
    """Read a vacancy side written by ``save_vacancy_state``, after checking every file's SHA-256."""
    from ilona_match.matching.index import IndexConfig
    from ilona_match.matching.retrieval import RetrievalConfig

    directory = Path(directory)
    manifest = _read_json(directory / _STATE_MANIFEST)
    if manifest.get("format") != _STATE_FORMAT or manifest.get("format_version") != 1:
        raise ValueError(f"{directory / _STATE_MANIFEST} is not a version-1 {_STATE_FORMAT} manifest")
    for name, digest in manifest["files"].items():
        path = directory / name
        if not path.is_file():
            raise FileNotFoundError(f"saved vacancy state is incomplete: {path} is missing")
        if _sha256(path) != digest:
            raise ValueError(f"{path} is corrupt: its SHA-256 differs from the one in {_STATE_MANIFEST}")
    values = json.loads((directory / _STATE_VALUES).read_text(encoding="utf-8"))
    with np.load(directory / _STATE_ARRAYS, allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files}
    jobs = _restored_fields(VacancyProfiles, "jobs.", manifest["fields"], arrays, values)
    lexical = sparse.csr_matrix((arrays["lexical.data"], arrays["lexical.indices"], arrays["lexical.indptr"]),
                                shape=tuple(arrays["lexical.shape"]))
    retriever = CandidateRetriever.load(directory / _STATE_RETRIEVER, RetrievalConfig.model_validate(manifest["retrieval"]),
                                        IndexConfig.model_validate(manifest["index"]), jobs, lexical)
    history = InteractionHistory.load(directory / _STATE_HISTORY) if (directory / _STATE_HISTORY).is_dir() else None
    return VacancyState(jobs, arrays["dense"], arrays["concept"], lexical, retriever, history)
