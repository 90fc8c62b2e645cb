"""Checkpoints, images and references for the vLLM tests (run in the test venv; vLLM runs in .venv-vllm).

Every tiny LLM here has head_dim 32 (vLLM's CPU attention needs at least 32).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
VLLM_PYTHON = ROOT / ".venv-vllm" / "bin" / "python"
WORKER = Path(__file__).parent / "vllm_worker.py"
TEXT_32 = dict(hidden_size=64, intermediate_size=128, num_attention_heads=2, num_key_value_heads=1, head_dim=32)
VLLM_ENV = {"HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1", "TOKENIZERS_PARALLELISM": "false",
            "OMP_NUM_THREADS": "1"}

_SP_CORPUS = [
    "A chat between a curious user and an artificial intelligence assistant.",
    "USER: What is in the image? ASSISTANT: A red square on a white background.",
    "Describe the picture in detail. The image shows a small cat sitting next to a window.",
    "How many striped patches are there? zero one two three four five. Answer yes or no.",
] * 8


def sentencepiece_tokenizer(folder: Path):
    """A real SentencePiece model (trained here) loaded as transformers loads a Llama `tokenizer.model`.

    Its Metaspace pre-tokenizer prepends '▁' to each encoded string, so tokenizing the chunks around
    `<image>` separately (the official scheme) gives other ids than tokenizing the whole prompt.
    """
    import sentencepiece as spm
    from transformers import AutoTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(_SP_CORPUS), model_writer=model, vocab_size=300,
                                   model_type="bpe", unk_id=0, bos_id=1, eos_id=2, pad_id=-1, byte_fallback=True,
                                   character_coverage=1.0, minloglevel=2)
    (folder / "tokenizer.model").write_bytes(model.getvalue())
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
         "add_bos_token": True}))
    return AutoTokenizer.from_pretrained(folder)


def write_sentencepiece_checkpoint(folder: Path) -> Path:
    """Our format, normal geometry, a Llama LLM behind the SentencePiece tokenizer above."""
    from minigemini import MiniGeminiForConditionalGeneration, MiniGeminiProcessor
    from minigemini.image_processing import MiniGeminiImageProcessor
    from minigemini.tiny import tiny_config

    tokenizer = sentencepiece_tokenizer(folder.parent / "sp-tokenizer")
    probe = MiniGeminiProcessor(tokenizer, MiniGeminiImageProcessor(), image_seq_length=1)  # adds <image>
    config = tiny_config(len(tokenizer), image_token_id=probe.image_token_id, text_config=TEXT_32)
    torch.manual_seed(5)
    model = MiniGeminiForConditionalGeneration(config).eval()
    model.save_pretrained(folder)
    MiniGeminiProcessor.from_config(tokenizer, config).save_pretrained(folder)
    return folder


def write_converted_official(root: Path, family: str, hd: bool) -> tuple[Path, Path]:
    """An official-layout fixture (tests/official) and its `minigemini convert` output: (official, ours)."""
    from minigemini.convert import convert_official
    from official.official_fixtures import write_official_checkpoint

    fixture = write_official_checkpoint(root / "official", family, hd=hd)
    return fixture.path, convert_official(fixture.path, root / "converted")


def noise_image(path: Path, seed: int, size=(72, 56)) -> Path:
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def chat_prompt(processor, question: str, n_images: int) -> str:
    content = [{"type": "image"}] * n_images + [{"type": "text", "text": question}]
    return processor.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True)


def hf_reference(model_dir: Path, requests: list[dict], max_tokens: int) -> list[dict]:
    """minigemini's transformers model, one request at a time: prompt ids, greedy tokens (EOS included, as
    vLLM reports it) and the log-softmax of the first step's processed scores (placeholder suppressed)."""
    from minigemini import MiniGeminiForConditionalGeneration, MiniGeminiProcessor

    model = MiniGeminiForConditionalGeneration.from_pretrained(model_dir).eval()
    processor = MiniGeminiProcessor.from_pretrained(model_dir)
    out = []
    for request in requests:
        images = [Image.open(p).convert("RGB") for p in request["images"]]
        inputs = processor(text=[request["prompt"]], images=[images])
        with torch.no_grad():
            gen = model.generate(**inputs, max_new_tokens=max_tokens, do_sample=False, output_scores=True,
                                 return_dict_in_generate=True)
        new = gen.sequences[0, inputs["input_ids"].shape[1]:].tolist()
        eos = processor.tokenizer.eos_token_id
        out.append({
            "prompt_token_ids": inputs["input_ids"][0].tolist(),
            "token_ids": new[: new.index(eos) + 1] if eos in new else new,
            "first_logprobs": gen.scores[0][0].float().log_softmax(-1),
        })
    return out


def run_vllm_worker(job: dict, tmp: Path, timeout: float = 600) -> list[dict]:
    """Run tests/vllm_engine/vllm_worker.py in .venv-vllm; its stderr tail is in the error if it fails."""
    job_file, out_file = tmp / "job.json", tmp / "out.json"
    job_file.write_text(json.dumps(job))
    proc = subprocess.run([str(VLLM_PYTHON), str(WORKER), str(job_file), str(out_file)], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **VLLM_ENV}, cwd=tmp)
    if proc.returncode != 0:
        raise AssertionError(f"vLLM worker failed (rc {proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(out_file.read_text())
