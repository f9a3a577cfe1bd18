"""LLM providers: the interface, an OpenAI-compatible client and a built-in rule-based one."""

from data_pipeline.llm.base import LLMProvider, QuestionSQL, TableComments, Theme, get_llm

__all__ = ["LLMProvider", "QuestionSQL", "TableComments", "Theme", "get_llm"]
