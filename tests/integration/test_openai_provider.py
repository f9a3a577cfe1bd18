"""The OpenAI-compatible provider against a local server speaking the chat-completions
protocol (the real ``openai`` client runs; only the remote API is stood in for)."""

from __future__ import annotations

import json
import threading
import time

import pytest
from openai import OpenAI

from app_config import Config
from core.errors import ProviderError
from data_pipeline.llm import get_llm
from data_pipeline.llm.base import Theme
from data_pipeline.llm.openai_compatible import OpenAICompatibleLLM
from data_pipeline.schema.model import ColumnMeta, SchemaMetadata, TableMeta
from tests.fakes.openai_server import error, fake_openai_fixture, reply, slow  # noqa: F401

KEY = "sk-test-SECRET-0123456789"


def make_llm(server, **kw) -> OpenAICompatibleLLM:
    settings = {"timeout": 5.0, "max_retries": 3, "max_concurrency": 4, "backoff_base": 0.01}
    settings.update(kw)
    return OpenAICompatibleLLM(server.base_url, KEY, "fake-chat", **settings)


def orders_table() -> TableMeta:
    return TableMeta(
        "public",
        "orders",
        columns=[
            ColumnMeta("order_id", "integer", is_primary_key=True, category="integer"),
            ColumnMeta("amount", "numeric(10,2)", category="numeric", samples=[12.5, 80]),
            ColumnMeta("status", "text", category="text", samples=["paid", "open"]),
        ],
        primary_key=["order_id"],
    )


def test_well_formed_answer_and_request_shape(fake_openai):
    fake_openai.script('{"answer": 42, "text": "你好"}')
    llm = make_llm(fake_openai)
    assert llm.chat_json("system prompt", "user prompt") == {"answer": 42, "text": "你好"}
    (request,) = fake_openai.chat_requests
    assert request.body["model"] == "fake-chat"
    assert [m["role"] for m in request.messages] == ["system", "user"]
    assert request.messages[1]["content"] == "user prompt"
    assert request.headers.get("authorization") == f"Bearer {KEY}"


@pytest.mark.parametrize(
    "answer",
    [
        'Here it is:\n```json\n{"themes": [{"name": "销售"}]}\n```\nAnything else?',
        '```\n{"themes": [{"name": "销售"}]}\n```',
        'Sure! The result is {"themes": [{"name": "销售"}]} -- hope it helps {not json}',
        '<think>the user wants {json}</think>\n{"themes": [{"name": "销售"}]}',
    ],
    ids=["fenced-json", "fenced-plain", "stray-text", "think-block"],
)
def test_json_is_found_in_noisy_answers(fake_openai, answer):
    fake_openai.script(answer)
    assert make_llm(fake_openai).chat_json("s", "u") == {"themes": [{"name": "销售"}]}
    assert len(fake_openai.chat_requests) == 1


def test_malformed_json_gets_one_corrective_retry(fake_openai):
    fake_openai.script("I think the answer is {broken", '[{"question": "q", "sql": "SELECT 1"}]')
    assert make_llm(fake_openai).chat_json("s", "u") == [{"question": "q", "sql": "SELECT 1"}]
    _, second = fake_openai.chat_requests
    roles = [m["role"] for m in second.messages]
    assert roles == ["system", "user", "assistant", "user"]
    assert second.messages[2]["content"] == "I think the answer is {broken"
    assert "not valid JSON" in second.messages[3]["content"]


def test_malformed_json_twice_gives_up(fake_openai):
    fake_openai.script("no json here", "still no json")
    with pytest.raises(ProviderError) as info:
        make_llm(fake_openai).chat_json("s", "u")
    assert "127.0.0.1" in info.value.message
    assert "valid JSON" in info.value.message
    assert info.value.details["reason"] == "invalid_json"  # step 2 skips only that theme
    assert len(fake_openai.chat_requests) == 2


def test_server_errors_are_retried_then_succeed(fake_openai):
    fake_openai.script(error(500), error(502), error(503), '{"ok": true}')
    started = time.monotonic()
    assert make_llm(fake_openai, max_retries=3).chat_json("s", "u") == {"ok": True}
    assert len(fake_openai.chat_requests) == 4
    # back-off 0.01, 0.02, 0.04 s: exponential but small here
    assert time.monotonic() - started >= 0.07


def test_server_errors_until_retries_are_exhausted(fake_openai):
    fake_openai.handler = lambda req: error(500, f"upstream broke for key {KEY}")
    with pytest.raises(ProviderError) as info:
        make_llm(fake_openai, max_retries=2).chat("s", "u")
    message = info.value.message
    assert len(fake_openai.chat_requests) == 3
    assert "127.0.0.1" in message and "3 attempt" in message and "HTTP 500" in message
    assert KEY not in message and KEY not in str(info.value.details)


def test_rate_limit_is_retried_with_retry_after(fake_openai):
    fake_openai.script(error(429, "slow down", headers={"Retry-After": "0.2"}), '{"ok": 1}')
    started = time.monotonic()
    assert make_llm(fake_openai).chat_json("s", "u") == {"ok": 1}
    assert time.monotonic() - started >= 0.2
    assert len(fake_openai.chat_requests) == 2


