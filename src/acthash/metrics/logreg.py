"""The one-vs-one logistic regression on 0/1 codes (tested against `acthash.metrics.reference`): scikit-learn's
objective solved by batched Newton steps for all class pairs, on distinct rows with their label counts as
weights."""

from __future__ import annotations

import numpy as np
import torch

from acthash.metrics.distinct import distinct_counts


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
        # one pair at a time: a batched solve after torch.set_num_threads (as every pack job calls it) returns
        # wrong solutions from about 150 unknowns on (torch 2.14.1 with MKL; docs/determinism.md)
        step = torch.stack([torch.linalg.solve(h, g) for h, g in zip(hess, grad)]) * todo.unsqueeze(1)
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
