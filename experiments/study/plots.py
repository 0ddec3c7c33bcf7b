"""The study's plots: learning curves and predictions, per task."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from qrnn.tasks import chronological_split

from .config import StudyConfig
from .tasks import generation_data, task_kind, task_train_fraction, task_windows


# One colour per model in every plot; the init is the line style.
COLOURS = {"QRNN": "tab:blue", "QLSTM": "tab:orange", "QGRU": "tab:green", "RNN": "tab:red",
           "LSTM": "tab:purple", "GRU": "tab:brown", "ESN": "tab:pink"}
# models of your own (registered cells) take these, in the order of the config
_MORE_COLOURS = ("tab:olive", "tab:cyan", "tab:gray", "gold", "navy", "lime", "teal", "maroon")
_INIT_STYLE = {"-": "-", "normal": "-", "uniform": "--"}
# the learning curve's history key and axis label, by task kind
_LOSS = {"forecast": ("monitor_loss", "test MSE"), "classification": ("monitor_loss", "test cross-entropy"),
         "generation": ("train_loss", "training MSE (one step ahead)")}
_MODE_TITLE = {"ridge": "reservoir + ridge", "epochs": "reservoir, readout trained by epochs",
               "trained": "fully trained"}


def write_plots(cfg: StudyConfig, rows, histories, out: Path, tasks=None) -> list[Path]:
    """Per task, ``TASK-loss.png`` (test loss against epoch and against training seconds, one row per
    trained mode, one line per model and init: the median over seeds, with the seeds' range shaded)
    and ``TASK-predictions.png`` (every model's predictions against the truth, one panel per mode,
    the first seed and init, the train/test boundary marked). A classification task's learning curve
    is its test cross-entropy, and it has no predictions plot; a generation task's curve is its
    training loss (one step ahead), and ``TASK-generation.png`` shows the generated horizons against
    the truth after the end of the fitted stream."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    colours = _colours(cfg.models)
    paths = []
    for task in cfg.tasks if tasks is None else tasks:
        runs = [h for h in histories if h["cell"]["task"] == task]
        here = [r for r in rows if r["task"] == task]
        kind = task_kind(task)
        forecast = kind == "forecast"
        loss_key, loss_label = _LOSS[kind]
        window = next((r["test_mse"] for r in here if r["model"] == "ridge on the raw window"), None)
        ridge = {}  # each model's ridge readout on the same features, its best init (mean over seeds)
        for r in here:
            if r["mode"] == "ridge" and forecast:  # the other kinds' ridge scores are not losses
                ridge.setdefault(r["model"], {}).setdefault(r["init"], []).append(r["test_mse"])
        ridge = {m: min(float(np.mean(v)) for v in by_init.values()) for m, by_init in ridge.items()}

        curves = {}
        for h in runs:
            if h["history"]:
                c = h["cell"]
                curves.setdefault((c["mode"], c["model"], c["init"]), []).append(h["history"])
        modes = [m for m in ("epochs", "trained") if any(k[0] == m for k in curves)]
        if modes:
            fig, axes = plt.subplots(len(modes), 2, figsize=(13, 3.8 * len(modes)), squeeze=False,
                                     sharey="row", layout="constrained")
            for (mode, model, init), hs in curves.items():
                n = min(len(h) for h in hs)
                loss = np.array([[r[loss_key] for r in h[:n]] for h in hs])
                secs = np.array([np.cumsum([r["seconds"] for r in h[:n]]) for h in hs])
                by_epoch, by_time = axes[modes.index(mode)]
                style = dict(color=colours[model], ls=_INIT_STYLE[init], lw=1.2)
                epochs = np.arange(1, n + 1)
                by_epoch.plot(epochs, np.median(loss, axis=0), **style)
                by_time.plot(np.median(secs, axis=0), np.median(loss, axis=0), **style)
                if len(hs) > 1:
                    by_epoch.fill_between(epochs, loss.min(axis=0), loss.max(axis=0), color=colours[model],
                                          alpha=0.12, lw=0)
            for row, mode in enumerate(modes):
                by_epoch, by_time = axes[row]
                for model in dict.fromkeys(k[1] for k in curves if k[0] == mode):  # in order: the same plot every run
                    if mode == "epochs" and model in ridge:  # what training the readout by epochs converges to
                        by_epoch.axhline(ridge[model], color=colours[model], ls=":", lw=1)
                if window is not None:
                    for ax in (by_epoch, by_time):
                        ax.axhline(window, color="k", ls="-.", lw=1)
                by_epoch.set(yscale="log", xlabel="epoch", ylabel=loss_label,
                             title=f"{task}: {_MODE_TITLE[mode]}, by epoch")
                by_time.set(xlabel="training seconds", title="by wall-clock time")
            models = [m for m in colours if any(k[1] == m for k in curves)]
            handles = [Line2D([], [], color=colours[m], lw=2, label=m) for m in models]
            if any(k[2] == "uniform" for k in curves):
                handles += [Line2D([], [], color="grey", ls="-", label="normal init (quantum), classical"),
                            Line2D([], [], color="grey", ls="--", label="uniform init")]
            if forecast:
                handles += [Line2D([], [], color="grey", ls=":", label="ridge readout, same model"),
                            Line2D([], [], color="k", ls="-.", label="ridge on the raw window")]
            n_seeds = max(len(hs) for hs in curves.values())
            if n_seeds > 1:
                handles.append(Patch(color="grey", alpha=0.3, label=f"median of {n_seeds} seeds; band: their range"))
            fig.legend(handles=handles, loc="outside right center", fontsize=8)
            paths.append(out / f"{task}-loss.png")
            fig.savefig(paths[-1], dpi=110)
            plt.close(fig)

        if kind == "generation":
            paths += _generation_plot(cfg, task, runs, colours, out)
        if not forecast:
            continue
        X, y = task_windows(task)
        n_train = len(chronological_split(X, y, task_train_fraction(task, cfg))[0])
        shown = [h for h in runs if h["cell"]["seed"] == cfg.seeds[0] and h["cell"]["init"] in ("-", cfg.inits[0])]
        pred_modes = [m for m in ("ridge", "epochs", "trained") if any(h["cell"]["mode"] == m for h in shown)]
        if pred_modes:
            fig, axes = plt.subplots(len(pred_modes), 1, figsize=(13, 2.8 * len(pred_modes)), squeeze=False,
                                     sharex=True, sharey=True, layout="constrained")
            for ax, mode in zip(axes[:, 0], pred_modes):
                ax.plot(y, color="k", lw=2.2)
                for h in shown:
                    if h["cell"]["mode"] == mode:
                        ax.plot(h["predictions"], color=colours[h["cell"]["model"]], lw=0.9)
                ax.axvline(n_train - 0.5, color="red", ls=":")
                ax.set(ylabel="next value", title=f"{task}: {_MODE_TITLE[mode]}")
            axes[-1, 0].set_xlabel(f"window (seed {cfg.seeds[0]}; quantum models: init {cfg.inits[0]})")
            models = [m for m in colours if any(h["cell"]["model"] == m for h in shown)]
            handles = [Line2D([], [], color="k", lw=2.2, label="truth")]
            handles += [Line2D([], [], color=colours[m], lw=2, label=m) for m in models]
            handles.append(Line2D([], [], color="red", ls=":", label="train | test"))
            fig.legend(handles=handles, loc="outside right center", fontsize=8)
            paths.append(out / f"{task}-predictions.png")
            fig.savefig(paths[-1], dpi=110)
            plt.close(fig)
    return paths


def _generation_plot(cfg: StudyConfig, task: str, runs, colours, out: Path) -> list[Path]:
    """``TASK-generation.png``: the last steps of the fitted stream, then the truth and every model's generated
    horizon (first seed; quantum models: first init), one panel per mode."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    stream = generation_data(task)
    shown = [h for h in runs if h["cell"]["seed"] == cfg.seeds[0] and h["cell"]["init"] in ("-", cfg.inits[0])]
    modes = [m for m in ("ridge", "epochs", "trained") if any(h["cell"]["mode"] == m for h in shown)]
    if not modes:
        return []
    before = min(2 * stream.horizon, stream.n_fit + 1)
    t_known = np.arange(stream.n_fit + 1 - before, stream.n_fit + 1)
    t_gen = np.arange(stream.n_fit + 1, stream.n_fit + 1 + stream.horizon)
    fig, axes = plt.subplots(len(modes), 1, figsize=(13, 2.8 * len(modes)), squeeze=False, sharex=True,
                             sharey=True, layout="constrained")
    lo, hi = stream.series.min(), stream.series.max()
    for ax, mode in zip(axes[:, 0], modes):
        ax.plot(t_known, stream.series[t_known], color="k", lw=2.2)
        ax.plot(t_gen, stream.truth(), color="k", lw=2.2, ls="--")
        for h in shown:
            if h["cell"]["mode"] == mode:
                ax.plot(t_gen, h["predictions"], color=colours[h["cell"]["model"]], lw=1.1)
        ax.axvline(stream.n_fit + 0.5, color="red", ls=":")
        margin = 0.5 * (hi - lo)
        ax.set_ylim(lo - margin, hi + margin)  # a diverging generation stays in the frame's edges
        ax.set(ylabel="value", title=f"{task}: {_MODE_TITLE[mode]}, generated in closed loop")
    axes[-1, 0].set_xlabel(f"step (seed {cfg.seeds[0]}; quantum models: init {cfg.inits[0]})")
    models = [m for m in colours if any(h["cell"]["model"] == m for h in shown)]
    handles = [Line2D([], [], color="k", lw=2.2, label="fitted stream"),
               Line2D([], [], color="k", lw=2.2, ls="--", label="truth")]
    handles += [Line2D([], [], color=colours[m], lw=2, label=m) for m in models]
    handles.append(Line2D([], [], color="red", ls=":", label="generation starts"))
    fig.legend(handles=handles, loc="outside right center", fontsize=8)
    path = out / f"{task}-generation.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]


def _colours(models) -> dict:
    """:data:`COLOURS`, then a colour for each other model (cycling when there are many)."""
    others = [m for m in models if m not in COLOURS]
    return {**COLOURS, **{m: _MORE_COLOURS[i % len(_MORE_COLOURS)] for i, m in enumerate(others)}}
