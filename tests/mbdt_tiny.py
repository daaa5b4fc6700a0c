"""Helpers shared by the tiny MB-DT training tests (not a test module; torch is imported when used, so that
collecting this file needs no torch)."""


def quiet(_msg):
    pass


def with_train(base: dict, **train) -> dict:
    """``base`` (a tiny training config) with ``train`` merged into its [train] table."""
    return {**base, "train": {**base["train"], **train}}


def weights(model_dir):
    import torch

    return torch.load(model_dir / "weights.pt", weights_only=True)


def checkpoint(model_dir):
    import torch

    return torch.load(model_dir / "checkpoint.pt", weights_only=True)


def same(w1, w2) -> bool:
    """Two state dicts hold the same tensors, bit for bit."""
    import torch

    return w1.keys() == w2.keys() and all(torch.equal(w1[k], w2[k]) for k in w1)
