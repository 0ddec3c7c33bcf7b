"""The study's cells as Ray tasks, on a local Ray or a cluster."""
from __future__ import annotations

from pathlib import Path

from qrnn.registry import MODELS

from .cells import run_cell
from .tasks import TASKS

# experiments/study/on_ray.py -> the repository's root
REPOSITORY = Path(__file__).resolve().parents[2]


def _registrations(cfg) -> tuple[dict, dict]:
    """The registry entries of the config's models and of its tasks that are not built in: a Ray
    worker is another process, which has the built-in ones but not what this one registered."""
    models = {m: MODELS.entry(m) for m in cfg.models if m in MODELS}
    tasks = {t: TASKS.entry(t) for t in cfg.tasks if "builtin" not in TASKS.entry(t).tags}
    return models, tasks


def _run_registered(cell, cfg, models: dict, tasks: dict):
    """:func:`run_cell` in a worker, once the driver's registrations are its own."""
    for registry, entries in ((MODELS, models), (TASKS, tasks)):
        for name, entry in entries.items():
            registry.register(name, entry.resolve(), tags=entry.tags, replace=True, **entry.info)
    return run_cell(cell, cfg)


def _run_on_ray(cells, cfg, address: str, bar, keep) -> None:
    """Every cell as one Ray task; ``keep(cell, result)`` as each one finishes."""
    from qrnn._optional import require

    ray = require("ray", "the study's --ray")
    started = not ray.is_initialized()
    if started:
        # A cluster's workers get this repository (qrnn and experiments, not results or virtual
        # environments) as their working directory; its nodes need qrnn's dependencies installed.
        runtime_env = None if address == "local" else {
            "working_dir": str(REPOSITORY),
            "excludes": [".git", ".venv*", "results", "experiments/results", "benchmarks/results"]}
        ray.init(address=None if address == "local" else address, runtime_env=runtime_env,
                 include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        task = ray.remote(num_cpus=1)(_run_registered)
        models, tasks = (ray.put(r) for r in _registrations(cfg))
        pending = {task.remote(cell, cfg, models, tasks): cell for cell in cells}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                keep(pending.pop(ref), ray.get(ref))
                bar.update()
    finally:
        if started:
            ray.shutdown()
