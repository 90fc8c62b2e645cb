"""Text replay for `demo --llm smollm2`: the pretrained LLM's own answers to ordinary questions, mixed into the
instruct stage so that the LoRA-tuned model keeps answering text in full sentences.

The demo's image questions all have one-word answers; trained on them alone, the model learns to answer
everything in one word ("Name three colours of the rainbow." -> "blue"). MGM's recipe mixes text-only
conversations into instruction tuning for the same reason. Offline there is no text corpus, so the LLM
writes its own: greedy answers of the untuned model to `REPLAY_QUESTIONS`, generated once per LLM and cached
(self-distillation). `HELD_OUT_QUESTIONS` are never trained on; the demo compares the trained model's answers
to them with the untuned model's (`compare_text_answers`).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from ..files import write_text_atomic
from .evaluate import answer_questions

REPLAY_QUESTIONS = (
    "What is the capital of Italy?",
    "Why is the sky blue?",
    "Give me three tips for staying focused while studying.",
    "What does a thermometer measure?",
    "Explain what photosynthesis is in simple terms.",
    "Write a short poem about the sea.",
    "How do I boil an egg?",
    "What is the largest planet in the solar system?",
    "Name two animals that live in the Arctic.",
    "What is the difference between weather and climate?",
    "Suggest a name for a friendly robot.",
    "How many days are there in a leap year?",
    "What is a noun? Give an example.",
    "Why do we need sleep?",
    "Describe a cat in two sentences.",
    "What are the primary colours?",
    "How can I save water at home?",
    "Who wrote Romeo and Juliet?",
    "What is the boiling point of water at sea level?",
    "Give me an idea for a weekend hobby.",
    "What is gravity?",
    "Write a friendly greeting for a birthday card.",
    "How does a bicycle work?",
    "What is the main ingredient of guacamole?",
    "Explain why exercise is good for health.",
    "What language is spoken in Brazil?",
    "List three fruits that are rich in vitamin C.",
    "What is the opposite of 'ancient'?",
    "How do plants get water?",
    "Tell me a fun fact about octopuses.",
    "What is a computer program?",
    "How should I prepare for a job interview?",
    "What causes the seasons on Earth?",
    "Summarise the story of Cinderella in two sentences.",
    "What is the freezing point of water in Fahrenheit?",
    "Why do leaves change colour in autumn?",
    "What are clouds made of?",
    "Give me a simple recipe for a fruit salad.",
    "What is the tallest mountain in the world?",
    "How do bees make honey?",
    "What does a doctor do?",
    "Recommend a way to relax after a long day.",
    "What is the sun?",
    "How do you say 'thank you' in Spanish?",
    "Why is reading books useful?",
    "What is an island?",
    "Describe the taste of a lemon.",
    "What is the purpose of a bridge?",
)

HELD_OUT_QUESTIONS = (
    "Name three colours of the rainbow.",
    "What is the capital of France?",
    "How can I make my morning routine healthier?",
    "What is a volcano?",
    "Write one sentence about the moon.",
    "Why do birds migrate?",
    "What is the largest ocean on Earth?",
    "Give me two tips for learning a new language.",
)

REPLAY_MAX_NEW_TOKENS = 96
COMPARE_MAX_NEW_TOKENS = 48


def _whole_sentences(text: str) -> str:
    """A cut-off answer up to its last finished sentence (the replay should not teach stopping mid-sentence)."""
    ends = [m.end() for m in re.finditer(r"[.!?](?=\s|$)", text)]
    return text[: ends[-1]] if ends else text


def base_answers(llm_folder: Path, questions: tuple[str, ...], *, max_new_tokens: int, cache: Path,
                 batch_size: int = 16) -> list[tuple[str, bool]]:
    """Greedy (answer, finished before `max_new_tokens`) of the untuned LLM (its own chat template) for each
    question, cached as JSON under `cache` by LLM folder, questions and length; written to a temporary file and
    renamed, so a crash never leaves a partial cache."""
    key = hashlib.sha256(json.dumps([llm_folder.name, questions, max_new_tokens]).encode()).hexdigest()[:12]
    path = cache / "text_replay" / f"{llm_folder.name}-{key}.json"
    if path.is_file():
        cached = json.loads(path.read_text())
        return list(zip(cached["answers"], cached["finished"]))
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ..quiet import quiet_transformers

    with quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(llm_folder, padding_side="left")
        model = AutoModelForCausalLM.from_pretrained(llm_folder, dtype=torch.float32).eval()
    answers, finished = [], []
    with torch.inference_mode():
        for start in range(0, len(questions), batch_size):
            chats = [[{"role": "user", "content": q}] for q in questions[start : start + batch_size]]
            batch = tokenizer.apply_chat_template(chats, add_generation_prompt=True, padding=True, return_dict=True,
                                                  return_tensors="pt")
            out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id)
            for row in out[:, batch["input_ids"].shape[1]:]:
                finished.append(tokenizer.eos_token_id in row.tolist())
                answers.append(tokenizer.decode(row, skip_special_tokens=True).strip())
    record = {"llm": llm_folder.name, "questions": list(questions), "answers": answers, "finished": finished}
    write_text_atomic(path, json.dumps(record, indent=1))
    return list(zip(answers, finished))


def write_text_replay(llm_folder: Path, out: Path, count: int, cache: Path) -> Path:
    """The first `count` replay questions with the LLM's own answers, as text-only LLaVA rows in `out`."""
    questions = REPLAY_QUESTIONS[:count]
    answers = [a if done else _whole_sentences(a)
               for a, done in base_answers(llm_folder, questions, max_new_tokens=REPLAY_MAX_NEW_TOKENS, cache=cache)]
    rows = [{"id": f"text_replay_{i}", "conversations": [{"from": "human", "value": q}, {"from": "gpt", "value": a}]}
            for i, (q, a) in enumerate(zip(questions, answers))]
    write_text_atomic(out, json.dumps(rows, indent=1, ensure_ascii=False) + "\n")
    return out


def compare_text_answers(model, processor, llm_folder: Path, cache: Path,
                         questions: tuple[str, ...] = HELD_OUT_QUESTIONS) -> dict:
    """The trained model's greedy answers to held-out text questions beside the untuned LLM's:
    {"rows": [{question, answer, base}], "mean_words", "base_mean_words", "same_start"} where `same_start`
    counts answers whose first 8 words equal the untuned model's."""
    base = [a for a, _ in base_answers(llm_folder, questions, max_new_tokens=COMPARE_MAX_NEW_TOKENS, cache=cache)]
    trained = answer_questions(model, processor, [(None, q) for q in questions], max_new_tokens=COMPARE_MAX_NEW_TOKENS)
    rows = [{"question": q, "answer": a, "base": b} for q, a, b in zip(questions, trained, base)]
    return {
        "rows": rows,
        "mean_words": sum(len(r["answer"].split()) for r in rows) / len(rows),
        "base_mean_words": sum(len(r["base"].split()) for r in rows) / len(rows),
        "same_start": sum(r["answer"].split()[:8] == r["base"].split()[:8] for r in rows),
    }
