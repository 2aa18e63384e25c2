"""t-SNE of source and target representations (CDLM Fig. 4: latent codes of the two domains).

A pure function: two feature arrays in, 2-D coordinates out. At most ``max_per_domain`` rows of each domain
are drawn (without replacement, from ``random_state``); features are reduced to ``pca_dims`` dimensions by
PCA first (the usual t-SNE practice: it removes noise dimensions and makes Barnes-Hut t-SNE fast), then
embedded with scikit-learn's ``TSNE`` (perplexity 30, PCA initialisation, ``random_state``).
"""
from __future__ import annotations

import numpy as np

from dabench.registry import PROTOCOLS

MAX_PER_DOMAIN = 2000
PCA_DIMS = 50


@PROTOCOLS.register("tsne")
def tsne_embedding(f_src, f_tgt, *, random_state: int, max_per_domain: int = MAX_PER_DOMAIN,
                   perplexity: float = 30.0, pca_dims: int = PCA_DIMS) -> dict:
    """Embed source and target features together in 2-D.

    Args:
        f_src: source features ``[N_s, D]`` (or ``[N_s, ...]``, flattened).
        f_tgt: target features ``[N_t, D]``.
        random_state: seeds the subsample, the PCA and the t-SNE optimisation.
        max_per_domain: at most this many rows of each domain (default 2,000, as in CDLM Fig. 4).
        perplexity: t-SNE perplexity (lowered to ``(n - 1) / 3`` for tiny samples, as t-SNE requires).
        pca_dims: PCA dimensions before t-SNE (skipped when D is already that small).
    Returns:
        ``{"embedding": float [n_s + n_t, 2] (source rows first), "domain": int [n_s + n_t] (1 source, 0
        target), "rows_source", "rows_target" (the rows used), "kl_divergence", "perplexity", "pca_dims",
        "random_state", "sklearn"}``.
    """
    import sklearn
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    x_src = np.asarray(f_src, dtype=np.float64).reshape(len(f_src), -1)
    x_tgt = np.asarray(f_tgt, dtype=np.float64).reshape(len(f_tgt), -1)
    if x_src.shape[1] != x_tgt.shape[1]:
        raise ValueError(f"source and target features differ in dimension: {x_src.shape[1]} vs {x_tgt.shape[1]}")
    rng = np.random.default_rng(random_state)
    rows_src = np.sort(rng.choice(len(x_src), min(len(x_src), max_per_domain), replace=False))
    rows_tgt = np.sort(rng.choice(len(x_tgt), min(len(x_tgt), max_per_domain), replace=False))
    x = np.concatenate([x_src[rows_src], x_tgt[rows_tgt]])
    if len(x) < 4:
        raise ValueError(f"t-SNE needs at least 4 samples in all; got {len(x)}")
    seed = int(random_state) % 2**31
    dims = min(pca_dims, x.shape[1], len(x))
    if dims < x.shape[1]:
        x = PCA(n_components=dims, random_state=seed).fit_transform(x)
    perplexity = float(min(perplexity, (len(x) - 1) / 3.0))
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto", random_state=seed)
    embedding = tsne.fit_transform(x)
    return {
        "embedding": embedding,
        "domain": np.concatenate([np.ones(len(rows_src), dtype=np.int64), np.zeros(len(rows_tgt), dtype=np.int64)]),
        "rows_source": rows_src,
        "rows_target": rows_tgt,
        "kl_divergence": float(tsne.kl_divergence_),
        "perplexity": perplexity,
        "pca_dims": int(dims),
        "random_state": int(random_state),
        "sklearn": sklearn.__version__,
    }
