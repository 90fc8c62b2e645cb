"""What a person sees: JSONL + TensorBoard (+ optional W&B) logs, and the loss-curve PNG."""

from __future__ import annotations

import json
from pathlib import Path

LOG_FILE = "metrics.jsonl"


class MetricsLogger:
    """One JSON object per logged step; on resume, entries past the resumed step are dropped first."""

    def __init__(self, output_dir: Path, *, start_step: int, tensorboard: bool, wandb: bool, project: str, config: dict):
        self.path = output_dir / LOG_FILE
        kept = [r for r in read_metrics(self.path) if r["step"] <= start_step] if start_step else []
        self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))
        self._file = self.path.open("a")
        self._tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(output_dir / "tensorboard"), purge_step=start_step + 1 if start_step else None)
        self._wandb = None
        if wandb:
            try:
                import wandb as wb
            except ImportError as e:
                raise ImportError("logging.wandb is on but wandb is not installed: pip install wandb") from e
            self._wandb = wb.init(project=project, config=config, dir=str(output_dir), resume="allow")

    def log(self, record: dict) -> None:
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        step = record["step"]
        if self._tb is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    self._tb.add_scalar(f"train/{key}", value, step)
        if self._wandb is not None:
            self._wandb.log({f"train/{k}": v for k, v in record.items() if k != "step"}, step=step)

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()
        if self._wandb is not None:
            self._wandb.finish()


def read_metrics(path: Path) -> list[dict]:
    """The logged records; a torn last line (a kill mid-write) is ignored, a broken earlier line is an error."""
    if not path.exists():
        return []
    lines = [line for line in path.read_text().split("\n") if line.strip()]
    records = []
    for number, line in enumerate(lines, start=1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as error:
            if number == len(lines):
                break
            raise ValueError(f"{path}: record {number} is not valid JSON ({error}); fix or delete that line") from None
    return records


def plot_loss(records: list[dict], path: Path, title: str) -> Path | None:
    """Loss (and lr) against step, as a PNG (matplotlib Agg)."""
    if not records:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in records]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(steps, [r["loss"] for r in records], color="tab:blue", label="loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    lr_ax = ax.twinx()
    lr_ax.plot(steps, [r["lr"] for r in records], color="tab:orange", alpha=0.6, label="lr")
    lr_ax.set_ylabel("lr")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
