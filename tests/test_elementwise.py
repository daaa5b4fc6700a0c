"""pyulm.nn.elementwise.tanh: the networks' tanh, the same bits on every call (see the module)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from pyulm.nn.elementwise import tanh  # noqa: E402


def test_close_to_the_true_tanh_in_every_dtype():
    x = torch.linspace(-12, 12, 20001, dtype=torch.float64)
    ref = np.tanh(x.numpy())
    assert np.abs(tanh(x).numpy() - ref).max() < 1e-15
    assert np.abs(tanh(x.float()).double().numpy() - ref).max() < 2.5e-7
    # bfloat16 keeps 8 bits: within half a bfloat16 step of the true value
    b = tanh(x.bfloat16())
    assert b.dtype == torch.bfloat16 and np.abs(b.double().numpy() - ref).max() <= 2.0 ** -8
    assert tanh(torch.tensor([0.0])).item() == 0.0
    assert torch.equal(tanh(torch.tensor([-1e4, 1e4])), torch.tensor([-1.0, 1.0]))  # saturates, no NaN


def test_same_bits_whatever_the_layout_and_the_call():
    torch.manual_seed(0)
    loc = torch.randn(10, 3, 40, 40) * 3
    first = tanh(loc[:, 1:3])  # a strided channel slice, as MBL-Net's head passes it
    for _ in range(5):
        assert torch.equal(tanh(loc[:, 1:3]), first)
        assert torch.equal(tanh(loc[:, 1:3].contiguous()), first)
        assert torch.equal(tanh(loc.to(memory_format=torch.channels_last))[:, 1:3], first)


def test_gradient_is_one_minus_tanh_squared():
    x = torch.linspace(-4, 4, 101, dtype=torch.float64, requires_grad=True)
    tanh(x).sum().backward()
    assert torch.allclose(x.grad, 1 - torch.tanh(x.detach()) ** 2, atol=1e-12)
