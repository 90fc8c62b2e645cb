"""Build MGM's pure-text generation data (paper §3.3, appendix A) with any OpenAI-compatible LLM.

Two tasks:
- `recaption`: from a descriptive caption, infer a short user query and an SD-style prompt;
  row = human `query <GEN>`, gpt `<h>prompt</h>`.
- `context`: from a real conversation, write a prompt for an image that fits it; the last human
  turn gets ` <GEN>` and the last gpt answer gets `\\n<h>prompt</h>`.

Each query shows 5 example SD prompts and 3 example user requests, sampled per source (seeded)
from the user's files plus the defaults in `gen_examples/`. Replies must be a JSON object with
exactly the requested keys; failures are counted by reason. Progress is an append-only JSONL
(`OUT.progress.jsonl`, one record per attempt, keyed by source key), so a killed run resumes
without duplicates or losses; the final LLaVA JSON is written atomically at the end. One run at a
time may write an output (`OUT.lock`, see `output_lock`).

A source's key is a hash of its `id` field and its content plus an occurrence index among identical
(id, content) pairs: `<16 hex>-1`, `<16 hex>-2`. It is unique, and stable when other sources are
added, removed or reordered; editing a source's text gives it a new key, so it is asked again.
The row id is `gen_<mode>_<id>`, where `<id>` is the `id` field (else `line<N>`), followed by
`.<key>` when several sources share that id.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Sequence

from tqdm import tqdm

from ..files import write_text_atomic
from ..generation.markup import add_gen_trigger, wrap_prompt
from .llava import iter_records
from .output_lock import output_lock

Mode = Literal["recaption", "context"]
EXAMPLES_DIR = Path(__file__).with_name("gen_examples")
NUM_SD_EXAMPLES, NUM_QUERY_EXAMPLES = 5, 3
KEYS: dict[str, tuple[str, ...]] = {"recaption": ("query", "prompt"), "context": ("prompt",)}
MAX_WORDS = {"query": 40, "prompt": 120}
TRANSIENT = ("timeout", "connection_error", "http_")
_MARKUP = re.compile(r"</?h>|<GEN>|<image>", re.IGNORECASE)
_FENCE = re.compile(r"\A```(?:json)?\s*\n(.*)\n```\Z", re.DOTALL)
_SLOT = re.compile(r"\{(queries|sd_prompts|source)\}")
_ROLES = {"human": "human", "user": "human", "prompter": "human", "gpt": "gpt", "assistant": "gpt"}


class ReplyError(ValueError):
    """A reply that does not follow the requested format; `reason` is the count key."""

    def __init__(self, reason: str, message: str = ""):
        super().__init__(message or reason)
        self.reason = reason


@dataclass(frozen=True)
class Source:
    """One input: a caption (recaption) or a list of {"from", "value"} turns (context).

    `key` identifies it in the progress file (see the module docstring); `id` names its row."""

    id: str
    content: str | list[dict[str, str]]
    key: str


@dataclass(frozen=True)
class ChatSettings:
    """How to reach the OpenAI-compatible endpoint."""

    base_url: str
    model: str
    api_key: str
    timeout: float = 60.0
    max_retries: int = 2
    temperature: float = 0.7
    max_tokens: int = 512


def _example_text(item: Any, where: str) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, dict) and isinstance(item.get("prompt", item.get("text")), str):
        return item.get("prompt", item.get("text"))
    raise ValueError(f"{where}: expected a string or an object with 'prompt' or 'text', got {item!r:.80}")


def read_examples(paths: Sequence[Path], default: Path) -> list[str]:
    """Example strings from `.txt` (one per line, `#` comments), `.json` or `.jsonl` files, plus defaults."""
    pool: list[str] = []
    for path in [default, *paths]:
        if not Path(path).is_file():
            raise FileNotFoundError(f"Example file {path} does not exist.")
        if Path(path).suffix in (".json", ".jsonl"):
            pool += [_example_text(obj, f"{path}:{line}") for line, obj in iter_records(path)]
        else:
            pool += [ln for ln in Path(path).read_text(encoding="utf-8").splitlines() if not ln.startswith("#")]
    return list(dict.fromkeys(s.strip() for s in pool if s.strip()))


def _turns(obj: dict) -> list[dict[str, str]]:
    """LLaVA `conversations`, OpenAI `messages`, or LIMA's alternating string list, as LLaVA turns."""
    raw = obj.get("conversations", obj.get("messages"))
    if not isinstance(raw, list):
        return []
    if all(isinstance(t, str) for t in raw):
        return [{"from": ("human", "gpt")[i % 2], "value": t} for i, t in enumerate(raw)]
    turns = []
    for t in raw:
        if not isinstance(t, dict):
            return []
        role = _ROLES.get(str(t.get("from", t.get("role"))).lower())
        if role is None:  # system prompts are not part of the dialogue
            continue
        turns.append({"from": role, "value": str(t.get("value", t.get("content", "")))})
    return turns


