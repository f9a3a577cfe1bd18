"""Choosing the LLM provider from the settings."""

from __future__ import annotations

from data_pipeline.llm.base import LLMProvider
from data_pipeline.llm.builtin import BuiltinLLM
from data_pipeline.llm.openai_compatible import OpenAICompatibleLLM


def get_llm(config) -> LLMProvider:
    """The configured provider: OpenAI-compatible when ``LLM_BASE_URL`` is set, else built-in."""
    if config.llm_base_url:
        return OpenAICompatibleLLM.from_config(config)
    return BuiltinLLM()
