"""What a CDLM user sees at the end of a run: the adaptation grid (paper Fig. 2) and the t-SNE of the
modulated codes z̈_st vs z̈_ts (paper Fig. 4), written into the run directory.

Drawing reuses the suite's figure code (:mod:`dabench.figures`, :mod:`dabench.protocols.grid`,
:mod:`dabench.protocols.tsne`); this module only gathers CDLM's arrays. The generic ``tsne`` protocol embeds
``features`` (h for CDLM); Fig. 4 embeds the modulated codes, which only CDLM has, hence
:func:`cdlm_latents` and :func:`write_cdlm_figures`.

The training loop calls :func:`write_cdlm_figures` at the end of every CDLM run on a task with classes
(``CDLM.FIGURES``) and ``dabench run`` prints the grid's path beside the summary line.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

GRID_NAME = "adaptation_grid.png"
TSNE_NAME = "tsne_latents.png"


def cdlm_latents(method, x_src: torch.Tensor, x_tgt: torch.Tensor, batch: int = 500) -> dict[str, np.ndarray]:
    """z̈_st and z̈_ts (float32 ``[N, d_z]``) for paired source/target images ``[N, C, H, W]`` in [0, 1].

    Runs ``method.modulated_codes`` (evaluation ε, no global RNG) in evaluation mode, ``batch`` pairs at a time.
    """
    from dabench.evaluate import evaluation_mode

    n = min(len(x_src), len(x_tgt))
    device = next(method.parameters()).device
    out: dict[str, list[np.ndarray]] = {"z_st": [], "z_ts": []}
    with evaluation_mode(method):
        for start in range(0, n, batch):
            codes = method.modulated_codes(x_src[start:start + batch].to(device),
                                           x_tgt[start:start + batch].to(device))
            for key in out:
                out[key].append(codes[key].float().cpu().numpy())
    return {key: np.concatenate(chunks) for key, chunks in out.items()}


def write_cdlm_figures(method, data, rundir, *, random_state: int = 0, grid_images: int = 10,
                       max_per_domain: int = 2000) -> dict[str, Path]:
    """The adaptation grid and the z̈ t-SNE of a trained CDLM, as PNGs in its run directory.

    Args:
        method: a trained :class:`dabench.methods.cdlm.CDLM` (on any device).
        data: the run's :class:`dabench.tasks.TaskData`.
        rundir: the :class:`dabench.rundir.RunDir` (written into).
        random_state: picks the grid's examples and seeds the t-SNE (use the run's seed).
        grid_images: columns of the grid: target test images above, their x̃_ts = D(γ1 h_t + γ2 ε) beneath.
        max_per_domain: at most this many z̈ of each domain in the t-SNE (paper: 2,000); the source codes
            come from the source validation split, the target codes from the target test split.
    Returns:
        ``{"grid": path, "tsne": path}``.
    """
    from dabench import figures
    from dabench.data import to_float
    from dabench.evaluate import translations
    from dabench.protocols.grid import grid_examples
    from dabench.protocols.tsne import tsne_embedding

    channels = data.spec.channels
    shown = data.tgt_test.subset(grid_examples(len(data.tgt_test), grid_images, random_state=random_state))
    grid = figures.adaptation_grid(
        [to_float(shown.x.cpu(), channels), translations(method, shown, channels)],
        ["target\n(input)", "x̃_ts\n(source style)"], rundir.figure_path(GRID_NAME),
        title="CDLM: target test images and their generations x̃_ts = D(γ1 h_t + γ2 ε)")
    n = min(max_per_domain, len(data.src_val), len(data.tgt_test))
    codes = cdlm_latents(method, to_float(data.src_val.x[:n], channels), to_float(data.tgt_test.x[:n], channels))
    emb = tsne_embedding(codes["z_st"], codes["z_ts"], random_state=random_state, max_per_domain=max_per_domain)
    tsne = figures.tsne_plot(emb["embedding"], emb["domain"], rundir.figure_path(TSNE_NAME),
                             title="CDLM: t-SNE of the modulated codes", labels=("z̈_st (source)", "z̈_ts (target)"))
    return {"grid": grid, "tsne": tsne}
