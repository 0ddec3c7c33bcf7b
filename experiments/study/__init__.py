"""Reservoir against fully trained, quantum against classical: a study from a TOML config.

Every cell of the grid tasks x models x modes x seeds x inits is one model
fitted and scored on one task. A task is of one of three kinds
(:mod:`~experiments.study.tasks`): a forecasting task's model is fitted on
the first part of its windows (in time order) and scored by MSE on the rest;
a classification task's on its training sequences, scored by accuracy on
its test sequences (:mod:`~experiments.study.classification`); a generation
task's one step ahead on a stream, then run on its own predictions, scored
by valid time and NRMSE over the generated horizon
(:mod:`~experiments.study.generation`). Each kind has its own metrics in the
tables, never an MSE column it does not mean. Modes:

- ``ridge``: the reservoir, frozen, and a closed-form ridge readout (alpha by
  leave-one-out cross-validation);
- ``epochs``: the reservoir, frozen, and its readout trained by epochs (the
  paper's reservoir protocol);
- ``trained``: the model and its readout trained end to end (``trainable=True``).

Baselines in every table: persistence (the last known value of the
forecast series: the window's last value, or on the NARMA tasks, whose
windows hold the input, the previous output), ridge on the raw window, and an
ESN with as many units as a model's quantum reservoirs have qubits in all
(``ensemble x (1 + hidden_size)``); a classification or generation task has
its kind's (the majority class, ridge on the raw sequence; persistence, a
linear autoregression in closed loop; and the same-size ESN). The ESN models
(``"ESN"``, and ``"ESN-N"`` of N units) have no trainable weights, so their
``trained`` cells are left out of the grid.

Columns: ``seconds`` is the wall-clock time of the cell's fit (choosing the
input scaling, building the model, fitting; in modes ``epochs`` and
``trained`` it includes the test-loss pass after every epoch that draws the
learning curves); ``seconds_per_epoch`` is training only. Circuit
evaluations count the forward passes that fit and predict (the training
windows every epoch, the final predictions, the fits that choose the input
scaling); the per-epoch test-loss passes and the backward passes (about two
forward passes each with the adjoint method) are not counted.

Outputs under ``[study] out``: ``results.csv`` and ``results.md`` (one row
per cell; ``results.md`` one table per task kind, with its own metrics),
``histories.json`` (per-epoch records), and PNG plots per task: test loss
(a generation task: its training loss) against epoch and against seconds,
and predictions against the truth with the train/test boundary marked (a
generation task: the generated horizons; a classification task has none).

Every finished cell is stored under ``OUT/cells/`` as it finishes; a run
reuses the stored cells made with the same settings, so an interrupted study
resumes, and ``--collect`` builds the tables from what is stored so far. A
damaged stored cell (cut off, edited) is named in a warning and run again.

Run: ``python -m experiments.study CONFIG.toml [--out DIR] [--quiet] [--ray [ADDRESS]] [--collect]``
(``experiments/configs/quick.toml`` is the small one.)

Device conditions (``[conditions]``) run on forecasting tasks only; a config
that asks them of a classification or generation task is refused when it is
loaded. A task on a real data set (``japanese_vowels``) needs ``qrnn[datasets]``:
without it, loading a config that names the task says so.

The package, one concept a file: :mod:`~experiments.study.config` (the TOML
layout and its checks), :mod:`~experiments.study.tasks`,
:mod:`~experiments.study.classification`, :mod:`~experiments.study.generation`,
:mod:`~experiments.study.file_tasks` (``[tasks.NAME]``: tasks on your own data),
:mod:`~experiments.study.models`, :mod:`~experiments.study.grid`,
:mod:`~experiments.study.cells` (one cell run), :mod:`~experiments.study.baselines`,
:mod:`~experiments.study.store` (stored cells), :mod:`~experiments.study.runner`
(the whole study), :mod:`~experiments.study.on_ray`, :mod:`~experiments.study.tables`,
:mod:`~experiments.study.plots`, :mod:`~experiments.study.summary` (the sentences
printed after a run) and :mod:`~experiments.study.cli`.
"""
from .baselines import baselines
from .cells import circuit_evaluations, run_cell
from .cli import main
from .config import (INITS, MAX_QUBITS, MODES, OPTIMIZERS, RESERVOIR_DEFAULTS, StudyConfig, load_config,
                     parse_config)
from .file_tasks import FileTask
from .grid import Cell, grid
from .models import (build_model, choose_input_scaling, classical_models, esn_units, is_esn, is_quantum, model_names,
                     quantum_models)
from .plots import COLOURS, write_plots
from .runner import run
from .store import _cell_path, cell_settings  # noqa: F401  (_cell_path, _data: the tests read them)
from .summary import reading
from .tables import COLUMNS, KIND_TABLES, write_tables
from .tasks import (KINDS, TASKS, Sequences, Stream, _data, classification_data, generation_data, persistence,
                    register_classification_task, register_generation_task, register_task, task_kind, task_windows,
                    waveforms)

__all__ = ["COLOURS", "COLUMNS", "INITS", "KINDS", "KIND_TABLES", "MAX_QUBITS", "MODES", "OPTIMIZERS",
           "RESERVOIR_DEFAULTS", "TASKS", "Cell", "FileTask", "Sequences", "Stream", "StudyConfig", "baselines",
           "build_model", "cell_settings", "choose_input_scaling", "circuit_evaluations", "classical_models",
           "classification_data", "esn_units", "generation_data", "grid", "is_esn", "is_quantum", "load_config",
           "main", "model_names", "parse_config", "persistence", "quantum_models", "reading",
           "register_classification_task", "register_generation_task", "register_task", "run", "run_cell",
           "task_kind", "task_windows", "waveforms", "write_plots", "write_tables"]
