#!/usr/bin/env bash
# GPU readiness (issue 15, item 7): one short script (< 5 minutes on one GPU) for a session lent a GPU.
#   1. exactness of mining and the truncated LR tower on CUDA, fp32 and bf16, against the plain formulas
#   2. inference per stage at real size in bf16, normal and HD (one timed run each, whole answer included)
#   3. one real-size training step in bf16 (autocast)
# Usage: bash benchmarks/gpu_check.sh   (PYTHON=... to pick the interpreter; output also in gpu_check.log)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONPATH="tests/modeling:tests${PYTHONPATH:+:$PYTHONPATH}"
exec > >(tee gpu_check.log) 2>&1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.__version__, torch.cuda.get_device_name())"

echo "== 1. exactness on CUDA"
timeout 120 "$PY" - <<'PY'
import torch
from test_mining import random_mining, random_stages, rel_err, D
from _mgm_reference import mine_reference
from minigemini.modeling.towers import LowResVisionTower
from minigemini.quantization import auto_dtype
from transformers import CLIPVisionConfig

assert auto_dtype("cuda") in (torch.bfloat16, torch.float16)
for dtype, bound in ((torch.float32, 2e-6), (torch.bfloat16, 2e-2)):
    m = random_mining(seed=3)
    stages = random_stages(1, 48, seed=4, offset=0.5)
    lr_global, lr_crops = torch.randn(1, 9, D), torch.randn(1, 4, 9, D)
    with torch.no_grad():
        truth_g = mine_reference(m.double(), lr_global.double(), [s.double() for s in stages], hd_global=True)
        truth_l = mine_reference(m, lr_crops.double(), [s.double() for s in stages], grid=2)
        m = m.to("cuda", dtype)
        cuda = [s.to("cuda", dtype) for s in stages]
        glob = m(lr_global[:, None].to("cuda", dtype), cuda, 48, halve=True)[:, 0]
        local = m(lr_crops.to("cuda", dtype), cuda, 48)
    errs = rel_err(glob.cpu(), truth_g), rel_err(local.cpu(), truth_l)
    print(f"mining {dtype}: HD global / crops relative error {errs[0]:.1e} / {errs[1]:.1e} (bound {bound})")
    assert max(errs) < bound
cfg = CLIPVisionConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=4, num_attention_heads=4, image_size=56, patch_size=14)
tower = LowResVisionTower(cfg).cuda().eval()
px = torch.randn(2, 3, 56, 56, device="cuda")
with torch.no_grad():
    full = tower.model(pixel_values=px, output_hidden_states=True).hidden_states[-2][:, 1:]
    torch.testing.assert_close(tower(px), full, rtol=1e-4, atol=1e-4)
print("LR tower (truncated, SDPA) equals hidden_states[-2] on CUDA; auto dtype:", auto_dtype("cuda"))
PY

echo "== 2. inference per stage, real size, bf16"
timeout 150 "$PY" benchmarks/inference.py --device cuda --variants bf16 --configs normal hd --quick --no-baseline --clock wall

echo "== 3. one real-size training step, bf16"
timeout 90 "$PY" benchmarks/training.py --tiny-steps 1 --real-steps 1 --precision bf16
echo "gpu_check: done"
