"""The offline main job: what patch info mining buys on a task only high resolution can solve."""

from .runner import DemoSettings, run_demo

__all__ = ["DemoSettings", "run_demo"]
