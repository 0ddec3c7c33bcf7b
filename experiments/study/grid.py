"""The grid: one cell per task, model, mode, seed and init."""
from __future__ import annotations

from dataclasses import dataclass

from .config import StudyConfig
from .models import is_quantum


@dataclass(frozen=True)
class Cell:
    task: str
    model: str
    mode: str
    seed: int
    init: str  # "-" for classical models

    @property
    def label(self) -> str:
        return f"{self.model}" + (f" {self.init}" if self.init != "-" else "") + f" [{self.mode}]"


def grid(cfg: StudyConfig) -> list[Cell]:
    cells = []
    for task in cfg.tasks:
        for model in cfg.models:
            for mode in cfg.modes:
                if model == "ESN" and mode == "trained":
                    continue  # nothing to train but the readout
                inits = cfg.inits if is_quantum(model) else ("-",)
                for seed in cfg.seeds:
                    for init in inits:
                        cells.append(Cell(task, model, mode, seed, init))
    return cells
