"""LLM providers: the interface the steps use (:mod:`.base`), an OpenAI-compatible client
(:mod:`.openai_compatible`), a built-in rule-based one (:mod:`.builtin`, rules in :mod:`.rules`)
and :func:`get_llm`, which picks one from the settings. The LLM layer imports no step."""

from data_pipeline.llm.base import LLMProvider, QuestionSQL, TableComments, Theme
from data_pipeline.llm.factory import get_llm

__all__ = ["LLMProvider", "QuestionSQL", "TableComments", "Theme", "get_llm"]
