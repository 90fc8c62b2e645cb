"""End to end: hub parquet -> prepare -> published layout -> run with a scripted predictor -> scores."""

import json

import pytest

from minigemini.evaluation import get_benchmark, run_benchmark, score_predictions
from minigemini.evaluation.answer_file import read_answers
from minigemini.evaluation.benchmarks.base import PromptStyle

from eval_helpers import ScriptedPredictor


def gold_answer_of(bench: str, meta: dict) -> str:
    if bench == "textvqa":
        return meta["answers"][0]
    if bench == "mme":
        return meta["gt"]
    if bench == "pope":
        return meta["label"]
    if bench == "mmmu" and isinstance(meta["answer"], list):
        return meta["answer"][0]
    return meta["answer"]


def oracle(bench: str, data_dir, protocol: str = "official") -> ScriptedPredictor:
    benchmark = get_benchmark(bench)
    samples = benchmark.load(data_dir, benchmark.style(protocol))
    answers = {s.prompt: gold_answer_of(bench, s.meta) for s in samples}
    return ScriptedPredictor(lambda prompt: answers[prompt])


EXPECTED = {
    "textvqa": ({"accuracy": 100.0}, 2),
    "mme": ({"perception": 200.0, "cognition": 200.0}, 4),
    "mmbench": ({"circular": 100.0, "single_pass": 100.0}, 5),
    "mmmu": ({"accuracy": 100.0}, 3),
    "pope": ({"accuracy": 100.0, "precision": 100.0, "recall": 100.0, "f1": 100.0, "yes_ratio": 50.0}, 4),
    "gqa": ({"accuracy": 100.0}, 2),
}


@pytest.mark.parametrize("bench", sorted(EXPECTED))
def test_every_sample_is_predicted_once_and_scored(bench, prepared, tmp_path):
    data = prepared(bench)
    predictor = oracle(bench, data)
    record = run_benchmark(bench, predictor, data, tmp_path / "out", batch_size=2, progress=False)
    metrics, passes = EXPECTED[bench]
    assert record["metrics"] == pytest.approx(metrics)
    assert len(predictor.asked) == passes
    rows = read_answers(tmp_path / "out" / f"{bench}_answers.jsonl")
    assert len(rows) == passes
    assert {r["model_id"] for r in rows.values()} == {"scripted-model"}
    saved = json.loads((tmp_path / "out" / f"{bench}_results.json").read_text())
    assert saved["model"] == "scripted-model"
    assert saved["protocol"]["name"] == "official"
    assert saved["protocol"]["decoding"] == get_benchmark(bench).style("official").decoding.as_dict()


@pytest.mark.parametrize("bench", sorted(EXPECTED))
def test_rescoring_a_predictions_file_needs_no_model(bench, prepared, tmp_path):
    data = prepared(bench)
    run_benchmark(bench, oracle(bench, data), data, tmp_path / "out", progress=False)
    record = score_predictions(bench, data, tmp_path / "out" / f"{bench}_answers.jsonl", tmp_path / "rescored", show=False)
    assert record["metrics"] == pytest.approx(EXPECTED[bench][0])


def test_textvqa_official_prompt_has_ocr_line_and_lmms_eval_prompt_has_none(prepared):
    data = prepared("textvqa")
    bench = get_benchmark("textvqa")
    official = {s.id: s.prompt for s in bench.load(data, bench.style("official"))}
    lmms = {s.id: s.prompt for s in bench.load(data, bench.style("lmms-eval"))}
    suffix = "\nAnswer the question using a single word or phrase."
    assert official["1"] == "what brand is this?\nReference OCR token: NIKE, just" + suffix
    assert official["2"] == "how many bottles?" + suffix
    assert lmms["1"] == "What brand is this?" + suffix


def test_mmbench_prompts_follow_llava_single_pred_format_and_rotate_options(prepared):
    data = prepared("mmbench")
    samples = {s.id: s for s in get_benchmark("mmbench").load(data, get_benchmark("mmbench").style("official"))}
    assert samples["1"].prompt == (
        "Look closely.\nWhat color is it?\nA. red\nB. blue\nAnswer with the option's letter from the given choices directly."
    )
    rotated = samples["1000000"]
    assert rotated.meta["options"] == {"A": "dog", "B": "bird", "C": "cat"}
    assert rotated.meta["answer"] == "A"  # "dog" moved from B to A


def test_mmmu_official_uses_image_1_and_beam_sampling_while_lmms_eval_uses_cited_images(prepared, tmp_path):
    data = prepared("mmmu")
    bench = get_benchmark("mmmu")
    official = {s.id: s for s in bench.load(data, bench.style("official"))}
    assert official["validation_Art_1"].prompt == (
        "Which style is <image 1>?\n\n(A) Baroque\n(B) Cubism\n\n\nAnswer with the option's letter from the given choices directly."
    )
    assert official["validation_Art_2"].prompt == "How many figures in <image 1>?\n\nAnswer the question using a single word or phrase."
    decoding = official["validation_Math_1"].decoding
    assert (decoding.num_beams, decoding.do_sample, decoding.temperature, decoding.max_new_tokens, decoding.seed) == (5, True, 1.0, 128, 42)
    assert len(official["validation_Math_1"].load_images()) == 1
    lmms = {s.id: s for s in bench.load(data, bench.style("lmms-eval"))}
    assert len(lmms["validation_Math_1"].load_images()) == 2
    assert lmms["validation_Art_1"].prompt.startswith("Which style is <image 1>?\nA. Baroque\nB. Cubism\n\n")


def test_wrong_answers_lower_the_score(prepared, tmp_path):
    data = prepared("gqa")
    record = run_benchmark("gqa", ScriptedPredictor(lambda p: "Yes." if "sky" in p else "right"), data, tmp_path, progress=False)
    assert record["metrics"]["accuracy"] == pytest.approx(50.0)
    assert record["categories"] == {"query": {"accuracy": 0.0}, "verify": {"accuracy": 100.0}}


def test_unknown_protocol_and_benchmark_names_are_clear_errors(prepared, tmp_path):
    with pytest.raises(ValueError, match="choose one of"):
        run_benchmark("gqa", ScriptedPredictor(str), prepared("gqa"), tmp_path, protocol="vlmevalkit")
    with pytest.raises(ValueError, match="unknown benchmark 'seed'"):
        run_benchmark("seed", ScriptedPredictor(str), tmp_path, tmp_path)


def test_missing_layout_files_name_the_path_and_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="TextVQA_0.5.1_val.json.*eval prepare"):
        run_benchmark("textvqa", ScriptedPredictor(str), tmp_path, tmp_path / "out", progress=False)


def test_prompt_style_records_protocol_decoding_and_ocr():
    style: PromptStyle = get_benchmark("textvqa").style("lmms-eval")
    assert style.describe()["ocr"] is False
    assert style.describe()["name"] == "lmms-eval"
