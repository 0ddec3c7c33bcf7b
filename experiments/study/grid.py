"""The grid: one cell per task, model, mode, seed and init (and device condition, for frozen quantum reservoirs)."""
from __future__ import annotations

from dataclasses import dataclass

from .conditions import EXACT
from .config import StudyConfig
from .models import is_esn, is_quantum

# modes whose circuits are frozen: they run under every condition (shots have no gradient)
CONDITION_MODES = ("ridge", "epochs")


@dataclass(frozen=True)
class Cell:
    task: str
    model: str
    mode: str
    seed: int
    init: str  # "-" for classical models
    condition: str = EXACT  # a Condition's label

    @property
    def label(self) -> str:
        where = "" if self.condition == EXACT else f" ({self.condition})"
        return f"{self.model}" + (f" {self.init}" if self.init != "-" else "") + f" [{self.mode}]" + where

    def record(self) -> dict:
        """The cell as stored: an exact cell without its condition, as stores written before conditions hold it."""
        d = dict(self.__dict__)
        if d["condition"] == EXACT:
            del d["condition"]
        return d


def grid(cfg: StudyConfig) -> list[Cell]:
    cells = []
    for task in cfg.tasks:
        for model in cfg.models:
            for mode in cfg.modes:
                if is_esn(model) and mode == "trained":
                    continue  # nothing to train but the readout
                inits = cfg.inits if is_quantum(model) else ("-",)
                conditions = cfg.conditions if is_quantum(model) and mode in CONDITION_MODES else cfg.conditions[:1]
                for condition in conditions:
                    for seed in cfg.seeds:
                        for init in inits:
                            cells.append(Cell(task, model, mode, seed, init, condition.label))
    return cells
