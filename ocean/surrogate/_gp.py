"""Gaussian-process regression of one scenario index (Matérn 5/2, ARD length scales).

The index head's effective sea-surface pCO2 (``p_eff``, :mod:`._indices`) is a smooth function
of the eight scenario parameters, up to a small non-smooth part (regime switches of the full
model) that a network tends to chase. A Gaussian process with a white-noise term separates the
two: its kernel's hyper-parameters are fitted by maximum marginal likelihood (scikit-learn's
``GaussianProcessRegressor``) on a seeded subset of the training scenarios; the posterior mean
is then the projected-process (DTC, Seeger et al. 2003; Quiñonero-Candela & Rasmussen 2005)
mean over a seeded subset of ``inducing`` training scenarios, fitted to all of them: a
prediction costs one kernel row over the inducing points, and the fit grows linearly with
the ensemble. With as many inducing points as training points it is the exact GP mean.
Its accuracy against the networks alone is measured in ``docs/ocean_surrogate.md``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ecocube.errors import InvalidInputError

__all__ = ["MaternGP"]

_SQRT5 = float(np.sqrt(5.0))


@dataclass
class MaternGP:
    """Posterior mean of a zero-mean GP with a Matérn-5/2 ARD kernel, on standardised targets.

    Attributes
    ----------
    hyper_points
        Training points used to fit the hyper-parameters by marginal likelihood (a seeded
        subset; the cost grows with their cube).
    inducing
        Inducing points of the posterior mean (a seeded subset of the training points; all
        of them when there are fewer). Prediction costs grow linearly with them.
    length_scale, amplitude, noise
        Fitted kernel: ``amplitude^2 * Matern52(|x - x'| / length_scale) + noise * delta``.
    x, alpha
        Inducing inputs and the weights of their kernel row (the mean is ``k(x*, x) @ alpha``).
    """

    hyper_points: int = 1500
    inducing: int = 1024
    length_scale: np.ndarray = field(default_factory=lambda: np.ones(0))
    amplitude: float = 1.0
    noise: float = 0.0
    x: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    alpha: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def fit(self, x: np.ndarray, y: np.ndarray, *, seed: int = 0) -> MaternGP:
        """Fit the kernel on ``hyper_points`` points, then the mean over ``inducing`` points.

        Parameters
        ----------
        x
            Inputs ``(n, d)`` (the scaled scenario parameters).
        y
            Standardised targets ``(n,)``.
        seed
            Seed of the subsets and of the optimiser's start.
        """
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if x.ndim != 2 or len(x) != len(y) or len(x) < 10:
            raise InvalidInputError(
                f"the GP needs at least 10 points with matching inputs {x.shape} and targets "
                f"{y.shape}; train on a larger ensemble"
            )
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            raise InvalidInputError("the GP's inputs or targets are not finite; check the ensemble")
        rng = np.random.default_rng(seed)
        hyper = rng.permutation(len(x))[: self.hyper_points]
        kernel = ConstantKernel(1.0) * Matern(np.ones(x.shape[1]), nu=2.5) + WhiteKernel(
            1e-4, (1e-9, 1e-1)
        )
        with warnings.catch_warnings():
            # L-BFGS often stops "abnormally" on the flat marginal likelihood of very smooth
            # data (long length scales); the hyper-parameters it returns are still usable,
            # and the DTC solve below does not depend on the optimiser having converged.
            warnings.simplefilter("ignore", ConvergenceWarning)
            gp = GaussianProcessRegressor(kernel, random_state=seed).fit(x[hyper], y[hyper])
        fitted = gp.kernel_
        self.amplitude = float(np.sqrt(fitted.k1.k1.constant_value))
        self.length_scale = np.asarray(fitted.k1.k2.length_scale, dtype=np.float64)
        self.noise = float(fitted.k2.noise_level)
        keep = np.sort(rng.permutation(len(x))[: self.inducing])
        self.x = x[keep]
        # DTC mean: minimise |K_nm w - y|^2 + noise w' K_mm w. With K_mm = L L' and
        # w = L'^-1 u this is a ridge problem in u, |V u - y|^2 + noise |u|^2 with
        # V = K_nm L'^-1, solved as one well-conditioned stacked least-squares problem.
        from scipy.linalg import solve_triangular

        k_mm = self._kernel(self.x, self.x)
        k_mm[np.diag_indices_from(k_mm)] += 1e-10 * self.amplitude**2  # jitter
        chol = np.linalg.cholesky(k_mm)
        v = solve_triangular(chol, self._kernel(self.x, x), lower=True).T
        design = np.vstack([v, np.sqrt(self.noise) * np.eye(len(keep))])
        u = np.linalg.lstsq(design, np.concatenate([y, np.zeros(len(keep))]), rcond=None)[0]
        self.alpha = solve_triangular(chol.T, u, lower=False)
        return self

    def _kernel(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        from scipy.spatial.distance import cdist

        r = cdist(a / self.length_scale, b / self.length_scale)
        return self.amplitude**2 * (1.0 + _SQRT5 * r + (5.0 / 3.0) * r * r) * np.exp(-_SQRT5 * r)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Posterior mean (standardised units) at inputs ``(n, d)``."""
        if len(self.alpha) == 0:
            raise InvalidInputError("the GP is not fitted; call fit(x, y) first")
        x = np.asarray(x, dtype=np.float64)
        out = np.empty(len(x))
        step = max(1, 2**22 // len(self.x))  # ~32 MB of kernel values per chunk
        for a in range(0, len(x), step):
            out[a : a + step] = self._kernel(x[a : a + step], self.x) @ self.alpha
        return out

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-serialisable hyper-parameters and the arrays (``x``, ``alpha``)."""
        meta = {
            "hyper_points": self.hyper_points,
            "inducing": self.inducing,
            "length_scale": self.length_scale.tolist(),
            "amplitude": self.amplitude,
            "noise": self.noise,
        }
        return meta, {"x": self.x, "alpha": self.alpha}

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> MaternGP:
        """Inverse of :meth:`state`."""
        return cls(
            hyper_points=int(meta["hyper_points"]),
            inducing=int(meta["inducing"]),
            length_scale=np.asarray(meta["length_scale"], dtype=np.float64),
            amplitude=float(meta["amplitude"]),
            noise=float(meta["noise"]),
            x=np.asarray(arrays["x"], dtype=np.float64),
            alpha=np.asarray(arrays["alpha"], dtype=np.float64),
        )
