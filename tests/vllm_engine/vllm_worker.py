"""Runs in .venv-vllm (the test venv has no vLLM): one vLLM engine per checkpoint, one after another.

    python vllm_worker.py JOB.json OUT.json

JOB: {"max_tokens": N, "models": [{"path": DIR, "requests": [{"prompt": str, "images": [png paths]}]}]}.
A model with "expect_error": true is only constructed; its error message is recorded.
OUT: per model, per request: prompt_token_ids, token_ids (greedy) and the top-5 log-probs of the first step.
Engines run inside this process (no engine-core or worker processes): after the first, each starts in seconds.
"""

from __future__ import annotations

import gc
import json
import os
import sys

os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"


def run_model(spec: dict, max_tokens: int) -> dict:
    from PIL import Image
    from vllm import LLM, SamplingParams

    try:
        llm = LLM(model=spec["path"], dtype="float32", enforce_eager=True, max_model_len=1024, max_num_seqs=8,
                  seed=0, limit_mm_per_prompt={"image": 4}, distributed_executor_backend="uni")
    except Exception as err:  # noqa: BLE001 - the refusal test reads the message
        if spec.get("expect_error"):
            return {"error": f"{type(err).__name__}: {err}"}
        raise
    prompts = []
    for request in spec["requests"]:
        prompt = {"prompt": request["prompt"]}
        if request["images"]:
            prompt["multi_modal_data"] = {"image": [Image.open(p).convert("RGB") for p in request["images"]]}
        prompts.append(prompt)
    params = SamplingParams(max_tokens=max_tokens, temperature=0.0, logprobs=5)
    outputs = llm.generate(prompts, params, use_tqdm=False)  # one batch: image and text-only prompts together
    results = []
    for out in outputs:
        first = out.outputs[0].logprobs[0]
        results.append({
            "prompt_token_ids": list(out.prompt_token_ids),
            "token_ids": list(out.outputs[0].token_ids),
            "first_logprobs": {str(k): v.logprob for k, v in first.items()},
        })
    llm.llm_engine.engine_core.shutdown()
    del llm
    gc.collect()
    return {"results": results}


def main() -> None:
    job = json.load(open(sys.argv[1]))
    out = [run_model(spec, job["max_tokens"]) for spec in job["models"]]
    json.dump(out, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
