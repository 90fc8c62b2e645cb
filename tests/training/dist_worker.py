"""Run by torchrun in tests: train the tiny recipe with the engine named in argv, dump per-rank weights."""

import json
import sys
from pathlib import Path

import torch

from minigemini.training import recipe_from_dict, run_training
from minigemini.training.distributed import init_distributed

recipe, out = json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2])
torch.set_num_threads(1)
result = run_training(recipe_from_dict(recipe), out, progress=False)
info = init_distributed()
if recipe["engine"]["kind"] == "ddp":
    trainable = {n: p.detach().clone() for n, p in result.model.named_parameters() if p.requires_grad}
    torch.save(trainable, out / f"weights-rank{info.rank}.pt")
torch.distributed.destroy_process_group()
