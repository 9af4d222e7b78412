"""The evaluation's metrics on curves whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from blendshape.train.metrics import sync_lag


@pytest.mark.parametrize("shift", [-7, -1, 0, 1, 3, 12])
def test_sync_lag_finds_a_known_shift_and_its_sign(shift):
    rng = np.random.default_rng(0)
    teacher = np.convolve(rng.random(900), np.ones(9) / 9, "same")  # jaw-like: smooth, bursty
    late = np.roll(teacher, shift)  # late[t] = teacher[t - shift]: late when shift > 0
    assert sync_lag(late, teacher) == shift
    assert sync_lag(0.3 * late + 0.2, teacher) == shift  # scale and offset don't matter


def test_sync_lag_of_a_flat_curve_is_zero():
    assert sync_lag(np.zeros(100), np.linspace(0, 1, 100)) == 0
