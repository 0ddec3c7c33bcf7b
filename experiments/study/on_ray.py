"""The study's cells as Ray tasks, on a local Ray or a cluster."""
from __future__ import annotations

from pathlib import Path

from .cells import run_cell

# experiments/study/on_ray.py -> the repository's root
REPOSITORY = Path(__file__).resolve().parents[2]


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
        task = ray.remote(num_cpus=1)(run_cell)
        pending = {task.remote(cell, cfg): cell for cell in cells}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                keep(pending.pop(ref), ray.get(ref))
                bar.update()
    finally:
        if started:
            ray.shutdown()
