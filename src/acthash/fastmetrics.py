"""Fast metric backends on packed codes, each tested against `metrics` (the scikit-learn reference).

- distinct rows: a hash set over the packed rows' bytes (exact equality, like `np.unique(axis=0)`).
- K-NN: a numba kernel over 64-bit words, Hamming distance by popcount of XOR. Ties at the k-th neighbour
  go to the lower training index; vote ties to the smallest label (as scipy's mode).
- K-Means: Lloyd with k-means++ seeding, all n_init runs advanced together in batched matmuls (torch, on
  the device when there is one); an empty cluster keeps its previous centre.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import torch
from numba import types
from numba.extending import intrinsic


def distinct_rows(packed: np.ndarray) -> int:
    """Number of distinct rows of a (N, nbytes) uint8 array."""
    packed = np.ascontiguousarray(packed)
    return len(set(packed.view(np.dtype((np.void, packed.shape[1]))).ravel().tolist())) if len(packed) else 0


def redundancy_ratio_packed(packed: np.ndarray) -> float:
    """R = (N − #distinct rows) / N on packed rows."""
    n = len(packed)
    return (n - distinct_rows(packed)) / n if n else float("nan")


def as_words(packed: np.ndarray) -> np.ndarray:
    """(N, nbytes) uint8 → (N, ceil(nbytes/8)) uint64, zero-padded (padding never changes a distance)."""
    n, nbytes = packed.shape
    out = np.zeros((n, (nbytes + 7) // 8 * 8), dtype=np.uint8)
    out[:, :nbytes] = packed
    return out.view(np.uint64)


@intrinsic
def _popcount(typingctx, x):  # noqa: ANN001 - numba intrinsic signature
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):  # noqa: ANN001
        return builder.ctpop(args[0])

    return sig, codegen


@numba.njit(parallel=True, cache=True)
def _knn_kernel(train: np.ndarray, test: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    n_test, n_words = test.shape
    idx = np.empty((n_test, k), dtype=np.int64)
    dist = np.empty((n_test, k), dtype=np.int64)
    for i in numba.prange(n_test):
        best_d = np.full(k, np.iinfo(np.int64).max, dtype=np.int64)
        best_i = np.full(k, -1, dtype=np.int64)
        for j in range(train.shape[0]):
            d = 0
            for w in range(n_words):
                d += _popcount(train[j, w] ^ test[i, w])
            if d < best_d[k - 1]:
                pos = k - 1
                while pos > 0 and best_d[pos - 1] > d:
                    best_d[pos] = best_d[pos - 1]
                    best_i[pos] = best_i[pos - 1]
                    pos -= 1
                best_d[pos] = d
                best_i[pos] = j
        idx[i] = best_i
        dist[i] = best_d
    return idx, dist


def knn_neighbors(train_packed: np.ndarray, test_packed: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and Hamming distances (n_test, k) of each test row's k nearest training rows."""
    k = min(k, len(train_packed))
    return _knn_kernel(as_words(train_packed), as_words(test_packed), k)


def knn_predict(train_packed: np.ndarray, y_train: np.ndarray, test_packed: np.ndarray, k: int = 9) -> np.ndarray:
    """K-NN prediction with uniform votes; vote ties → smallest label."""
    idx, _ = knn_neighbors(train_packed, test_packed, k)
    votes = y_train[idx]
    n_labels = int(y_train.max()) + 1
    counts = np.zeros((len(votes), n_labels), dtype=np.int64)
    np.add.at(counts, (np.arange(len(votes))[:, None], votes), 1)
    return counts.argmax(1)


def _kmeans_pp(x: torch.Tensor, sq: torch.Tensor, k: int, n_init: int, gen: torch.Generator) -> torch.Tensor:
    """k-means++ seeding (greedy, 2 + ⌊ln k⌋ local trials, as scikit-learn) for n_init runs → (R, k, L)."""
    n = x.shape[0]
    trials = 2 + int(math.log(k))
    first = torch.randint(n, (n_init,), generator=gen).to(x.device)
    centers = [x[first]]
    d2 = (sq[None, :] - 2 * centers[0] @ x.T + sq[first][:, None]).clamp_min(0)  # (R, N)
    for _ in range(1, k):
        probs = (d2 + 1e-12).cpu().double()
        cand = torch.multinomial(probs, trials, replacement=True, generator=gen).to(x.device)  # (R, T)
        cd2 = (sq[None, None, :] - 2 * torch.einsum("rtl,nl->rtn", x[cand], x) + sq[cand][..., None]).clamp_min(0)
        new_d2 = torch.minimum(d2[:, None, :], cd2)  # (R, T, N)
        best = new_d2.sum(2).argmin(1)
        rows = torch.arange(n_init, device=x.device)
        centers.append(x[cand[rows, best]])
        d2 = new_d2[rows, best]
    return torch.stack(centers, dim=1)


def _lloyd(x: torch.Tensor, sq: torch.Tensor, centers: torch.Tensor, tol_abs: float, max_iter: int) -> torch.Tensor:
    """Lloyd iterations for R runs at once (R, k, L) → final centres. A run stops, as in scikit-learn, when
    its labels no longer change or its squared centre shift is ≤ tol_abs; only unconverged runs advance."""
    n, dims = x.shape
    n_runs, k = centers.shape[:2]
    centers = centers.clone()
    labels = torch.full((n_runs, n), -1, dtype=torch.long, device=x.device)
    active = torch.arange(n_runs, device=x.device)
    for _ in range(max_iter):
        c, r = centers[active], len(active)
        new_labels = _sq_dist(x, sq, c).argmin(2).T  # (r, N)
        slots = new_labels + torch.arange(r, device=x.device)[:, None] * k  # (r, N) cluster slot ids
        onehot = torch.zeros(r * k, n, dtype=x.dtype, device=x.device)
        onehot.index_put_((slots.reshape(-1), torch.arange(n, device=x.device).repeat(r)),
                          torch.ones((), dtype=x.dtype, device=x.device))
        counts = onehot.sum(1).view(r, k, 1)
        new_c = torch.where(counts > 0, (onehot @ x).view(r, k, dims) / counts.clamp_min(1), c)
        converged = (new_labels == labels[active]).all(1) | (((new_c - c) ** 2).sum((1, 2)) <= tol_abs)
        centers[active], labels[active] = new_c, new_labels
        active = active[~converged]
        if len(active) == 0:
            break
    return centers


def kmeans_fast(codes01: np.ndarray | torch.Tensor, n_clusters: int, n_init: int = 10, seed: int = 9,
                max_iter: int = 300, tol: float = 1e-4, device: str | None = None,
                coarse: int = 8192, prune: float = 0.02) -> tuple[np.ndarray, float]:
    """Batched K-Means → (cluster ids of the best run, its inertia).

    All n_init runs advance together. With more than `coarse` rows, the k-means++ seeding and a first Lloyd
    phase run on a seeded random subset of `coarse` rows; runs whose subset inertia is more than `prune`
    above the best cannot win and are dropped; the others continue on all rows to convergence
    (scikit-learn's stopping rule: labels unchanged, or squared centre shift ≤ tol × mean feature variance).
    """
    x = torch.as_tensor(np.asarray(codes01, dtype=np.float32), device=device or "cpu")
    n = len(x)
    k = min(n_clusters, n)
    gen = torch.Generator().manual_seed(seed)
    sq = (x * x).sum(1)
    tol_abs = tol * float(x.var(0, unbiased=False).mean())
    if n > coarse:
        pick = torch.randperm(n, generator=gen)[:coarse].to(x.device)
        centers = _kmeans_pp(x[pick], sq[pick], k, n_init, gen)
        centers = _lloyd(x[pick], sq[pick], centers, tol_abs, max_iter)
        _, sub_inertia = _assign(x[pick], sq[pick], centers)
        centers = centers[sub_inertia <= sub_inertia.min() * (1 + prune)]  # runs that can still win
    else:
        centers = _kmeans_pp(x, sq, k, n_init, gen)
    centers = _lloyd(x, sq, centers, tol_abs, max_iter)
    labels, inertia = _assign(x, sq, centers)
    best = int(inertia.argmin())
    return labels[best].cpu().numpy(), float(inertia[best])


def _sq_dist(x: torch.Tensor, sq: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """Squared distances (N, R, k) of rows x (N, L), with squared norms sq (N,), to R runs' centres (R, k, L):
    one matmul for all runs."""
    n_runs, k, dims = centers.shape
    dist = sq[:, None] - 2 * x @ centers.reshape(-1, dims).T + (centers * centers).sum(2).reshape(-1)[None, :]
    return dist.view(len(x), n_runs, k)


def _assign(x: torch.Tensor, sq: torch.Tensor, centers: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest-centre labels (R, N) and inertia (R,) of R runs' centres (R, k, L)."""
    d = _sq_dist(x, sq, centers)
    return d.argmin(2).T, d.min(2).values.clamp_min(0).sum(0)


def logreg_ovo_newton(train01: np.ndarray, y_train: np.ndarray, test01: np.ndarray, c: float = 1.0,
                      max_iter: int = 100, tol: float = 1e-6, device: str | None = None) -> np.ndarray:
    """One-vs-one L2 logistic regression (scikit-learn's objective: C·Σ log-loss + ½‖w‖², intercept not
    penalised) solved exactly by Newton's method for all class pairs at once, in float64 on `device`;
    predictions by scikit-learn's OvO vote with confidence tie-breaking. Meant for GPUs: on a CPU
    scikit-learn's lbfgs is faster. Differs from scikit-learn only where its lbfgs stops before convergence."""
    classes = np.unique(y_train)
    if len(classes) < 2:
        return np.full(len(test01), classes[0])
    dt, dev = torch.float64, device or "cpu"
    x = torch.as_tensor(np.asarray(train01), dtype=dt, device=dev)
    x = torch.cat([x, torch.ones(len(x), 1, dtype=dt, device=dev)], 1)
    y = torch.as_tensor(np.searchsorted(classes, y_train), device=dev)
    pi, pj = (torch.as_tensor(a, device=dev) for a in np.triu_indices(len(classes), 1))
    member = ((y[None] == pi[:, None]) | (y[None] == pj[:, None])).to(dt)  # (P, N): in pair p
    target = (y[None] == pj[:, None]).to(dt)  # class j of pair (i, j) is the positive class
    reg = torch.ones(x.shape[1], dtype=dt, device=dev)
    reg[-1] = 0
    beta = torch.zeros(len(pi), x.shape[1], dtype=dt, device=dev)
    for _ in range(max_iter):
        p = torch.sigmoid(beta @ x.T)
        grad = c * ((member * (p - target)) @ x) + reg * beta
        if float(grad.abs().max()) < tol:
            break
        w = c * member * p * (1 - p)
        hess = torch.stack([(x.T * wp) @ x for wp in w]) + torch.diag(reg + 1e-12)
        beta = beta - torch.linalg.solve(hess, grad.unsqueeze(2)).squeeze(2)
    xt = torch.as_tensor(np.asarray(test01), dtype=dt, device=dev)
    dec = torch.cat([xt, torch.ones(len(xt), 1, dtype=dt, device=dev)], 1) @ beta.T  # (N_test, P)
    votes = torch.zeros(len(xt), len(classes), dtype=dt, device=dev)
    conf = torch.zeros_like(votes)
    votes.index_add_(1, pi, (dec <= 0).to(dt)).index_add_(1, pj, (dec > 0).to(dt))
    conf.index_add_(1, pi, -dec).index_add_(1, pj, dec)
    return classes[(votes + conf / (3 * (conf.abs() + 1))).argmax(1).cpu().numpy()]
