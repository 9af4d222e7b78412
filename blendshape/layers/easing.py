"""Two small shapes every layer uses: clamp to 0..1, and a cosine ease between keys."""

from __future__ import annotations

import math

import numpy as np


def unit(x: np.ndarray) -> np.ndarray:
    """``np.clip(x, 0, 1)`` without its dispatch overhead (a life frame calls it a dozen times)."""
    return np.minimum(np.maximum(x, 0.0), 1.0)


def ease(u: np.ndarray) -> np.ndarray:
    """Cosine ease 0 → 1 over u in 0..1: zero slope at both ends, monotone in between."""
    return 0.5 - 0.5 * np.cos(math.pi * unit(u))
