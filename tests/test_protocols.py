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


def test_every_protocol_module_registers_itself_under_its_name():
    import importlib

    from dabench.evaluate import RUNNERS
    from dabench.registry import PROTOCOLS

    assert PROTOCOLS.names() == ["accuracy", "grid", "image-quality", "pad", "tsne"]
    for name, fn in PROTOCOLS.items():
        module = importlib.import_module(fn.__module__)
        assert module.__name__ == "dabench.protocols." + name.replace("-", "_")
        assert [k for k, v in PROTOCOLS.items() if v.__module__ == module.__name__] == [name]
    assert sorted(RUNNERS) == PROTOCOLS.names()


def test_grid_mosaic_places_every_tile():
    from dabench.protocols.grid import adaptation_grid, grid_examples

    rows = [np.zeros((3, 1, 4, 5)), np.ones((3, 3, 4, 5))]
    mosaic = adaptation_grid(rows, pad=1)
    assert mosaic.shape == (2 * 5 + 1, 3 * 6 + 1, 3)
    assert mosaic[1:5, 1:6].max() == 0.0 and mosaic[6:10, 1:6].min() == 1.0
    assert grid_examples(10, 4, random_state=0).tolist() == grid_examples(10, 4, random_state=0).tolist()
    assert len(set(grid_examples(10, 20, random_state=1))) == 10


def test_tsne_embedding_is_deterministic_and_separates_far_apart_domains():
    from dabench.protocols.tsne import tsne_embedding

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(40, 8)), rng.normal(size=(30, 8)) + 20
    first = tsne_embedding(a, b, random_state=3, max_per_domain=25)
    again = tsne_embedding(a, b, random_state=3, max_per_domain=25)
    assert np.array_equal(first["embedding"], again["embedding"])
    assert first["embedding"].shape == (50, 2) and first["domain"].tolist() == [1] * 25 + [0] * 25
    src, tgt = first["embedding"][:25], first["embedding"][25:]
    assert np.linalg.norm(src.mean(0) - tgt.mean(0)) > 3 * max(src.std(0).max(), tgt.std(0).max())
