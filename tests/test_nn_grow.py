"""pyulm.nn.models.grow_state: a deeper MBL-Net bottleneck starts from a shallower model's function."""
import pytest

torch = pytest.importorskip("torch")

from pyulm.nn.models import DML3, MBLNet, MBLNetConfig, grow_state  # noqa: E402


def _trained_like(cfg, seed=0):
    torch.manual_seed(seed)
    m = MBLNet(cfg)
    with torch.no_grad():  # non-trivial BatchNorm statistics, as after training
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.1, 0.1)
                mod.running_var.uniform_(0.5, 1.5)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.1, 0.1)
    return m.eval()


def test_grown_network_computes_what_the_shallow_one_did():
    small = _trained_like(MBLNetConfig(width=4, n_res=1, head_width=4))
    big = MBLNet(MBLNetConfig(width=4, n_res=3, head_width=4))
    new = grow_state(big, small.state_dict())
    assert new and all(k.startswith(("bottleneck.1.", "bottleneck.2.")) for k in new)
    x = torch.rand(2, 1, 24, 32)
    with torch.no_grad():
        assert torch.allclose(big.eval()(x), small(x), atol=1e-6)
    # and the new blocks are trainable: their zeroed weight receives a gradient
    big.train()
    big(x)[:, 0].sum().backward()
    assert big.bottleneck[2].body[-1].weight.grad.abs().sum() > 0


def test_grow_refuses_what_is_not_a_deeper_bottleneck():
    small = MBLNet(MBLNetConfig(width=4, n_res=1, head_width=4))
    with pytest.raises(ValueError, match="does not fit"):
        grow_state(MBLNet(MBLNetConfig(width=6, n_res=3, head_width=4)), small.state_dict())
    with pytest.raises(ValueError, match="only an MBL-Net"):
        grow_state(DML3(), small.state_dict())