def test_client_errors_are_not_retried_and_never_show_the_key(fake_openai):
    fake_openai.script(error(401, f"Incorrect API key provided: {KEY}"))
    with pytest.raises(ProviderError) as info:
        make_llm(fake_openai).chat("s", "u")
    assert len(fake_openai.chat_requests) == 1
    assert "HTTP 401" in info.value.message
    assert KEY not in info.value.message


def test_timeouts_are_retried(fake_openai):
    fake_openai.script(slow(1.5), '{"late": false}')
    llm = make_llm(fake_openai, timeout=0.4, max_retries=1)
    assert llm.chat_json("s", "u") == {"late": False}
    assert len(fake_openai.chat_requests) == 2


def test_timeouts_until_retries_are_exhausted(fake_openai):
    fake_openai.handler = lambda req: slow(1.5)
    started = time.monotonic()
    with pytest.raises(ProviderError) as info:
        make_llm(fake_openai, timeout=0.3, max_retries=1).chat("s", "u")
    assert "timed out" in info.value.message and "127.0.0.1" in info.value.message
    assert len(fake_openai.chat_requests) == 2
    assert time.monotonic() - started < 3


def test_unreachable_endpoint_names_the_host():
    from tests.support.server import free_port

    llm = OpenAICompatibleLLM(
        f"http://127.0.0.1:{free_port()}/v1", KEY, "m", timeout=1, max_retries=1, backoff_base=0.01
    )
    with pytest.raises(ProviderError) as info:
        llm.chat("s", "u")
    assert "unreachable" in info.value.message and "127.0.0.1" in info.value.message


def test_concurrency_is_bounded(fake_openai):
    fake_openai.handler = lambda req: reply('{"ok": true}', delay=0.25)
    llm = make_llm(fake_openai, max_concurrency=2)
    results: list = []
    threads = [
        threading.Thread(target=lambda: results.append(llm.chat_json("s", "u"))) for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert results == [{"ok": True}] * 6
    assert fake_openai.max_in_flight == 2


def test_comment_table_drops_columns_that_do_not_exist(fake_openai):
    fake_openai.script(
        json.dumps(
            {
                "table_comment": "订单表",
                "columns": {
                    "amount": "订单金额",
                    "status": "订单状态",
                    "customer_email": "客户邮箱",
                },
            },
            ensure_ascii=False,
        )
    )
    comments = make_llm(fake_openai).comment_table(orders_table(), "电商订单数据")
    assert comments.table_comment == "订单表"
    assert comments.column_comments == {"amount": "订单金额", "status": "订单状态"}
    prompt = fake_openai.chat_requests[0].prompt
    assert "Simplified Chinese" in prompt and "paid" in prompt  # language and samples given


def test_themes_and_pairs_are_parsed(fake_openai):
    schema = SchemaMetadata("shop", [orders_table()])
    fake_openai.script(
        '```json\n[{"name": "Sales", "description": "d", "tables": ["public.orders"], '
        '"entities": "order", "metrics": ["amount"]}, {"description": "no name"}]\n```',
        '{"pairs": [{"question": "How many orders?", "sql": "SELECT COUNT(*) FROM orders"}, '
        '{"question": "", "sql": "SELECT 1"}, {"question": "Total?", "sql": "SELECT SUM(x) FROM orders"}]}',
        '{"sql": "SELECT SUM(amount) FROM orders"}',
    )
    llm = make_llm(fake_openai)
    themes = llm.extract_themes(schema, "online shop", 5, "# orders")
    assert themes == [Theme("Sales", "d", ["public.orders"], ["order"], ["amount"])]
    pairs = llm.generate_pairs(themes[0], schema, "online shop", 3, "# orders")
    # returned as given (step 2 checks them), except pairs missing a question or SQL
    assert [p.question for p in pairs] == ["How many orders?", "Total?"]
    assert "English" in fake_openai.chat_requests[1].prompt
    assert llm.repair_sql("Total?", "SELECT SUM(x) FROM orders", "column x", "CREATE ...") == (
        "SELECT SUM(amount) FROM orders"
    )


def test_describe_and_get_llm_never_show_the_key(fake_openai):
    config = Config(llm_base_url=fake_openai.base_url, llm_api_key=KEY, llm_model="qwen-plus")
    llm = get_llm(config)
    assert isinstance(llm, OpenAICompatibleLLM)
    described = llm.describe()
    assert described["model"] == "qwen-plus" and described["base_url"] == fake_openai.base_url
    assert KEY not in json.dumps(described)
    assert get_llm(Config()).name == "builtin"


def test_fake_embeddings_are_deterministic_unit_vectors(fake_openai):
    client = OpenAI(base_url=fake_openai.base_url, api_key="k", max_retries=0)
    first = client.embeddings.create(model="emb", input=["服务区", "revenue"], dimensions=16)
    again = client.embeddings.create(model="emb", input="服务区", dimensions=16)
    vectors = [d.embedding for d in first.data]
    assert len(vectors) == 2 and all(len(v) == 16 for v in vectors)
    assert vectors[0] == again.data[0].embedding and vectors[0] != vectors[1]
    assert abs(sum(x * x for x in vectors[0]) - 1) < 1e-6
