"""Fast metric backends on codes, each tested against `acthash.metrics.reference` (scikit-learn) on synthetic
and real codes.

- distinct rows: a hash set over the packed rows' bytes (exact equality, like `np.unique(axis=0)`).
- K-NN: a numba kernel over 64-bit words, Hamming distances by popcount of XOR (vectorised over training
  rows), then one scan for the k nearest; equal test rows are searched once. Ties at the k-th neighbour go
  to the lower training index; vote ties to the smallest label.
- K-Means: `acthash.metrics.kmeans` (exact in the codes: the same result on every machine).
- logistic regression: scikit-learn's one-vs-one objective solved by batched Newton steps for all class
  pairs, on distinct rows with their label counts as weights.
"""

from __future__ import annotations

import collections

import numba
import numpy as np
import torch
from numba import types
from numba.extending import intrinsic


def _row_keys(packed: np.ndarray) -> np.ndarray:
    """Each row of a (N, nbytes) uint8 array as one opaque value: equal rows, equal keys."""
    packed = np.ascontiguousarray(packed)
    return packed.view(np.dtype((np.void, packed.shape[1]))).ravel()


def unique_rows(packed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of a (N, nbytes) uint8 array → (index of each distinct row's first occurrence, index (N,)
    of each row's distinct row)."""
    _, first, inverse = np.unique(_row_keys(packed), return_index=True, return_inverse=True)
    return first, inverse


def distinct_rows(packed: np.ndarray) -> int:
    """Number of distinct rows of a (N, nbytes) uint8 array."""
    return len(set(_row_keys(packed).tolist())) if len(packed) else 0


def redundancy_ratio_packed(packed: np.ndarray) -> float:
    """R = (N − #distinct rows) / N on packed rows."""
    n = len(packed)
    return (n - distinct_rows(packed)) / n if n else float("nan")


def shared_fraction_packed(packed: np.ndarray) -> float:
    """The fraction of rows equal to at least one other row, on packed rows (between R and 2R)."""
    n = len(packed)
    counts = collections.Counter(_row_keys(packed).tolist())
    return sum(c for c in counts.values() if c > 1) / n if n else float("nan")


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
def _knn_kernel(train_t: np.ndarray, test: np.ndarray, k: int,
                dist_type: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each test row: Hamming distances to all training rows (`train_t`: words × rows, so the popcount
    loop runs over contiguous words and vectorises), in `dist_type`'s dtype, then one scan for the k smallest
    (ties → lower training index)."""
    n_words, n_train = train_t.shape
    n_test = test.shape[0]
    idx = np.empty((n_test, k), dtype=np.int64)
    dist = np.empty((n_test, k), dtype=np.int64)
    for i in numba.prange(n_test):
        d = np.zeros(n_train, dtype=dist_type.dtype)
        for w in range(n_words):
            q, words = test[i, w], train_t[w]
            for j in range(n_train):
                d[j] += _popcount(words[j] ^ q)
        best_d = np.full(k, np.iinfo(np.int64).max, dtype=np.int64)
        best_i = np.full(k, -1, dtype=np.int64)
        worst = best_d[k - 1]
        for j in range(n_train):
            dj = d[j]
            if dj < worst:
                pos = k - 1
                while pos > 0 and best_d[pos - 1] > dj:
                    best_d[pos] = best_d[pos - 1]
                    best_i[pos] = best_i[pos - 1]
                    pos -= 1
                best_d[pos] = dj
                best_i[pos] = j
                worst = best_d[k - 1]
        idx[i] = best_i
        dist[i] = best_d
    return idx, dist


def knn_neighbors(train_packed: np.ndarray, test_packed: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and Hamming distances (n_test, k) of each test row's k nearest training rows."""
    k = min(k, len(train_packed))
    train, test = as_words(train_packed), as_words(test_packed)
    dist_type = np.zeros(1, np.int16 if 64 * train.shape[1] <= np.iinfo(np.int16).max else np.int32)
    return _knn_kernel(np.ascontiguousarray(train.T), test, k, dist_type)


def knn_predict(train_packed: np.ndarray, y_train: np.ndarray, test_packed: np.ndarray, k: int) -> np.ndarray:
    """K-NN prediction with uniform votes; vote ties → smallest label. Equal test rows are searched once."""
    first, inverse = unique_rows(test_packed)
    idx, _ = knn_neighbors(train_packed, test_packed[first], k)
    votes = y_train[idx]
    n_labels = int(y_train.max()) + 1
    counts = np.zeros((len(votes), n_labels), dtype=np.int64)
    np.add.at(counts, (np.arange(len(votes))[:, None], votes), 1)
    return counts.argmax(1)[inverse]


def distinct_counts(codes01: np.ndarray, labels: np.ndarray,
                    n_labels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct rows of a 0/1 array (N, L), compared exactly through their packed bytes → (rows (M, L), counts
    (M, n_labels) of each row with each label, index (N,) of each input row's distinct row)."""
    codes01 = np.asarray(codes01, dtype=np.uint8)
    first, inverse = unique_rows(np.packbits(codes01, axis=1))
    counts = np.bincount(inverse * n_labels + labels, minlength=len(first) * n_labels).reshape(len(first), n_labels)
    return codes01[first], counts, inverse


def logreg_ovo(train01: np.ndarray, y_train: np.ndarray, test01: np.ndarray, c: float = 1.0, max_iter: int = 100,
               tol: float = 1e-4, warm: int = 8, device: str | None = None) -> np.ndarray:
    """One-vs-one L2 logistic regression on 0/1 codes (`logreg_ovo_fit`) → predicted test labels, by
    scikit-learn's OvO vote with confidence tie-breaking."""
    classes, beta = logreg_ovo_fit(train01, y_train, c, max_iter, tol, warm, device)
    if len(classes) < 2:
        return np.full(len(test01), classes[0])
    dt, dev = beta.dtype, beta.device
    pi, pj = (torch.as_tensor(a, device=dev) for a in np.triu_indices(len(classes), 1))
    xt = torch.as_tensor(np.asarray(test01), dtype=dt, device=dev)
    dec = torch.cat([xt, torch.ones(len(xt), 1, dtype=dt, device=dev)], 1) @ beta.T  # (N_test, P)
    votes = torch.zeros(len(xt), len(classes), dtype=dt, device=dev)
    conf = torch.zeros_like(votes)
    votes.index_add_(1, pi, (dec <= 0).to(dt)).index_add_(1, pj, (dec > 0).to(dt))
    conf.index_add_(1, pi, -dec).index_add_(1, pj, dec)
    return classes[(votes + conf / (3 * (conf.abs() + 1))).argmax(1).cpu().numpy()]


def logreg_ovo_fit(train01: np.ndarray, y_train: np.ndarray, c: float = 1.0, max_iter: int = 100, tol: float = 1e-4,
                   warm: int = 8, device: str | None = None) -> tuple[np.ndarray, torch.Tensor]:
    """One-vs-one L2 logistic regression on 0/1 codes → (classes, coefficients (P, L + 1) float64, the last
    column the intercept) of the class pairs (i, j), i < j, in `np.triu_indices` order, class j positive.

    Minimises scikit-learn's objective for each pair, C·Σ log-loss + ½‖w‖² (intercept not penalised), by
    damped Newton steps for all pairs at once (on `device`), until scikit-learn's lbfgs stopping rule holds:
    every gradient entry of the objective divided by C·(examples of the pair) is at most `tol`. Training rows
    are taken once per distinct code with their label counts as weights (the same objective). Newton starts
    from the optimum on a random 1/`warm` of each pair's rows, so that few full-size steps (and Hessians)
    are needed. scikit-learn's lbfgs also stops after
    100 iterations, sometimes before its rule holds; only there can the solutions differ.
    """
    classes, y = np.unique(y_train, return_inverse=True)
    dev = device or "cpu"
    if len(classes) < 2:
        return classes, torch.zeros(0, np.shape(train01)[1] + 1, dtype=torch.float64, device=dev)
    rows, counts, _ = distinct_counts(train01, y, len(classes))
    shuffle = np.random.default_rng(0).permutation(len(rows))  # so that each pair's first rows are a sample
    rows, counts = rows[shuffle], counts[shuffle]
    pi, pj = np.triu_indices(len(classes), 1)
    pos, total = counts[:, pj].T, counts[:, pj].T + counts[:, pi].T  # (P, M): class j (positive), both classes
    sizes = (total > 0).sum(1)
    order = np.argsort(total == 0, axis=1, kind="stable")[:, : sizes.max()]  # each pair's rows first, then padding
    valid = np.arange(order.shape[1])[None, :] < sizes[:, None]  # padding rows get weight 0
    x = torch.from_numpy(np.concatenate([rows, np.ones((len(rows), 1), np.uint8)], 1)).to(dev)[
        torch.from_numpy(order).to(dev)].float()  # (P, rows, L + 1)
    n = torch.from_numpy(np.take_along_axis(total, order, 1) * valid).to(dev, torch.float64) * c
    t = torch.from_numpy(np.take_along_axis(pos, order, 1) * valid).to(dev, torch.float64) * c
    beta = torch.zeros(len(pi), x.shape[2], dtype=torch.float64, device=dev)
    part = -(-order.shape[1] // warm)
    if warm > 1 and part >= 64:  # start from the optimum on a 1/warm sample of each pair, its weights scaled up
        scale = torch.from_numpy(sizes / np.minimum(sizes, part)).to(dev, torch.float64)[:, None]
        beta = _newton(x[:, :part], n[:, :part] * scale, t[:, :part] * scale, beta, tol, max_iter)
    return classes, _newton(x, n, t, beta, tol, max_iter)


def _newton(x: torch.Tensor, n: torch.Tensor, t: torch.Tensor, beta: torch.Tensor, tol: float,
            max_iter: int) -> torch.Tensor:
    """Damped Newton for P logistic regressions at once: rows x (P, M, L+1, last column the intercept), row
    weights n and positive weights t (P, M) → coefficients (P, L+1) minimising Σ (n·softplus(z) − t·z) +
    ½‖w‖² (intercept unpenalised), z = x·beta. A pair stops when every gradient entry is at most tol·Σn of
    the pair; once half the batch has stopped, the batch shrinks to the pairs still moving. A pair keeps
    stepping with its last Hessian while each step shrinks its largest gradient entry at least fourfold;
    otherwise its exact Hessian is computed."""
    dev, dt, dims = x.device, x.dtype, x.shape[2]
    reg = torch.ones(dims, dtype=torch.float64, device=dev)
    reg[-1] = 0
    diag = torch.diag(reg + 1e-12)
    out = beta.clone()
    live = torch.arange(len(beta), device=dev)  # the batch's pairs
    hess = torch.eye(dims, dtype=torch.float64, device=dev).repeat(len(beta), 1, 1)  # stopped pairs keep I
    last = torch.zeros(len(beta), dtype=torch.float64, device=dev)  # largest gradient entry at the last step
    scaled = torch.empty(x.shape[1:], dtype=dt, device=dev)

    def objective(b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.bmm(b.to(dt).unsqueeze(1), x.transpose(1, 2)).squeeze(1).double()
        return (n * torch.nn.functional.softplus(z) - t * z).sum(1) + 0.5 * (reg * b * b).sum(1), z

    f, z = objective(beta)
    bound = tol * n.sum(1)
    for _ in range(max_iter):
        p = torch.sigmoid(z)
        grad = torch.bmm((n * p - t).to(dt).unsqueeze(1), x).squeeze(1).double() + reg * beta
        largest = grad.abs().amax(1)
        todo = largest > bound
        if not todo.any():
            break
        if 2 * todo.sum() <= len(todo):  # most pairs have stopped: shrink the batch to the others
            out[live] = beta
            keep = todo.nonzero().squeeze(1)
            live, x, n, t, beta, f, z, p, grad, largest, last, hess, bound, todo = (
                a[keep] for a in (live, x, n, t, beta, f, z, p, grad, largest, last, hess, bound, todo))
        weights = (n * p * (1 - p)).to(dt)
        for i in (todo & (largest > last / 4)).nonzero().squeeze(1).tolist():  # exact Hessians where needed
            hess[i] = torch.mm(torch.mul(x[i], weights[i, :, None], out=scaled).T, x[i]).double() + diag
        last = largest
        step = torch.linalg.solve(hess, grad) * todo.unsqueeze(1)
        size = torch.ones(len(beta), 1, dtype=torch.float64, device=dev)
        for halvings in range(31):  # halve the step of pairs whose objective would rise, at most 30 times
            new_f, new_z = objective(beta - size * step)
            worse = new_f > f + 1e-7 * f.abs()
            if not worse.any() or halvings == 30:
                break
            size = torch.where(worse.unsqueeze(1), size / 2, size)
        beta, f, z = beta - size * step, new_f, new_z
    out[live] = beta
    return out
