"""Proxy A-distance (Ben-David, Blitzer, Crammer, Pereira, NeurIPS 2007; used by Ganin et al., JMLR 2016 and
CDLM Fig. 6): how well a linear classifier tells source samples from target samples.

Protocol (reference/methods.md §8.3), a pure function of two feature arrays and a ``random_state``:

1. **Balance.** ``n = min(n_source, n_target, max_per_domain)`` samples are drawn from each domain without
   replacement, so that chance error is exactly 0.5.
2. **Split.** Each domain's ``n`` samples are split into train / val / test parts (``fractions``, default
   50 / 25 / 25 %); the pooled parts have equal source and target counts. Domain label: source 1, target 0.
3. **Standardise.** A ``StandardScaler`` is fitted on the pooled *train* part only and applied to all parts.
4. **Select C.** A linear SVM is trained on the train part for every C of a logarithmic grid (default
   10^−5 … 10^4, the grid of the DANN authors' ``compute_proxy_distance``); the C with the lowest *val* error
   wins (ties: the smallest C). The test part is never seen here. The SVM is scikit-learn's ``LinearSVC`` with
   its default L2-regularised squared-hinge loss solved in the primal (liblinear's trust-region Newton),
   which converges for every C of the grid; the hinge-loss dual solver stalls at large C when the domains
   overlap (C values that hit ``max_iter`` anyway are listed in ``not_converged``).
5. **Report.** The chosen model's error ε on the *test* part and d_A = 2 (1 − 2 ε), clipped to [0, 2]
   (ε ≥ 0.5, i.e. no better than chance, gives 0).

d_A ≈ 0 means the domains are indistinguishable by a linear classifier on these features; 2 means separable.
Unlike the DANN authors' code, C is chosen on a validation part rather than on the test half, and ε is not
flipped to 1 − ε when above 0.5.
"""
from __future__ import annotations

import warnings

import numpy as np

from dabench.registry import PROTOCOLS

#: the C grid of the DANN authors' PAD code (``numpy.logspace(-5, 4, 10)``)
C_GRID = tuple(float(c) for c in np.logspace(-5, 4, 10))
MAX_PER_DOMAIN = 2000
FRACTIONS = (0.5, 0.25, 0.25)
MAX_ITER = 1000


def pad_partition(n_source: int, n_target: int, *, random_state: int, max_per_domain: int = MAX_PER_DOMAIN,
                  fractions: tuple[float, float, float] = FRACTIONS) -> dict[str, tuple[np.ndarray, ...]]:
    """Which rows of each domain go to the train, val and test parts (steps 1–2 of the protocol).

    Returns:
        ``{"source": (train, val, test), "target": (train, val, test)}``: row indices into each domain's
        array; every domain contributes ``n = min(n_source, n_target, max_per_domain)`` rows and each part
        holds the same number of source and target rows (at least one).
    Raises:
        ValueError: for fewer than 3 rows per domain or bad ``fractions``.
    """
    if len(fractions) != 3 or min(fractions) <= 0 or abs(sum(fractions) - 1.0) > 1e-9:
        raise ValueError(f"fractions must be three positive numbers summing to 1; got {fractions}")
    n = min(int(n_source), int(n_target), int(max_per_domain))
    if n < 3:
        raise ValueError(f"the proxy A-distance needs at least 3 samples per domain; got {n}")
    n_train = min(max(1, int(round(fractions[0] * n))), n - 2)
    n_val = min(max(1, int(round(fractions[1] * n))), n - n_train - 1)
    rng = np.random.default_rng(random_state)
    out = {}
    for name, total in (("source", n_source), ("target", n_target)):
        rows = rng.choice(int(total), n, replace=False)  # a random balanced sample, in random order
        out[name] = (np.sort(rows[:n_train]), np.sort(rows[n_train:n_train + n_val]), np.sort(rows[n_train + n_val:]))
    return out


def _as_2d(name: str, features) -> np.ndarray:
    x = np.asarray(features, dtype=np.float64)
    if x.ndim < 2:
        raise ValueError(f"{name} features must be [N, D] (or [N, ...], flattened); got shape {x.shape}")
    x = x.reshape(len(x), -1)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} features hold non-finite values")
    return x


