"""Run by torchrun in tests: train the tiny recipe once per engine in one process group, dump DDP per-rank weights.

argv: a JSON file {run_name: recipe_dict} and an output root; run N writes to ROOT/N.
"""

import json
import sys
from pathlib import Path

import torch

from minigemini.training import recipe_from_dict, run_training
from minigemini.training.distributed import init_distributed

runs, root = json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2])
torch.set_num_threads(1)
info = init_distributed()
for name, recipe in runs.items():
    out = root / name
    result = run_training(recipe_from_dict(recipe), out, progress=False)
    if recipe["engine"]["kind"] == "ddp":
        trainable = {n: p.detach().clone() for n, p in result.model.named_parameters() if p.requires_grad}
        torch.save(trainable, out / f"weights-rank{info.rank}.pt")
torch.distributed.destroy_process_group()