def _caption(obj: dict) -> str:
    """`caption`/`text` field, else the first gpt turn of a LLaVA caption row."""
    if isinstance(obj.get("caption") or obj.get("text"), str):
        return (obj.get("caption") or obj.get("text")).strip()
    return next((t["value"].strip() for t in _turns(obj) if t["from"] == "gpt"), "")


def source_key(given_id: Any, content: Any, occurrence: int) -> str:
    """`<sha256 of (id field, content), 16 hex>-<occurrence>`: unique, and independent of other sources."""
    blob = json.dumps([given_id, content], ensure_ascii=False, sort_keys=True).encode("utf-8")
    return f"{hashlib.sha256(blob).hexdigest()[:16]}-{occurrence}"


def read_sources(path: str | Path, mode: Mode) -> tuple[list[Source], Counter]:
    """Sources with unique, edit-stable keys and unique ids (see the module docstring), and skip counts."""
    found, skipped, seen = [], Counter(), Counter()
    for line, obj in iter_records(path):
        if not isinstance(obj, dict):
            skipped["bad_source"] += 1
            continue
        if mode == "recaption":
            content: Any = _caption(obj)
        else:
            content = _turns(obj)
            while content and content[-1]["from"] != "gpt":
                content = content[:-1]
            ok = content and all(t["from"] == ("human", "gpt")[i % 2] for i, t in enumerate(content))
            content = content if ok else None
        if not content:
            skipped["bad_source"] += 1
            continue
        given = obj.get("id")
        key = source_key(given, content, 1)
        seen[key] += 1
        found.append((str(given if given is not None else f"line{line}"), content, source_key(given, content, seen[key])))
    names = Counter(name for name, _, _ in found)
    sources = [Source(name if names[name] == 1 else f"{name}.{key}", content, key) for name, content, key in found]
    return sources, skipped


def build_query(template: str, source: Source, sd_pool: list[str], query_pool: list[str], seed: int) -> str:
    """Fill the task template with this source and its seeded sample of examples."""
    rng = random.Random(f"{seed}:{source.id}")
    sd = rng.sample(sd_pool, min(NUM_SD_EXAMPLES, len(sd_pool)))
    queries = rng.sample(query_pool, min(NUM_QUERY_EXAMPLES, len(query_pool)))
    if isinstance(source.content, str):
        text = source.content
    else:
        text = "\n".join(f"{'User' if t['from'] == 'human' else 'Assistant'}: {t['value']}" for t in source.content)
    slots = {"sd_prompts": "\n".join(f"- {s}" for s in sd), "queries": "\n".join(f"- {q}" for q in queries), "source": text}
    return _SLOT.sub(lambda m: slots[m.group(1)], template)


def parse_reply(reply: str | None, mode: Mode) -> dict[str, str]:
    """The requested fields, or `ReplyError` (not_json, wrong_keys, empty_field, markup_in_field, too_long)."""
    text = (reply or "").strip()
    if not text:
        raise ReplyError("empty_reply")
    fenced = _FENCE.match(text)
    try:
        obj = json.loads(fenced.group(1) if fenced else text)
    except json.JSONDecodeError as err:
        raise ReplyError("not_json", str(err)) from None
    if not isinstance(obj, dict) or set(obj) != set(KEYS[mode]):
        raise ReplyError("wrong_keys", f"expected keys {KEYS[mode]}")
    fields = {}
    for key in KEYS[mode]:
        value = obj[key]
        if not isinstance(value, str) or not value.strip():
            raise ReplyError("empty_field", key)
        if _MARKUP.search(value):
            raise ReplyError("markup_in_field", key)
        if len(value.split()) > MAX_WORDS[key]:
            raise ReplyError("too_long", key)
        fields[key] = " ".join(value.split())
    return fields


def make_row(source: Source, fields: dict[str, str], mode: Mode) -> dict[str, Any]:
    """The LLaVA row: `<GEN>` on the human turn, `<h>prompt</h>` in the gpt answer."""
    if mode == "recaption":
        conversations = [
            {"from": "human", "value": add_gen_trigger(fields["query"])},
            {"from": "gpt", "value": wrap_prompt(fields["prompt"])},
        ]
    else:
        conversations = [dict(t) for t in source.content]
        conversations[-2]["value"] = add_gen_trigger(conversations[-2]["value"])
        conversations[-1]["value"] += "\n" + wrap_prompt(fields["prompt"])
    return {"id": f"gen_{mode}_{source.id}", "conversations": conversations}


def ask(client: Any, settings: ChatSettings, query: str) -> tuple[str | None, str | None]:
    """(reply text, finish reason) from one chat completion; API errors propagate."""
    response = client.chat.completions.create(
        model=settings.model,
        messages=[{"role": "user", "content": query}],
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
    )
    if not response.choices:
        return None, None
    return response.choices[0].message.content, response.choices[0].finish_reason


