"""``python -m experiments.study CONFIG.toml``: see :mod:`experiments.study.cli`."""
from .cli import main

main()
