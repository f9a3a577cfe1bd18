"""Every setting the code reads is documented: in the README's configuration table and in
``.env.example`` (and nothing is documented that the code does not read)."""

from __future__ import annotations

import re

from app_config import PROJECT_ROOT, Config


def _readme_table() -> str:
    text = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    return "\n".join(line for line in section.splitlines() if line.startswith("|"))


def _names(text: str) -> set[str]:
    return set(re.findall(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9<>]+)+\b", text))


def test_every_setting_is_in_the_readme_configuration_table():
    documented = _names(_readme_table())
    missing = [v for v in Config.setting_variables() if v not in documented]
    assert missing == [], f"README configuration table lacks {missing}"


def test_every_setting_is_in_env_example():
    text = (PROJECT_ROOT / ".env.example").read_text(encoding="utf-8")
    present = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, re.M))
    missing = [v for v in Config.setting_variables() if v not in present]
    assert missing == [], f".env.example lacks {missing}"


def test_nothing_documented_is_unknown_to_the_code():
    shown = _names(_readme_table()) - {"SOURCE_<NAME>_URL"}
    assert {v for v in shown if not Config.is_setting_variable(v)} == set()
    example = (PROJECT_ROOT / ".env.example").read_text(encoding="utf-8")
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, re.M))
    assert {v for v in listed if not Config.is_setting_variable(v)} == set()


def test_the_child_environment_round_trips_every_setting(tmp_path):
    config = Config(data_root=tmp_path, llm_api_key="sk-x", embedding_batch_size=7)
    env = config.to_env()
    assert set(env) <= set(Config.setting_variables())
    assert Config.from_env(env, dotenv=False) == config
