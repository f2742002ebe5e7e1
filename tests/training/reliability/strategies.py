"""Hypothesis strategies shared by the reliability property tests."""

import numpy as np
from hypothesis import strategies as st


@st.composite
def rating_matrices(draw, *, min_units=3, max_units=25, min_raters=2, max_raters=6,
                    categories=(1, 2, 3, 4), missing=0.0):
    """A units x raters float matrix of category codes; ``missing`` is the NaN probability."""
    n = draw(st.integers(min_units, max_units))
    k = draw(st.integers(min_raters, max_raters))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    cats = np.asarray(categories, dtype=float)
    # Correlated raters, so values span chance to near-perfect agreement.
    truth = rng.integers(0, cats.size, size=n)
    noise = draw(st.floats(0.0, 1.0))
    idx = np.where(rng.random((n, k)) < noise, rng.integers(0, cats.size, size=(n, k)),
                   truth[:, None])
    x = cats[idx]
    if missing:
        x[rng.random((n, k)) < missing] = np.nan
    return x
