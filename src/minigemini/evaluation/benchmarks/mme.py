"""MME in its published layout (MME_Benchmark_release_version).

    DATA/<subtask>/<image>.jpg|png + DATA/<subtask>/<image>.txt                      (flat subtasks)
    DATA/<subtask>/images/<image> + DATA/<subtask>/questions_answers_YN/<image>.txt   (the others)

Each .txt holds the image's two questions, one `question<TAB>Yes|No` per line.

Answer files: ours (one id per question) or LLaVA/MGM `model_vqa_loader` on llava_mme.jsonl, where both
questions of an image share `question_id` = "<subtask>/<image file>"; `match` pairs those rows with questions
by (subtask, .txt file, question) exactly as LLaVA's `convert_answer_to_mme.py` does.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Callable

from ..images import file_loader
from ..predictor import Decoding
from ..sample import BenchmarkScore, Sample, ScoreContext
from ..scorers.mme import COGNITION_SUBTASKS, PERCEPTION_SUBTASKS, MMEAnswer, mme_scores
from .base import SHORT_ANSWER, AnswerRows, Benchmark, PromptStyle, answer_field, predictions_for, split_own_rows
from .hub import read_hub_split, write_image

IMAGE_SUFFIXES = (".jpg", ".png", ".jpeg", ".JPG", ".PNG")
YES_NO = "Please answer yes or no."

STYLES = {
    "official": PromptStyle("official", "LLaVA llava_mme: question + short-answer instruction", Decoding(max_new_tokens=128)),
    "lmms-eval": PromptStyle("lmms-eval", "lmms-eval mme default: question + short-answer instruction", Decoding(max_new_tokens=16)),
}


def _find_image(folder: Path, stem: str) -> Path:
    for suffix in IMAGE_SUFFIXES:
        if (folder / f"{stem}{suffix}").is_file():
            return folder / f"{stem}{suffix}"
    raise FileNotFoundError(f"no image for {folder / stem}.* (tried {IMAGE_SUFFIXES}; MME names each question by its image)")


def _question_files(subtask_dir: Path) -> list[tuple[Path, Path]]:
    """(txt file, image folder) pairs of one subtask, in either published sub-layout."""
    qa_dir = subtask_dir / "questions_answers_YN"
    if qa_dir.is_dir():
        return [(t, subtask_dir / "images") for t in sorted(qa_dir.glob("*.txt"))]
    return [(t, subtask_dir) for t in sorted(subtask_dir.glob("*.txt"))]


def load(data_dir: Path, style: PromptStyle) -> list[Sample]:
    samples = []
    for subtask in PERCEPTION_SUBTASKS + COGNITION_SUBTASKS:
        if not (data_dir / subtask).is_dir():
            continue
        for txt, image_dir in _question_files(data_dir / subtask):
            image = _find_image(image_dir, txt.stem)
            for number, line in enumerate(txt.read_text(encoding="utf-8").splitlines()):
                if not line.strip():
                    continue
                question, sep, answer = line.strip().rpartition("\t")
                if not sep:
                    raise ValueError(f"{txt}:{number + 1} should be 'question<TAB>answer'")
                samples.append(
                    Sample(
                        id=f"{subtask}/{image.name}/{number}",
                        prompt=f"{question.strip()}\n{SHORT_ANSWER}",
                        load_images=file_loader(image),
                        decoding=style.decoding,
                        meta={"subtask": subtask, "image": image.name, "gt": answer.strip(), "file": txt.name, "question": question},
                    )
                )
    if not samples:
        raise FileNotFoundError(f"no MME subtask folders (e.g. {data_dir / 'existence'}) with question files found")
    return samples


def _converter_question(prompt: str, known: Callable[[str], bool]) -> str:
    """The question text `convert_answer_to_mme.py` looks up for an answer row's prompt."""
    if SHORT_ANSWER in prompt:
        prompt = prompt.replace(SHORT_ANSWER, "").strip()
    if YES_NO not in prompt:
        prompt = f"{prompt} {YES_NO}"
        if not known(prompt):
            prompt = prompt.replace(f" {YES_NO}", f"  {YES_NO}")
    return prompt


def match(samples: list[Sample], rows: AnswerRows, data_dir: Path) -> dict[str, str]:
    """Our rows by id; official rows by (subtask, <image stem>.txt, question), as convert_answer_to_mme.py."""
    found, official = split_own_rows(samples, rows)
    by_key = {(s.meta["subtask"], s.meta["file"], s.meta["question"]): s.id for s in samples}
    for number, row in official:
        question_id = str(answer_field(number, row, "question_id"))
        subtask = question_id.split("/")[0]
        file = question_id.split("/")[-1].split(".")[0] + ".txt"
        question = _converter_question(str(answer_field(number, row, "prompt")), lambda q: (subtask, file, q) in by_key)
        if (subtask, file, question) in by_key:  # other rows (a --limit run) are left out, as our own extra rows are
            found[by_key[(subtask, file, question)]] = str(answer_field(number, row, "text"))
    return found


def score(samples: list[Sample], predictions: dict[str, str], context: ScoreContext) -> BenchmarkScore:
    answers = [
        MMEAnswer(s.meta["subtask"], s.meta["image"], s.meta["gt"], p) for s, p in predictions_for(samples, predictions)
    ]
    results = mme_scores(answers)
    totals = {"perception": results.pop("perception")["score"], "cognition": results.pop("cognition")["score"]}
    return BenchmarkScore(metrics=totals, categories=results, counts={"questions": len(answers)})


def prepare(source: Path, out: Path) -> Path:
    """lmms-lab/MME (test parquet; question_id like 'code_reasoning/0020.png') -> flat published layout."""
    frame = read_hub_split(source, "test")
    lines: dict[Path, list[str]] = defaultdict(list)
    for row in frame.to_dict("records"):
        name = Path(str(row["question_id"])).name
        folder = out / str(row["category"])
        if not (folder / name).exists():
            write_image(row["image"], folder / name)
        lines[folder / f"{Path(name).stem}.txt"].append(f"{row['question']}\t{row['answer']}")
    for path, rows in lines.items():
        path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return out


BENCHMARK = Benchmark("mme", STYLES, load, score, prepare, match=match)
