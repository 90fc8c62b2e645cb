"""The generation-data builder against a real OpenAI-compatible HTTP server on 127.0.0.1."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

import minigemini.data.gen_instructions as gi
from minigemini.data.cli import app

SRC_DIR = Path(gi.__file__).parents[2]


class FakeLLM(ThreadingHTTPServer):
    """Answers chat completions; what it answers depends on the `[tag]` in the source text."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: Counter = Counter()
        self.queries: list[str] = []
        self.hang_reached = threading.Event()
        self.release = threading.Event()
        self.slow_seconds = 3.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


def reply_for(query: str, server: FakeLLM) -> tuple[str, str]:
    """(content, finish_reason) for one query."""
    source = re.search(r"SRC\d+", query).group(0)
    tag = re.search(r"\[(\w+)\]", query.split("Image description:")[-1].split("Conversation:")[-1]).group(1)
    recaption = '"query" and "prompt"' in query
    good = {"prompt": f"{source.lower()}, a lighthouse at dusk, cinematic, highly detailed"}
    if recaption:
        good = {"query": f"Draw {source} for me.", **good}
    if tag == "hang":
        server.hang_reached.set()
        server.release.wait(60)
    if tag == "slow":
        time.sleep(server.slow_seconds)
    replies = {
        "badjson": "Sure! Here is the prompt: a lighthouse at dusk",
        "wrongkeys": json.dumps({"caption": "a lighthouse"}),
        "markup": json.dumps({k: f"<h>{v}</h>" for k, v in good.items()}),
        "empty": json.dumps({k: " " for k in good}),
        "fenced": "```json\n" + json.dumps(good) + "\n```",
        "chatty": "Here you go:\n" + json.dumps(good),
    }
    if tag == "truncated":
        return json.dumps(good)[:20], "length"
    return replies.get(tag, json.dumps(good)), "stop"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        assert self.path == "/v1/chat/completions", self.path
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        query = body["messages"][-1]["content"]
        self.server.queries.append(query)
        self.server.requests[re.search(r"SRC\d+", query).group(0)] += 1
        content, finish = reply_for(query, self.server)
        payload = json.dumps({
            "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "finish_reason": finish, "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout or kill)
            pass


@pytest.fixture
def llm():
    server = FakeLLM()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()


def settings(server: FakeLLM, **kw) -> gi.ChatSettings:
    return gi.ChatSettings(base_url=server.url, model="tiny", api_key="EMPTY", **{"max_retries": 0, **kw})


def write_captions(path: Path, tags: list[str]) -> Path:
    rows = [{"id": f"c{i}", "caption": f"SRC{i} A tall white lighthouse on rocks [{tag}]."} for i, tag in enumerate(tags)]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_recaption_rows_carry_gen_trigger_and_h_prompt_and_each_query_has_5_prompts_3_requests(llm, tmp_path):
    src = write_captions(tmp_path / "captions.jsonl", ["ok", "fenced"])
    out = tmp_path / "gen.json"
    counts = gi.build_generation_data(src, out, "recaption", settings(llm), progress=False)
    assert counts["ok"] == 2
    rows = json.loads(out.read_text())
    assert rows[0] == {"id": "gen_recaption_c0", "conversations": [
        {"from": "human", "value": "Draw SRC0 for me. <GEN>"},
        {"from": "gpt", "value": "<h>src0, a lighthouse at dusk, cinematic, highly detailed</h>"},
    ]}
    examples = llm.queries[0].split("Examples of such requests:")[1]
    assert examples.split("2.")[0].count("\n- ") == 3
    assert examples.split("Examples of good prompts:")[1].split("Image description")[0].count("\n- ") == 5


def test_user_example_files_join_the_default_pool(llm, tmp_path):
    mine = tmp_path / "mine.txt"
    mine.write_text("# comment\n" + "\n".join(f"MYPROMPT{i}, oil painting" for i in range(200)) + "\n")
    src = write_captions(tmp_path / "captions.jsonl", ["ok"])
    gi.build_generation_data(src, tmp_path / "gen.json", "recaption", settings(llm), sd_examples=[mine], progress=False)
    assert "MYPROMPT" in llm.queries[0]


def test_malformed_replies_are_filtered_and_counted_by_reason(llm, tmp_path):
    tags = ["ok", "badjson", "wrongkeys", "markup", "empty", "truncated", "chatty", "fenced"]
    src = write_captions(tmp_path / "captions.jsonl", tags)
    out = tmp_path / "gen.json"
    counts = gi.build_generation_data(src, out, "recaption", settings(llm), progress=False)
    assert {k: v for k, v in counts.items() if v} == {
        "ok": 2, "not_json": 2, "wrong_keys": 1, "markup_in_field": 1, "empty_field": 1, "truncated": 1,
    }
    assert [r["id"] for r in json.loads(out.read_text())] == ["gen_recaption_c0", "gen_recaption_c7"]


def test_a_timeout_is_counted_and_retried_on_the_next_run(llm, tmp_path):
    src = write_captions(tmp_path / "captions.jsonl", ["ok", "slow", "badjson"])
    out = tmp_path / "gen.json"
    counts = gi.build_generation_data(src, out, "recaption", settings(llm, timeout=0.5), progress=False)
    assert (counts["ok"], counts["timeout"], counts["not_json"]) == (1, 1, 1)
    llm.slow_seconds = 0.0
    counts = gi.build_generation_data(src, out, "recaption", settings(llm, timeout=5), progress=False)
    assert (counts["ok"], counts["timeout"], counts["not_json"], counts["resumed"]) == (2, 0, 1, 2)
    assert llm.requests == {"SRC0": 1, "SRC1": 2, "SRC2": 1}
    assert len(json.loads(out.read_text())) == 2


def test_killed_run_resumes_without_duplicating_or_losing_rows(llm, tmp_path):
    src = write_captions(tmp_path / "captions.jsonl", ["ok", "ok", "ok", "hang", "ok", "ok"])
    out = tmp_path / "gen.json"
    cmd = [sys.executable, "-m", "minigemini.data.cli", "gen-instructions", str(src), str(out),
           "--mode", "recaption", "--base-url", llm.url, "--model", "tiny", "--concurrency", "1"]
    env = {**os.environ, "OPENAI_API_KEY": "EMPTY", "PYTHONPATH": str(SRC_DIR)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert llm.hang_reached.wait(120), "the builder never reached the hanging source"
        progress = out.with_name("gen.json.progress.jsonl")
        deadline = time.monotonic() + 30  # the c2 record may land just after the c3 request goes out
        while time.monotonic() < deadline and (not progress.exists() or len(progress.read_text().splitlines()) < 3):
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert [json.loads(line)["source_id"] for line in progress.read_text().splitlines()] == ["c0", "c1", "c2"]
    assert not out.exists()
    with progress.open("a") as f:
        f.write('{"source_id": "c4", "status": "ok", "ro')  # a record torn by the kill
    llm.release.set()
    counts = gi.build_generation_data(src, out, "recaption", settings(llm), concurrency=2, progress=False)
    assert (counts["ok"], counts["resumed"]) == (6, 3)
    ids = [r["id"] for r in json.loads(out.read_text())]
    assert ids == [f"gen_recaption_c{i}" for i in range(6)]
    assert all(llm.requests[f"SRC{i}"] == 1 for i in (0, 1, 2, 4, 5))


def test_context_mode_adds_gen_to_the_last_user_turn_and_the_prompt_to_the_answer(llm, tmp_path):
    rows = [
        {"id": "lima1", "conversations": ["SRC0 How do I plan a garden? [ok]", "Start with sun and soil."]},
        {"id": "oa", "messages": [{"role": "system", "content": "be nice"},
                                  {"role": "user", "content": "SRC1 Tell me about owls [ok]"},
                                  {"role": "assistant", "content": "Owls hunt at night."},
                                  {"role": "user", "content": "unanswered"}]},
        {"id": "broken", "conversations": [{"from": "gpt", "value": "no user turn"}]},
    ]
    src = tmp_path / "convs.json"
    src.write_text(json.dumps(rows))
    out = tmp_path / "ctx.json"
    counts = gi.build_generation_data(src, out, "context", settings(llm), progress=False)
    assert (counts["ok"], counts["bad_source"]) == (2, 1)
    owl = json.loads(out.read_text())[1]
    assert owl["conversations"] == [
        {"from": "human", "value": "SRC1 Tell me about owls [ok] <GEN>"},
        {"from": "gpt", "value": "Owls hunt at night.\n<h>src1, a lighthouse at dusk, cinematic, highly detailed</h>"},
    ]


def test_parse_reply_accepts_only_the_requested_json():
    assert gi.parse_reply('{"prompt": " a  cat "}', "context") == {"prompt": "a cat"}
    for reply, reason in [(None, "empty_reply"), ("[1]", "wrong_keys"), ('{"prompt": "x", "extra": 1}', "wrong_keys"),
                          ('{"prompt": 3}', "empty_field"), ('{"prompt": "' + "word " * 200 + '"}', "too_long")]:
        with pytest.raises(gi.ReplyError) as err:
            gi.parse_reply(reply, "context")
        assert err.value.reason == reason


def test_cli_names_the_missing_api_key_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("MY_KEY", raising=False)
    src = write_captions(tmp_path / "captions.jsonl", ["ok"])
    result = CliRunner().invoke(app, ["gen-instructions", str(src), str(tmp_path / "o.json"), "--mode", "recaption",
                                      "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--api-key-env", "MY_KEY"])
    assert result.exit_code != 0
    assert "MY_KEY" in result.output


def test_colliding_ids_are_all_asked_once_and_keys_survive_edits_of_the_input(llm, tmp_path):
    rows = [{"id": "x", "caption": "SRC0 A lighthouse [ok]."}, {"id": "x", "caption": "SRC1 A lighthouse [ok]."},
            {"id": "x#2", "caption": "SRC2 A lighthouse [ok]."}, {"caption": "SRC3 A lighthouse [ok]."}]
    src = tmp_path / "captions.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "gen.json"
    counts = gi.build_generation_data(src, out, "recaption", settings(llm), progress=False)
    assert counts["ok"] == 4 and llm.requests == {f"SRC{i}": 1 for i in range(4)}
    ids = [r["id"] for r in json.loads(out.read_text())]
    assert len(set(ids)) == 4 and ids[2:] == ["gen_recaption_x#2", "gen_recaption_line4"]

    # insert a new first row, drop SRC2 and edit SRC3: only the new and the edited sources are asked
    edited = [{"caption": "SRC4 A new one [ok]."}, rows[0], rows[1], {"caption": "SRC3 A lighthouse, edited [ok]."}]
    src.write_text("".join(json.dumps(r) + "\n" for r in edited))
    counts = gi.build_generation_data(src, out, "recaption", settings(llm), progress=False)
    assert (counts["ok"], counts["resumed"]) == (4, 2)
    assert llm.requests == {"SRC0": 1, "SRC1": 1, "SRC2": 1, "SRC3": 2, "SRC4": 1}
    assert len({r["id"] for r in json.loads(out.read_text())}) == 4


def test_identical_sources_are_distinct_sources():
    first, second = gi.source_key("x", "a cat", 1), gi.source_key("x", "a cat", 2)
    assert first != second and first.split("-")[0] == second.split("-")[0]


def test_a_second_run_on_the_same_output_is_refused_naming_the_pid_and_a_stale_lock_is_taken_over(llm, tmp_path):
    src = write_captions(tmp_path / "captions.jsonl", ["hang", "ok"])
    out = tmp_path / "gen.json"
    first = threading.Thread(target=gi.build_generation_data, args=(src, out, "recaption", settings(llm)),
                             kwargs={"concurrency": 1, "progress": False})
    first.start()
    assert llm.hang_reached.wait(60)
    args = ["gen-instructions", str(src), str(out), "--mode", "recaption", "--base-url", llm.url, "--model", "tiny"]
    refused = CliRunner().invoke(app, args, env={"OPENAI_API_KEY": "EMPTY"})
    assert refused.exit_code == 1
    assert f"pid {os.getpid()}" in refused.output and len(refused.output.strip().splitlines()) == 1
    llm.release.set()
    first.join(30)
    assert not out.with_name("gen.json.lock").exists()

    # a lock file left by a killed run (its pid is gone, the kernel dropped its lock) does not block the next run
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out.with_name("gen.json.lock").write_text(f"{dead.pid}\n")
    assert CliRunner().invoke(app, args, env={"OPENAI_API_KEY": "EMPTY"}).exit_code == 0
