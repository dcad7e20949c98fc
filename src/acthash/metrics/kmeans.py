"""K-Means on binary codes as an exact function of the codes: the same codes give the same clusters and inertia
on every CPU, GPU, thread count and BLAS.

Scikit-learn's algorithm (k-means++ seeding with 2 + ⌊ln k⌋ greedy trials, then Lloyd; best of `n_init` runs
by inertia), computed so that no result depends on the order of a floating-point sum:

- the rows are the distinct codes, weighted by their integer counts (the same objective);
- a centre is an integer sum s of member rows and an integer mass m; a row x's squared distance to it is
  |x| − 2·x·s/m + |s|²/m², where x·s is an integer (a float64 product of integers below 2**53 is exact in any
  summation order, on any BLAS) and the rest elementwise IEEE arithmetic, the same on every machine;
- k-means++ picks rows, so its distances are integer Hamming distances, and its draws come from numpy's
  PCG64 over integer cumulative weights;
- a run stops when its labels no longer change (a fixed point of Lloyd; scikit-learn's extra centre-shift
  rule, a float threshold, is not used); an empty cluster keeps its centre;
- the inertia is a sum of k per-cluster terms, each from exact integers by a fixed sequence of elementwise IEEE
  operations, added by `math.fsum` (exactly rounded, in any order).

With more than `coarse` distinct rows, every run is seeded and brought to its fixed point on a seeded
random subset of `coarse` examples, and only the `finalists` runs with the lowest subset inertia go on to
convergence on all rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from acthash.metrics.distinct import distinct_counts
from acthash.metrics.reference import SEED


@dataclass
class _Rows:
    """Distinct 0/1 rows x (M, L) float64 on the device, their integer weights w and sizes |x| (M,)."""

    x: torch.Tensor
    w: torch.Tensor
    size: torch.Tensor

    @classmethod
    def of(cls, codes01: np.ndarray, device: str) -> tuple[_Rows, np.ndarray]:
        """The distinct rows of `codes01` (N, L) with their counts → (rows, index (N,) of each row's distinct row)."""
        distinct, counts, inverse = distinct_counts(codes01, np.zeros(len(codes01), dtype=np.int64), 1)
        x = torch.as_tensor(distinct, dtype=torch.float64, device=device)
        return cls(x, torch.as_tensor(counts[:, 0], dtype=torch.float64, device=device), x.sum(1)), inverse


def _seed(rows: _Rows, k: int, n_init: int, rng: np.random.Generator) -> torch.Tensor:
    """Greedy k-means++ for `n_init` runs → the chosen rows' indices (R, k). Each new centre is the best, by
    the weighted sum of squared distances it leaves, of 2 + ⌊ln k⌋ rows drawn with probability ∝ w·d²."""
    x, w, size = rows.x, rows.w.cpu().numpy().astype(np.int64), rows.size
    trials = 2 + int(math.log(k))

    def hamming(idx: np.ndarray) -> torch.Tensor:  # integer distances (len(idx), M)
        sel = torch.as_tensor(idx, device=x.device)
        return (size[sel][:, None] + size[None, :] - 2 * x[sel] @ x.T).round().to(torch.int64)

    def draw(weights: np.ndarray, n: int) -> np.ndarray:  # n indices per run, with probability ∝ weights
        cum = np.cumsum(weights, axis=1)
        picks = rng.integers(0, np.maximum(cum[:, -1:], 1), size=(len(weights), n))
        return np.stack([np.searchsorted(c, p, side="right") for c, p in zip(cum, picks)]).clip(max=len(w) - 1)

    chosen = [draw(np.broadcast_to(w, (n_init, len(w))), 1)[:, 0]]
    d2 = hamming(chosen[0]).cpu().numpy()  # Hamming = squared Euclidean distance between 0/1 rows
    for _ in range(1, k):
        cand = draw(w * d2, trials)  # (R, T)
        new = np.minimum(d2[:, None, :], hamming(cand.ravel()).cpu().numpy().reshape(n_init, trials, -1))
        best = (new * w).sum(2).argmin(1)  # integer potentials: ties → the first trial
        chosen.append(cand[np.arange(n_init), best])
        d2 = new[np.arange(n_init), best]
    return torch.as_tensor(np.stack(chosen, 1), device=x.device)


def _labels(rows: _Rows, sums: torch.Tensor, mass: torch.Tensor) -> torch.Tensor:
    """Nearest centre (R, M) of each row for R runs' centres (sums (R, k, L), masses (R, k)); ties → lower centre."""
    n_runs, k, dims = sums.shape
    dots = (rows.x @ sums.reshape(-1, dims).T).view(len(rows.x), n_runs, k)  # exact integers
    # |x| − 2·x·s/m + |s|²/m² without |x| (the same for every centre): (|s|²/m − 2·x·s) / m
    norm = (sums * sums).sum(2)  # exact integers
    return ((norm / mass)[None] - 2 * dots).div(mass[None]).argmin(2).T


def _membership(rows: _Rows, labels: torch.Tensor, k: int) -> torch.Tensor:
    """(R, k, M): each row's integer weight at its cluster of each run, zero elsewhere (a matmul then sums)."""
    member = torch.zeros(len(labels), k, len(rows.x), dtype=torch.float64, device=rows.x.device)
    return member.scatter_(1, labels.unsqueeze(1), rows.w.expand(len(labels), 1, -1))


def _centres(rows: _Rows, labels: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Integer member sums (R, k, L) and masses (R, k) of R runs' labels (R, M)."""
    member = _membership(rows, labels, k)
    return member @ rows.x, member.sum(2)


def _lloyd(rows: _Rows, sums: torch.Tensor, mass: torch.Tensor,
           max_iter: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Lloyd iterations of R runs at once until each run's labels stop changing (or `max_iter`) → final sums,
    masses. Only unconverged runs advance; an empty cluster keeps its centre."""
    sums, mass = sums.clone(), mass.clone()
    k = sums.shape[1]
    last = torch.full((len(sums), len(rows.x)), -1, dtype=torch.long, device=rows.x.device)
    active = torch.arange(len(sums), device=rows.x.device)
    for _ in range(max_iter):
        labels = _labels(rows, sums[active], mass[active])
        new_sums, new_mass = _centres(rows, labels, k)
        empty = (new_mass == 0)
        sums[active] = torch.where(empty[..., None], sums[active], new_sums)
        mass[active] = torch.where(empty, mass[active], new_mass)
        converged = (labels == last[active]).all(1)
        last[active] = labels
        active = active[~converged]
        if len(active) == 0:
            break
    return sums, mass


def _inertia(rows: _Rows, sums: torch.Tensor, mass: torch.Tensor) -> tuple[torch.Tensor, list[float]]:
    """Labels (R, M) of R runs' centres and each run's inertia Σ w·‖x − s/m‖², summed per cluster from integers:
    Σ_c (A_c − 2·B_c/m_c + W_c·|s_c|²/m_c²), A = Σ w·|x|, B = Σ w·x·s, W = Σ w over the cluster's rows."""
    labels = _labels(rows, sums, mass)
    member = _membership(rows, labels, sums.shape[1])
    a, big_w = member @ rows.size, member.sum(2)
    b = (member * (sums @ rows.x.T)).sum(2)  # Σ_i w_i·(x_i·s): products and sums of integers, exact
    terms = (a - 2 * b / mass + big_w * (sums * sums).sum(2) / mass / mass).cpu().numpy()
    return labels, [math.fsum(t) for t in terms]


def kmeans_exact(codes01: np.ndarray, n_clusters: int, n_init: int, seed: int = SEED, max_iter: int = 300,
                 device: str | None = None, coarse: int = 8192, finalists: int = 3) -> tuple[np.ndarray, float]:
    """K-Means of 0/1 codes (N, L) → (cluster ids (N,) of the run with the lowest inertia, its inertia): scikit-
    learn's k-means++ and Lloyd, `n_init` runs, computed exactly (module docstring). At most min(n_clusters,
    distinct rows) clusters are used."""
    codes01 = np.asarray(codes01, dtype=np.uint8)
    dev = device or "cpu"
    rng = np.random.default_rng(seed)
    rows, inverse = _Rows.of(codes01, dev)
    k = min(n_clusters, len(rows.x))
    if len(rows.x) > coarse:
        sub, _ = _Rows.of(codes01[np.sort(rng.permutation(len(codes01))[:coarse])], dev)
        start = sub.x[_seed(sub, min(k, len(sub.x)), n_init, rng)]
        sums, mass = _lloyd(sub, start, torch.ones(start.shape[:2], dtype=torch.float64, device=dev), max_iter)
        _, sub_inertia = _inertia(sub, sums, mass)
        keep = torch.as_tensor(np.argsort(sub_inertia, kind="stable")[:finalists], device=dev)
        sums, mass = sums[keep], mass[keep]
    else:
        start = rows.x[_seed(rows, k, n_init, rng)]
        sums, mass = start, torch.ones(start.shape[:2], dtype=torch.float64, device=dev)
    sums, mass = _lloyd(rows, sums, mass, max_iter)
    labels, inertia = _inertia(rows, sums, mass)
    best = int(np.argmin(inertia))  # ties → the first run
    return labels[best].cpu().numpy()[inverse], inertia[best]
