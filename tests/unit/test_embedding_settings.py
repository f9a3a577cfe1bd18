"""EMBEDDING_PROVIDER: which embedder a configuration gets, and the mistakes refused."""

from __future__ import annotations

import pytest

from app_config import Config, ConfigError
from data_pipeline.training_load.embedders import (
    HashingEmbedder,
    LocalE5Embedder,
    OpenAICompatibleEmbedder,
    get_embedder,
    setting_for,
)


def _config(**env) -> Config:
    return Config.from_env({"LOAD_DEMO_SOURCE": "false", **env}, dotenv=False)


def test_the_default_is_the_local_e5_model_and_a_base_url_implies_openai_compatible():
    assert _config().embedding_provider_name == "local-e5"
    remote = _config(EMBEDDING_BASE_URL="http://127.0.0.1:9/v1", EMBEDDING_DIMENSION="1024")
    assert remote.embedding_provider_name == "openai-compatible"
    embedder = get_embedder(remote)
    assert isinstance(embedder, OpenAICompatibleEmbedder) and embedder.dimension == 1024
    hashing = _config(EMBEDDING_PROVIDER="hashing", EMBEDDING_DIMENSION="64")
    assert isinstance(get_embedder(hashing), HashingEmbedder)
    assert get_embedder(hashing).dimension == 64
    # An explicit provider wins over the base URL.
    both = _config(EMBEDDING_PROVIDER="hashing", EMBEDDING_BASE_URL="http://127.0.0.1:9/v1")
    assert isinstance(get_embedder(both), HashingEmbedder)


def test_local_e5_always_makes_384_dimensions():
    embedder = get_embedder(_config(EMBEDDING_PROVIDER="local-e5", EMBEDDING_DIMENSION="64"))
    assert isinstance(embedder, LocalE5Embedder) and embedder.dimension == 384


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"EMBEDDING_PROVIDER": "bert"}, "EMBEDDING_PROVIDER must be one of local-e5, hashing"),
        ({"EMBEDDING_PROVIDER": "openai-compatible"}, "needs EMBEDDING_BASE_URL"),
    ],
)
def test_mistakes_are_refused_naming_the_setting(env, message):
    with pytest.raises(ConfigError, match=message):
        _config(**env)


def test_the_provider_reaches_child_processes():
    config = _config(EMBEDDING_PROVIDER="hashing")
    assert config.to_env()["EMBEDDING_PROVIDER"] == "hashing"
    assert Config.from_env(config.to_env(), dotenv=False) == config


def test_messages_name_the_setting_of_an_embedder():
    assert setting_for("builtin-hashing") == "EMBEDDING_PROVIDER=hashing"
    assert setting_for(LocalE5Embedder.name) == "EMBEDDING_PROVIDER=local-e5"
    assert setting_for("openai-compatible:bge-m3") == (
        "EMBEDDING_PROVIDER=openai-compatible with EMBEDDING_MODEL=bge-m3"
    )
