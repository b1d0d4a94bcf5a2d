"""The PNG ``emgfeedback analyze --plot`` draws (matplotlib, optional)."""

from __future__ import annotations


def plot_result(result: dict, path: str, *, force: bool = False, protect=()) -> None:
    """Draw each channel's envelope with onsets, offsets, rest windows and tone (PNG).

    The figure is rendered in memory and written with :func:`emgfeedback.outputs.write_output`
    (0600, atomic, an existing file only with ``force``, never a file in ``protect``).

    Parameters
    ----------
    result : dict
        :func:`~emgfeedback.analysis.summary.analyse_recording`'s result, with its
        ``_arrays`` (envelope, rest mask, ``plot_step``).
    path : str
        The PNG to write.
    force : bool
        Replace an existing file.
    protect : sequence of path
        Files never to replace (the analysed file and its database side files).
    """
    import io

    from emgfeedback import outputs
    from emgfeedback.errors import require

    matplotlib = require("matplotlib", "plot")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    arrays = result["_arrays"]
    env, rest = arrays["envelope"], arrays["rest"]
    fs = result["fs_hz"]
    n_ch = len(result["channels"])
    # A recording read in blocks keeps every plot_step-th sample only (enough for a screen).
    kept = int(arrays.get("plot_step", 1))
    step = max(env.shape[0] // 20000, 1)
    t = np.arange(env.shape[0]) * kept / fs
    fig, axes = plt.subplots(n_ch, 1, figsize=(12, 2.2 * n_ch + 0.6), sharex=True,
                             squeeze=False)
    for c, ch in enumerate(result["channels"]):
        ax = axes[c, 0]
        ax.plot(t[::step], env[::step, c], lw=0.8, color="0.2", label="envelope")
        r = rest[:, c]
        edges = np.flatnonzero(np.diff(np.concatenate([[0], r.astype(int), [0]])))
        for a, b in zip(edges[::2], edges[1::2], strict=True):
            ax.axvspan(a * kept / fs, b * kept / fs, color="tab:blue", alpha=0.08, lw=0)
        for on in ch["onsets_s"]:
            ax.axvline(on, color="tab:green", lw=1)
        for off in ch["offsets_s"]:
            ax.axvline(off, color="tab:red", lw=1, ls="--")
        tone = ch["resting_tone_uv"]
        if tone is not None and np.isfinite(tone):
            ax.axhline(tone, color="tab:orange" if ch["tone_valid"] else "tab:gray",
                       lw=1, ls=":", label=f"tone {tone:.2f} µV")
        ax.set_ylabel(f"{ch['name']}\nµV")
        ax.legend(loc="upper right", fontsize=7)
    axes[-1, 0].set_xlabel("time (s): green onsets, red offsets, shaded rest")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=100, format="png")
    plt.close(fig)
    outputs.write_output(path, buffer.getvalue(), force=force, protect=protect, option="--plot")
