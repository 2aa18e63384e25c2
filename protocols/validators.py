"""Validators: label-free scores of a trained model, for choosing checkpoints and hyper-parameters in
unsupervised domain adaptation, where target labels may not be used.

Every validator reads only the *labelled source validation* split, source-training images (the IWV/DEV domain
classifier's source side) and an *unlabelled* fixed subset of the *target training* split (images, never labels). Each is a pure function of arrays
(:class:`ValidatorInputs`, which carry an explicit ``random_state``), returns one number, and is oriented so that
**higher is better**. They are registered in :data:`dabench.registry.VALIDATORS`; ``docs/protocol.md`` states
the formulas, sample sizes and conventions.

* ``source-val`` — accuracy on the source validation split (what every run has logged since the start).
* ``iwv`` — importance-weighted validation (Sugiyama, Krauledat & Müller, JMLR 2007): the source-val
  cross-entropy weighted by w(x) = p_t(x)/p_s(x), estimated by a domain classifier on the model's features;
  score = −mean(w·ℓ).
* ``dev`` — deep embedded validation (You, Wang, Long & Jordan, ICML 2019): the IWV risk with the control
  variate η = −Cov(w·ℓ, w)/Var(w); risk = mean(w·ℓ) + η·mean(w) − η; score = −risk.
* ``entropy`` — minus the mean prediction entropy on target (Morerio, Cavazza & Murino, ICLR 2018).
* ``im`` — information maximisation: entropy of the mean target prediction minus the mean entropy (diverse and
  confident predictions score high; Shi & Sha, ICML 2012; Liang et al., ICML 2020).
* ``snd`` — soft neighbourhood density (Saito, Kim, Teterwak, Sclaroff, Darrell & Saenko, ICCV 2021): the mean
  entropy of each target sample's softmax-normalised similarity to the other target samples (temperature 0.05)
  in the space of L2-normalised class probabilities.

The oracle (target *test* accuracy) is not a validator: the leaderboard keeps it as a named upper bound.
:func:`weighted_spearman` is the validator-quality statistic of Musgrave, Belongie & Lim (2022).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Callable

import numpy as np

from dabench.registry import VALIDATORS

#: the most images of each split a validator reads (target-train; source-val and source-train for IWV/DEV):
#: 1,000 keeps the validators under a tenth of a run's time at the default budgets (docs/measurements.md)
MAX_SAMPLES = 1000
#: SND's softmax temperature (Saito et al. 2021, §3)
SND_TEMPERATURE = 0.05
#: the IWV/DEV domain classifier: L2 logistic regression (inverse regularisation C) on standardised principal
#: components of the features, few enough that two samples of one distribution get weights near 1 (a classifier
#: on all 768 dimensions of DANN's features over-fits its samples: docs/protocol.md)
DOMAIN_C = 1.0
DOMAIN_PCA = 32
_EPS = 1e-12


@dataclass(frozen=True)
class ValidatorInputs:
    """What a model shows the validators (float arrays; probabilities are softmax outputs, rows sum to 1).

    Attributes:
        src_val_probs: ``[N_v, K]`` class probabilities of source-validation images.
        src_val_labels: ``[N_v]`` their labels (source labels: allowed).
        src_val_feats: ``[N_v, D]`` the model's features of the same images (IWV/DEV weight them).
        src_train_feats: ``[N_s, D]`` features of source-training images (the domain classifier's source side).
        tgt_probs: ``[N_t, K]`` class probabilities of unlabelled target-training images.
        tgt_feats: ``[N_t, D]`` their features (the domain classifier's target side).
        random_state: seeds the domain classifier's sample and PCA.
    """

    src_val_probs: np.ndarray
    src_val_labels: np.ndarray
    src_val_feats: np.ndarray
    src_train_feats: np.ndarray
    tgt_probs: np.ndarray
    tgt_feats: np.ndarray
    random_state: int = 0

    @cached_property
    def losses(self) -> np.ndarray:
        """The source-val cross-entropies (IWV and DEV weight the same ones)."""
        return cross_entropy(self.src_val_probs, self.src_val_labels)

    @cached_property
    def weights(self) -> np.ndarray:
        """The importance weights of the source-val samples (one domain classifier for IWV and DEV)."""
        return importance_weights(self.src_train_feats, self.tgt_feats, self.src_val_feats,
                                  random_state=self.random_state)


@dataclass(frozen=True)
class Validator:
    """A registered validator: its name, display title, one-sentence description, the evaluation-line key its
    score is logged under, and the pure function ``fn(inputs) -> float`` (higher is better)."""

    name: str
    title: str
    text: str
    metric: str
    fn: Callable[[ValidatorInputs], float]


def register(name: str, title: str, text: str, metric: str | None = None):
    """Decorator: register ``fn`` as validator ``name`` (logged as ``valid/<name>`` unless ``metric`` is given)."""
    def add(fn):
        VALIDATORS.register(name)(Validator(name, title, text, metric or f"valid/{name}", fn))
        return fn
    return add


# ------------------------------------------------------------------------------------------ the formulas
def entropy(probs: np.ndarray) -> np.ndarray:
    """Shannon entropy in nats of each row of ``probs`` ``[N, K]`` (0 · log 0 = 0)."""
    p = np.asarray(probs, dtype=np.float64)
    return -(p * np.log(np.clip(p, _EPS, None))).sum(axis=1)


def cross_entropy(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """−log p(y|x) of each row (probabilities clipped at 1e-12, so a confident mistake costs at most 27.6)."""
    p = np.asarray(probs, dtype=np.float64)
    return -np.log(np.clip(p[np.arange(len(p)), np.asarray(labels)], _EPS, None))


def importance_weights(f_src: np.ndarray, f_tgt: np.ndarray, f_eval: np.ndarray, *, random_state: int,
                       max_samples: int = MAX_SAMPLES, C: float = DOMAIN_C, pca: int = DOMAIN_PCA) -> np.ndarray:
    """Density-ratio weights w(x) = p_t(x)/p_s(x) of the rows of ``f_eval`` (source samples).

    A domain classifier is fitted on ``n = min(N_s, N_t, max_samples)`` rows of each domain drawn without
    replacement with ``random_state`` (equal counts, so the prior ratio is 1): the pooled rows are projected on
    their first ``pca`` principal components (randomised SVD, ``random_state``), standardised, and separated by
    an L2 logistic regression with inverse regularisation ``C``; then
    w(x) = d(x) / (1 − d(x)) with d(x) = P(target | x), clipped to [1e-6, 1 − 1e-6]. ``f_eval`` should be
    held out from the fit (source-val, where the classifier was fitted on source-train), as in DEV.
    """
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(random_state)
    n = min(len(f_src), len(f_tgt), max_samples)
    pick_s = rng.choice(len(f_src), n, replace=False)
    pick_t = rng.choice(len(f_tgt), n, replace=False)
    x = np.concatenate([_flat(f_src)[pick_s], _flat(f_tgt)[pick_t]])
    y = np.concatenate([np.zeros(n), np.ones(n)])
    steps = [PCA(pca, svd_solver="randomized", random_state=random_state)] if x.shape[1] > pca else []
    clf = make_pipeline(*steps, StandardScaler(), LogisticRegression(C=C, max_iter=1000)).fit(x, y)
    d = np.clip(clf.predict_proba(_flat(f_eval))[:, 1], 1e-6, 1 - 1e-6)
    return d / (1.0 - d)


def iwv_risk(losses: np.ndarray, weights: np.ndarray) -> float:
    """Importance-weighted risk: mean of w_i · ℓ_i (Sugiyama et al. 2007)."""
    return float(np.mean(np.asarray(weights, np.float64) * np.asarray(losses, np.float64)))


def dev_risk(losses: np.ndarray, weights: np.ndarray) -> float:
    """Deep embedded validation risk (You et al. 2019, Algorithm 1): with L = w·ℓ and the control variate
    η = −Cov(L, w) / Var(w), risk = mean(L) + η · mean(w) − η. With constant weights (Var(w) = 0) η is 0 and the
    risk is the weighted mean, i.e. the source-val risk when w ≡ 1."""
    w = np.asarray(weights, np.float64)
    weighted = w * np.asarray(losses, np.float64)
    var = np.var(w, ddof=1) if len(w) > 1 else 0.0
    eta = 0.0 if var <= 0 else -np.cov(weighted, w, ddof=1)[0, 1] / var
    return float(weighted.mean() + eta * w.mean() - eta)


def soft_neighbourhood_density(probs: np.ndarray, temperature: float = SND_TEMPERATURE) -> float:
    """SND (Saito et al. 2021, Eq. 1–3): L2-normalise each row, take the cosine similarities to the other rows
    (self excluded), softmax each row's similarities divided by ``temperature``, and average the rows' entropies.
    Dense, well-separated clusters give each sample many close neighbours: high entropy, high SND."""
    p = np.asarray(probs, dtype=np.float64)
    p = p / np.clip(np.linalg.norm(p, axis=1, keepdims=True), _EPS, None)
    sim = p @ p.T / temperature
    np.fill_diagonal(sim, -np.inf)
    sim -= sim.max(axis=1, keepdims=True)
    soft = np.exp(sim)
    soft /= soft.sum(axis=1, keepdims=True)
    return float(entropy(soft).mean())


def weighted_spearman(scores, accuracies, power: float = 2.0) -> float:
    """Weighted Spearman correlation of validator ``scores`` with ``accuracies`` (Musgrave et al. 2022).

    Both are ranked (ties share their mean rank); each point is weighted by (r_i / N)^``power``, r_i its
    accuracy rank (1 = least accurate), so the ordering among the most accurate checkpoints counts most; the
    statistic is the weighted Pearson correlation of the two rank vectors. NaN when either is constant.
    """
    s, a = np.asarray(scores, np.float64), np.asarray(accuracies, np.float64)
    if len(s) != len(a) or len(s) < 2:
        raise ValueError(f"need two equally long sequences of at least 2 values; got {len(s)} and {len(a)}")
    rs, ra = _ranks(s), _ranks(a)
    w = (ra / len(a)) ** power
    w = w / w.sum()
    ds, da = rs - (w * rs).sum(), ra - (w * ra).sum()
    var_s, var_a = (w * ds * ds).sum(), (w * da * da).sum()
    if var_s <= 0 or var_a <= 0:
        return float("nan")
    return float((w * ds * da).sum() / np.sqrt(var_s * var_a))


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..N of ``values``, tied values sharing the mean of their ranks."""
    ranks = np.empty(len(values))
    ranks[np.argsort(values, kind="stable")] = np.arange(1, len(values) + 1)
    _, group = np.unique(values, return_inverse=True)
    return (np.bincount(group, weights=ranks) / np.bincount(group))[group]


def _flat(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x.reshape(len(x), -1)


# ------------------------------------------------------------------------------------------ the validators
@register("source-val", "source-val", "accuracy on the labelled source validation split", metric="src_val/acc")
def source_val(inputs: ValidatorInputs) -> float:
    return float(np.mean(np.argmax(inputs.src_val_probs, axis=1) == np.asarray(inputs.src_val_labels)))


@register("iwv", "IWV", "minus the source-val cross-entropy weighted by p_t/p_s from a domain classifier on "
          "the model's features (Sugiyama et al. 2007)")
def iwv(inputs: ValidatorInputs) -> float:
    return -iwv_risk(inputs.losses, inputs.weights)


@register("dev", "DEV", "minus the importance-weighted source-val risk with DEV's control variate "
          "(You et al. 2019)")
def dev(inputs: ValidatorInputs) -> float:
    return -dev_risk(inputs.losses, inputs.weights)


@register("entropy", "entropy", "minus the mean entropy of the target predictions (Morerio et al. 2018)")
def neg_entropy(inputs: ValidatorInputs) -> float:
    return -float(entropy(inputs.tgt_probs).mean())


@register("im", "IM", "information maximisation on target: entropy of the mean prediction minus the mean "
          "entropy")
def information_maximisation(inputs: ValidatorInputs) -> float:
    probs = np.asarray(inputs.tgt_probs, np.float64)
    return float(entropy(probs.mean(axis=0, keepdims=True))[0] - entropy(probs).mean())


@register("snd", "SND", "soft neighbourhood density of the target predictions, temperature 0.05 (Saito et al. "
          "2021)")
def snd(inputs: ValidatorInputs) -> float:
    return soft_neighbourhood_density(inputs.tgt_probs)


def score_all(inputs: ValidatorInputs) -> dict[str, float]:
    """Every logged validator's score, by its evaluation-line key (``source-val`` is logged by the loop as
    ``src_val/acc`` on the whole split, so it is not repeated here)."""
    return {v.metric: v.fn(inputs) for _, v in VALIDATORS.items() if v.metric.startswith("valid/")}