def attempt(client: Any, settings: ChatSettings, query: str, source: Source, mode: Mode) -> dict[str, Any]:
    """One progress record: `{"source_id", "key", "status": "ok", "row"}` or `{..., "failed", "reason"}`."""
    import openai

    record = {"source_id": source.id, "key": source.key}
    try:
        reply, finish = ask(client, settings, query)
        if finish == "length":
            raise ReplyError("truncated")
        row = make_row(source, parse_reply(reply, mode), mode)
    except ReplyError as err:
        return {**record, "status": "failed", "reason": err.reason}
    except openai.APITimeoutError:
        return {**record, "status": "failed", "reason": "timeout"}
    except openai.APIConnectionError:
        return {**record, "status": "failed", "reason": "connection_error"}
    except openai.APIStatusError as err:
        return {**record, "status": "failed", "reason": f"http_{err.status_code}"}
    return {**record, "status": "ok", "row": row}


def read_progress(path: Path) -> dict[str, dict[str, Any]]:
    """Latest record per source key; a torn last line (from a kill) is cut off the file.

    Records without a key (written before keys existed) are ignored: their sources are asked again."""
    if not path.exists():
        return {}
    raw = path.read_bytes()
    complete = raw[: raw.rfind(b"\n") + 1]
    if len(complete) != len(raw):
        path.write_bytes(complete)
    latest = {}
    for line in complete.decode("utf-8").splitlines():
        record = json.loads(line)
        if "key" in record:
            latest[record["key"]] = record
    return latest


def is_done(record: dict[str, Any] | None, retry_failed: bool) -> bool:
    """Finished records are skipped on resume; transient API failures are always retried."""
    if record is None:
        return False
    if record["status"] == "ok":
        return True
    return not retry_failed and not record["reason"].startswith(TRANSIENT)


def build_generation_data(
    sources_path: str | Path,
    output: str | Path,
    mode: Mode,
    settings: ChatSettings,
    *,
    sd_examples: Sequence[Path] = (),
    query_examples: Sequence[Path] = (),
    seed: int = 0,
    concurrency: int = 4,
    limit: int | None = None,
    retry_failed: bool = False,
    progress: bool = True,
) -> Counter:
    """Query the LLM for every unfinished source and write the LLaVA JSON; returns final counts.

    Counts cover the whole output (earlier runs included): `ok`, one key per failure reason,
    `bad_source` for unusable inputs, and `resumed` for sources finished by an earlier run.
    Raises `OutputLocked` while another run writes the same output.
    """
    try:
        from openai import OpenAI
    except ImportError as err:
        raise ImportError("gen-instructions needs the openai client: pip install 'minigemini[eval]'") from err

    if mode not in KEYS:
        raise ValueError(f"mode must be 'recaption' or 'context', not {mode!r}")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with output_lock(output, "gen-instructions"):
        template = (EXAMPLES_DIR / f"{mode}_prompt.txt").read_text(encoding="utf-8")
        sd_pool = read_examples(sd_examples, EXAMPLES_DIR / "sd_prompts.txt")
        query_pool = read_examples(query_examples, EXAMPLES_DIR / "queries.txt")
        sources, counts = read_sources(sources_path, mode)
        sources = sources[:limit] if limit is not None else sources
        progress_path = output.with_name(output.name + ".progress.jsonl")
        latest = read_progress(progress_path)
        todo = [s for s in sources if not is_done(latest.get(s.key), retry_failed)]
        counts["resumed"] = len(sources) - len(todo)
        client = OpenAI(base_url=settings.base_url, api_key=settings.api_key, timeout=settings.timeout,
                        max_retries=settings.max_retries)
        pool = ThreadPoolExecutor(max(1, concurrency))
        try:
            with progress_path.open("a", encoding="utf-8") as log:
                futures = [
                    pool.submit(attempt, client, settings, build_query(template, s, sd_pool, query_pool, seed), s, mode)
                    for s in todo
                ]
                for future in tqdm(as_completed(futures), total=len(futures), desc=f"gen-{mode}", disable=not progress):
                    record = future.result()
                    latest[record["key"]] = record
                    log.write(json.dumps(record, ensure_ascii=False) + "\n")
                    log.flush()
        finally:  # on Ctrl-C, drop queued queries instead of finishing them unrecorded
            pool.shutdown(wait=False, cancel_futures=True)
        rows = []
        for s in sources:
            record = latest.get(s.key)
            if record is None:
                continue
            counts["ok" if record["status"] == "ok" else record["reason"]] += 1
            if record["status"] == "ok":
                rows.append({**record["row"], "id": f"gen_{mode}_{s.id}"})  # today's id, unique among today's sources
        write_text_atomic(output, json.dumps(rows, ensure_ascii=False, indent=1))
        return counts
