"""The real lmms-eval 0.7.3 CLI runs a local offline task with `--model minigemini` (the adapter's proof).

lmms-eval lives in its own venv (`bash scripts/setup-lmms.sh` makes .venv-lmms; its pins clash with ours).
The tiny checkpoint's answers are random but deterministic, so the harness's answers must equal what our
own predictor says for the same question, image and decoding; the stub test (test_eval_lmms_eval_adapter.py)
covers the adapter's logic quickly.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest
from PIL import Image
from tiny_checkpoints import build_tiny_checkpoint

from minigemini.evaluation.model_predictor import ModelPredictor
from minigemini.evaluation.predictor import Decoding, EvalRequest

REPO = Path(__file__).resolve().parents[2]
LMMS_PYTHON = REPO / ".venv-lmms" / "bin" / "python"
STAMP = REPO / ".venv-lmms" / ".minigemini-lmms-setup"
MAX_NEW_TOKENS = 4

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not STAMP.is_file(), reason="lmms-eval venv absent: run `bash scripts/setup-lmms.sh`"),
]

TASK_UTILS = '''from pathlib import Path

from PIL import Image

HERE = Path(__file__).parent


def doc_to_visual(doc):
    return [Image.open(HERE / doc["image"]).convert("RGB")]


def doc_to_text(doc):
    return doc["question"]
'''

TASK_YAML = """task: tiny_vqa
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: generate_until
doc_to_visual: !function tiny_vqa_utils.doc_to_visual
doc_to_text: !function tiny_vqa_utils.doc_to_text
doc_to_target: answer
generation_kwargs:
  max_new_tokens: {max_new_tokens}
  temperature: 0
  do_sample: false
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
metadata:
  - version: 0.0
"""


def write_task(folder: Path, expected: list[str], questions: list[str]) -> None:
    """A local task next to its images: a JSON dataset (image file + bare question), doc_to_* functions, YAML."""
    docs = []
    for number, (question, answer) in enumerate(zip(questions, expected)):
        docs.append({"id": number, "image": f"img{number}.png", "question": question, "answer": answer})
    (folder / "tiny_vqa.json").write_text(json.dumps(docs))
    (folder / "tiny_vqa_utils.py").write_text(TASK_UTILS)
    (folder / "tiny_vqa.yaml").write_text(TASK_YAML.format(data=folder / "tiny_vqa.json", max_new_tokens=MAX_NEW_TOKENS))


def test_lmms_eval_cli_runs_minigemini_on_a_local_task(tmp_path):
    checkpoint = build_tiny_checkpoint(tmp_path / "tiny-mgm")
    task = tmp_path / "task"
    task.mkdir()
    colors = [(200, 30, 30), (30, 200, 30), (30, 30, 200)]
    questions = [f"What color is picture {n}?" for n in range(len(colors))]
    for number, color in enumerate(colors):
        Image.new("RGB", (40, 30), color).save(task / f"img{number}.png")
    predictor = ModelPredictor.from_pretrained(checkpoint)
    requests = [
        EvalRequest(q, [Image.open(task / f"img{n}.png").convert("RGB")], Decoding(max_new_tokens=MAX_NEW_TOKENS))
        for n, q in enumerate(questions)
    ]
    ours = predictor.predict(requests)
    # The last target is one no reply can equal, so exact_match must come out 2/3, not 0 or 1.
    write_task(task, ours[:2] + ["<never said>"], questions)

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf-home"),
           "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    command = [
        str(LMMS_PYTHON), "-m", "lmms_eval", "--model", "minigemini", "--model_args", f"pretrained={checkpoint}",
        "--tasks", "tiny_vqa", "--include_path", str(task), "--batch_size", "1", "--log_samples",
        "--output_path", str(tmp_path / "out"),
    ]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    results = json.loads(next((tmp_path / "out").rglob("*_results.json")).read_text())
    assert results["config"]["model"] == "minigemini"
    assert results["n-samples"]["tiny_vqa"] == {"original": 3, "effective": 3}
    assert results["results"]["tiny_vqa"]["exact_match,none"] == pytest.approx(2 / 3)
    samples = [json.loads(line) for line in next((tmp_path / "out").rglob("*_samples_tiny_vqa.jsonl")).read_text().splitlines()]
    by_doc = {s["doc_id"]: s for s in samples}
    assert [by_doc[n]["filtered_resps"] for n in range(3)] == ours  # the harness got exactly our answers
    assert [by_doc[n]["input"] for n in range(3)] == questions  # the bare question; the adapter adds <image>
