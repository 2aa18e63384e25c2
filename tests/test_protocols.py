import numpy as np
import pytest

from dabench.protocols.accuracy import accuracy


def test_accuracy_on_hand_made_arrays():
    out = accuracy(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), num_classes=4)
    assert out["acc"] == 0.75
    assert out["per_class"] == [1.0, 1.0, 0.5, None]
    assert out["n"] == 4


def test_accuracy_accepts_scores():
    scores = np.array([[0.1, 0.9], [0.8, 0.2]])
    assert accuracy(scores, np.array([1, 1]))["acc"] == 0.5


def test_accuracy_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="differ in shape"):
        accuracy(np.array([0, 1]), np.array([0, 1, 2]))
