"""Intervention-based scores that sample a ground-truth dataset: the BetaVAE score
(Higgins et al. 2017) and the FactorVAE score (Kim & Mnih 2018), as in disentanglement_lib.

Both need a ground-truth dataset (any object with ``factor_sizes``, ``sample_factors(n, rng)``
and ``images_for(factors)``, see :class:`GroundTruthData`) and a representation function
``images -> codes [n, D]``. Batches of several votes are encoded in one call of the
representation function; the arithmetic per vote is unchanged.
"""

from __future__ import annotations

from typing import Callable, Protocol, Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression

from metrics.discretize import as_generator
from metrics.registry import register_metric

_IMAGES_PER_CALL = 4096  # images encoded per call of the representation function


class GroundTruthData(Protocol):
    """A dataset whose images are a function of integer factors v_1..v_K."""

    factor_sizes: Sequence[int]

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Integer factors [n, K], each v_k in 0..factor_sizes[k]-1."""

    def images_for(self, factors: np.ndarray) -> np.ndarray:
        """The images [n, ...] of the given factors [n, K]."""


RepresentationFn = Callable[[np.ndarray], np.ndarray]


def _encode(representation_fn: RepresentationFn, images) -> np.ndarray:
    codes = representation_fn(images)
    if hasattr(codes, "detach"):  # a torch tensor
        codes = codes.detach().cpu().numpy()
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or codes.shape[0] != len(images):
        raise ValueError("representation_fn must return codes [n, D], one row per image")
    return codes


def _check(dataset: GroundTruthData, batch_size: int, min_batch: int, counts: dict[str, int]) -> int:
    num_factors = len(dataset.factor_sizes)
    if num_factors < 1:
        raise ValueError("the dataset has no factors")
    if batch_size < min_batch:
        raise ValueError(f"batch_size must be at least {min_batch}")
    for name, value in counts.items():
        if value < 1:
            raise ValueError(f"{name} must be positive")
    return num_factors


def _representations_of(
    dataset: GroundTruthData, representation_fn: RepresentationFn, factors: np.ndarray
) -> np.ndarray:
    """Codes [n, D] of the images for ``factors`` [n, K], encoded in chunks."""
    chunks = [
        _encode(representation_fn, dataset.images_for(factors[start : start + _IMAGES_PER_CALL]))
        for start in range(0, len(factors), _IMAGES_PER_CALL)
    ]
    return np.concatenate(chunks, axis=0)


def _sample_batches(
    dataset: GroundTruthData, rng: np.random.Generator, num_votes: int, batch_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """(fixed factor index [num_votes], factors [num_votes, batch_size, K])."""
    num_factors = len(dataset.factor_sizes)
    fixed = rng.integers(num_factors, size=num_votes)
    factors = np.asarray(dataset.sample_factors(num_votes * batch_size, rng))
    return fixed, factors.reshape(num_votes, batch_size, num_factors).copy()


# ----------------------------------------------------------------------------- FactorVAE


def _factor_vae_votes(
    dataset: GroundTruthData,
    representation_fn: RepresentationFn,
    rng: np.random.Generator,
    num_votes: int,
    batch_size: int,
    global_variances: np.ndarray,
    active: np.ndarray,
) -> np.ndarray:
    """Votes [K factors, D dims]: how often fixing factor k made dim d the least varying."""
    num_factors = len(dataset.factor_sizes)
    votes = np.zeros((num_factors, global_variances.shape[0]), dtype=np.int64)
    active_index = np.flatnonzero(active)
    per_call = max(1, _IMAGES_PER_CALL // batch_size)
    for start in range(0, num_votes, per_call):
        n = min(per_call, num_votes - start)
        fixed, factors = _sample_batches(dataset, rng, n, batch_size)
        rows = np.arange(n)
        factors[rows, :, fixed] = factors[rows, 0, fixed][:, None]  # one value of factor k per batch
        reps = _representations_of(dataset, representation_fn, factors.reshape(n * batch_size, num_factors))
        local = reps.reshape(n, batch_size, -1).var(axis=1, ddof=1)
        ratio = local[:, active_index] / global_variances[active_index]
        dims = active_index[np.argmin(ratio, axis=1)]  # back to the index among all dims
        np.add.at(votes, (fixed, dims), 1)
    return votes


@register_metric(
    "factor_vae_score", "FactorVAE score: accuracy of the majority-vote classifier (least-varying dim -> fixed factor)"
)
def factor_vae_score(
    dataset: GroundTruthData,
    representation_fn: RepresentationFn,
    random_state: np.random.Generator | int | None,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
    num_variance_estimate: int = 10000,
    prune_threshold: float = 0.05,
) -> dict[str, float]:
    """FactorVAE score.

    1. Global variance s_d^2 of every code dim over ``num_variance_estimate`` random images
       (ddof 1). A dim is active when its standard deviation s_d >= ``prune_threshold``
       (disentanglement_lib's ``prune_dims.threshold``, 0.05 in its study configs, compares
       sqrt(variance), not the variance). No active dim: every score is 0.
    2. A vote: draw a factor k uniformly, a batch of ``batch_size`` factor vectors sharing one
       value of v_k, encode them, and take d* = argmin over active d of Var_batch(c_d) / s_d^2
       (the batch variance of each code rescaled by its global std, c_d / s_d).
    3. ``num_train`` votes give counts V[k, d]; the classifier maps d to argmax_k V[k, d];
       accuracy = sum_d V[class(d), d] / sum V, on the training votes and on ``num_eval``
       fresh votes (``train_accuracy``, ``eval_accuracy``).

    Differences from disentanglement_lib: there the argmin is taken over the active dims but
    used as if it indexed all dims, so with a pruned dim the votes land on the wrong dims (the
    accuracy is unchanged, the votes are only relabelled, but per-dim votes are wrong); here it
    is mapped back to the real dim index. ``num_active_dims`` is the number of active dims
    (disentanglement_lib reports the length of the mask, i.e. D). A dim of zero variance is
    never active (disentanglement_lib's default threshold 0 would divide 0 by 0).
    """
    _check(dataset, batch_size, 2, {"num_train": num_train, "num_eval": num_eval,
                                    "num_variance_estimate": num_variance_estimate})
    if num_variance_estimate < 2:
        raise ValueError("num_variance_estimate must be at least 2")
    rng = as_generator(random_state)
    factors = np.asarray(dataset.sample_factors(num_variance_estimate, rng))
    reps = _representations_of(dataset, representation_fn, factors)
    global_variances = reps.var(axis=0, ddof=1)
    active = np.sqrt(global_variances) >= prune_threshold
    active &= global_variances > 0
    if not active.any():
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0}
    train_votes = _factor_vae_votes(dataset, representation_fn, rng, num_train, batch_size, global_variances, active)
    classifier = np.argmax(train_votes, axis=0)
    dims = np.arange(train_votes.shape[1])
    eval_votes = _factor_vae_votes(dataset, representation_fn, rng, num_eval, batch_size, global_variances, active)
    return {
        "train_accuracy": float(train_votes[classifier, dims].sum() / train_votes.sum()),
        "eval_accuracy": float(eval_votes[classifier, dims].sum() / eval_votes.sum()),
        "num_active_dims": int(active.sum()),
    }


# ----------------------------------------------------------------------------- BetaVAE


def _beta_vae_points(
    dataset: GroundTruthData,
    representation_fn: RepresentationFn,
    rng: np.random.Generator,
    num_points: int,
    batch_size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(features [num_points, D], fixed factor [num_points]).

    A point: factor k drawn uniformly; two batches of factor vectors where row b of the
    second copies v_k from row b of the first; feature = mean_b |c(x1_b) - c(x2_b)|.
    """
    num_factors = len(dataset.factor_sizes)
    features, labels = [], []
    per_call = max(1, _IMAGES_PER_CALL // (2 * batch_size))
    for start in range(0, num_points, per_call):
        n = min(per_call, num_points - start)
        fixed, first = _sample_batches(dataset, rng, n, batch_size)
        _, second = _sample_batches(dataset, rng, n, batch_size)
        rows = np.arange(n)
        second[rows, :, fixed] = first[rows, :, fixed]
        both = np.concatenate([first, second], axis=0).reshape(2 * n * batch_size, num_factors)
        reps = _representations_of(dataset, representation_fn, both).reshape(2, n, batch_size, -1)
        features.append(np.abs(reps[0] - reps[1]).mean(axis=1))
        labels.append(fixed)
    return np.concatenate(features, axis=0), np.concatenate(labels)


@register_metric("beta_vae_score", "BetaVAE score: accuracy of a logistic regression predicting the fixed factor")
def beta_vae_score(
    dataset: GroundTruthData,
    representation_fn: RepresentationFn,
    random_state: np.random.Generator | int | None,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
) -> dict[str, float]:
    """BetaVAE score: a default sklearn ``LogisticRegression`` (``random_state=0``) trained on
    ``num_train`` points (see :func:`_beta_vae_points`) to predict which factor was shared;
    ``train_accuracy`` and ``eval_accuracy`` (on ``num_eval`` fresh points).
    If the training points show one factor only, that factor is always predicted.
    """
    _check(dataset, batch_size, 1, {"num_train": num_train, "num_eval": num_eval})
    rng = as_generator(random_state)
    x_train, y_train = _beta_vae_points(dataset, representation_fn, rng, num_train, batch_size)
    x_eval, y_eval = _beta_vae_points(dataset, representation_fn, rng, num_eval, batch_size)
    if np.unique(y_train).size < 2:
        return {"train_accuracy": 1.0, "eval_accuracy": float(np.mean(y_eval == y_train[0]))}
    model = LogisticRegression(random_state=0).fit(x_train, y_train)
    return {"train_accuracy": float(model.score(x_train, y_train)), "eval_accuracy": float(model.score(x_eval, y_eval))}