@PROTOCOLS.register("pad")
def proxy_a_distance(
    f_src,
    f_tgt,
    *,
    random_state: int,
    max_per_domain: int = MAX_PER_DOMAIN,
    c_grid: tuple[float, ...] = C_GRID,
    fractions: tuple[float, float, float] = FRACTIONS,
) -> dict:
    """Proxy A-distance d_A = 2 (1 − 2 ε) between two samples of features (linear SVM, C chosen on val).

    Args:
        f_src: source features ``[N_s, D]`` (or ``[N_s, ...]``, flattened; e.g. images in [0, 1]).
        f_tgt: target features ``[N_t, D]`` with the same D.
        random_state: seeds the balanced subsample and the train / val / test split (the primal solver is
            deterministic, so nothing else is random).
        max_per_domain: at most this many samples per domain are used (default 2,000).
        c_grid: SVM regularisation constants tried on the val part.
        fractions: train / val / test shares of each domain's sample.
    Returns:
        ``{"d_a", "error" (test ε), "val_error", "train_error", "C", "c_grid", "val_errors",
        "n_per_domain", "n_train", "n_val", "n_test", "n_source", "n_target", "dim", "not_converged",
        "random_state", "classifier", "sklearn"}``; the ``n_*`` of parts count both domains together.
    Raises:
        ValueError: on mismatched dimensions, non-finite values or fewer than 3 samples per domain.
    """
    import sklearn
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    x_src, x_tgt = _as_2d("source", f_src), _as_2d("target", f_tgt)
    if x_src.shape[1] != x_tgt.shape[1]:
        raise ValueError(f"source and target features differ in dimension: {x_src.shape[1]} vs {x_tgt.shape[1]}")
    if not c_grid:
        raise ValueError("c_grid is empty")
    parts = pad_partition(len(x_src), len(x_tgt), random_state=random_state, max_per_domain=max_per_domain,
                          fractions=fractions)

    def pooled(k: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = x_src[parts["source"][k]], x_tgt[parts["target"][k]]
        return np.concatenate([a, b]), np.concatenate([np.ones(len(a)), np.zeros(len(b))])

    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = pooled(0), pooled(1), pooled(2)
    scaler = StandardScaler().fit(x_tr)
    x_tr, x_va, x_te = scaler.transform(x_tr), scaler.transform(x_va), scaler.transform(x_te)

    best, val_errors, not_converged = None, [], []
    for c in c_grid:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            svm = LinearSVC(C=float(c), loss="squared_hinge", dual=False, max_iter=MAX_ITER).fit(x_tr, y_tr)
        if any(issubclass(w.category, ConvergenceWarning) for w in caught):
            not_converged.append(float(c))
        err = float(np.mean(svm.predict(x_va) != y_va))
        val_errors.append(err)
        if best is None or err < best[0]:
            best = (err, float(c), svm)
    val_error, c_best, svm = best
    test_error = float(np.mean(svm.predict(x_te) != y_te))
    return {
        "d_a": float(np.clip(2.0 * (1.0 - 2.0 * test_error), 0.0, 2.0)),
        "error": test_error,
        "val_error": val_error,
        "train_error": float(np.mean(svm.predict(x_tr) != y_tr)),
        "C": c_best,
        "c_grid": [float(c) for c in c_grid],
        "val_errors": val_errors,
        "n_per_domain": int(sum(len(p) for p in parts["source"])),
        "n_train": int(len(y_tr)),
        "n_val": int(len(y_va)),
        "n_test": int(len(y_te)),
        "n_source": int(len(x_src)),
        "n_target": int(len(x_tgt)),
        "dim": int(x_src.shape[1]),
        "not_converged": not_converged,
        "random_state": int(random_state),
        "classifier": f"sklearn.svm.LinearSVC(loss='squared_hinge', dual=False, max_iter={MAX_ITER}) on "
                      f"StandardScaler features (fitted on the train part)",
        "sklearn": sklearn.__version__,
    }
