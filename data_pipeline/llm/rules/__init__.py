"""The rules behind the built-in provider (:mod:`data_pipeline.llm.builtin`).

No model is involved: everything here is derived from identifiers, types, keys and sample
values of the real schema, deterministically.

* :mod:`.words` — identifier splitting and a small bilingual glossary (Chinese / English).
* :mod:`.comments` — table and column comments.
* :mod:`.themes` — themes from foreign-key clusters.
* :mod:`.sqlgen` — quoting, literals, and what the templates need to know about a table.
* :mod:`.templates` / :mod:`.joins` — single-table and foreign-key join templates;
  :mod:`.questions` — their wording in Chinese and English.
* :mod:`.pairs` — the candidates of a theme, interleaved and deduplicated.
* :mod:`.repair` — rule-based SQL repairs.
"""
