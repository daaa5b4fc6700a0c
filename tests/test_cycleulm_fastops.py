"""The building blocks of CycleULM's bf16 inference copies (pyulm.nn.cycleulm.fastops): each the same
function as the layers it replaces (exactly in float32, to bfloat16 rounding in bfloat16)."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from pyulm.nn.cycleulm.e2e import e2e_maps  # noqa: E402
from pyulm.nn.cycleulm.fastops import ConvAct, MaxPool, SubPixelUp, fuse_activations, pointwise, tanh  # noqa: E402
from pyulm.nn.cycleulm.mbtnet_model import MBTNet, MBTNetConfig, Up  # noqa: E402
from pyulm.nn.cycleulm.precision import as_input, inference_net  # noqa: E402

BF = torch.bfloat16


def _cl(x):
    return x.to(BF).contiguous(memory_format=torch.channels_last)


def _up(cin, cout):
    up = Up(cin, cout)
    bn = up.conv[1]
    bn.running_mean.uniform_(-0.5, 0.5), bn.running_var.uniform_(0.5, 2.0), bn.weight.data.uniform_(0.5, 1.5)
    up.eval()
    conv = up.conv[0]  # fold by hand (precision does the same), so SubPixelUp sees conv, identity, ReLU
    s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    conv.weight.data *= s[:, None, None, None]
    conv.bias.data = ((conv.bias - bn.running_mean) * s + bn.bias).detach()
    up.conv[1] = nn.Identity()
    return up


@pytest.mark.parametrize("with_head", [False, True])
@pytest.mark.parametrize("shape", [(2, 5, 8, 12), (1, 5, 2, 3), (1, 5, 1, 4)])
def test_subpixel_up_is_bilinear_conv_relu_head(with_head, shape):
    torch.manual_seed(0)
    up = _up(5, 6)
    head = nn.Conv2d(6, 3, 1) if with_head else None
    exact = nn.Sequential(up, head) if with_head else up
    fast = SubPixelUp(up.conv[0], up.conv[2], exact, head=head)
    x = torch.randn(shape)
    with torch.no_grad():
        ref, out = exact(x), fast(x)
    assert out.shape == ref.shape
    assert float((out - ref).abs().max()) < 1e-5 * float(ref.abs().max() + 1)  # the borders included


def test_subpixel_up_refuses_other_convolutions():
    with pytest.raises(ValueError, match="3x3"):
        SubPixelUp(nn.Conv2d(2, 2, 5, padding=2), nn.ReLU(), nn.Identity())


def test_pointwise_and_tanh_are_bit_for_bit():
    x = _cl(torch.randn(2, 6, 5, 7) * 4)
    s = pointwise(torch.sigmoid, x)
    assert s.is_contiguous(memory_format=torch.channels_last) and torch.equal(s, torch.sigmoid(x))
    assert torch.equal(tanh(x), torch.tanh(x)) and torch.equal(tanh(x.float()), torch.tanh(x.float()))


def test_fused_conv_act_matches_the_plain_operations():
    torch.manual_seed(2)
    conv = nn.Conv2d(4, 6, 3, padding=1)
    x = torch.randn(2, 4, 9, 10)
    for act, ref_fn in ((nn.ReLU(), torch.relu), (nn.LeakyReLU(0.1), lambda y: nn.functional.leaky_relu(y, 0.1))):
        m = ConvAct(conv, act)
        with torch.no_grad():
            assert torch.allclose(m(x), ref_fn(conv(x)), atol=1e-6)  # float32: the plain path
            cb = ConvAct(nn.Conv2d(4, 6, 3, padding=1).to(BF), act)
            cb.conv.load_state_dict({k: v.to(BF) for k, v in conv.state_dict().items()})
            got, ref = cb(_cl(x)).float(), ref_fn(conv(x))
        assert float((got - ref).abs().max()) < 0.05 * float(ref.abs().max())
    with pytest.raises(ValueError, match="ReLU"):
        ConvAct(conv, nn.Tanh())


def test_fuse_activations_keeps_the_function():
    torch.manual_seed(3)
    seq = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.Identity(), nn.ReLU(), nn.Conv2d(3, 2, 1), nn.LeakyReLU(0.2))
    x = torch.randn(1, 2, 6, 6)
    with torch.no_grad():
        ref = seq(x)
        fuse_activations(seq)
        assert isinstance(seq[0], ConvAct) and isinstance(seq[3], ConvAct)
        assert torch.allclose(seq(x), ref, atol=1e-6)


def test_bf16_mbtnet_copy_uses_the_fast_blocks_and_stays_close():
    torch.manual_seed(4)
    net = MBTNet(MBTNetConfig(c1=4, c2=4, c3=4, cu=4)).eval()
    fast = inference_net(net, "bf16")
    assert isinstance(fast.sr2, SubPixelUp) and isinstance(fast.head, nn.Identity)
    x = torch.rand(2, 8, 12, 16)
    with torch.no_grad():
        ref, got = net(x), fast(as_input(x, "bf16")).float()
    assert got.shape == ref.shape
    assert float((got - ref).abs().max()) < 0.05 * float(ref.abs().max())


def test_e2e_maps_threshold_and_soft_sums_agree():
    frames = np.zeros((12, 16, 9))
    frames[4:6, 5:7, :] = 1.0
    hard, soft = e2e_maps(frames, threshold=1e-6), e2e_maps(frames, threshold="soft")
    assert hard["MatOut"].shape == soft["MatOut"].shape
    assert np.all((hard["MatOut"] > 0) >= (soft["MatOut"] > 1e-3))  # every pixel with mass is counted
    assert np.all(hard["MatOut"] == np.round(hard["MatOut"]))  # whole window counts


def test_without_onednn_the_plain_operations_give_the_same_copy(monkeypatch):
    import pyulm.nn.cycleulm.fastops as fastops

    torch.manual_seed(5)
    net = MBTNet(MBTNetConfig(c1=4, c2=4, c3=4, cu=4)).eval()
    x = torch.rand(1, 8, 12, 16)
    with torch.no_grad():
        fused = inference_net(net, "bf16")(as_input(x, "bf16")).float()
        monkeypatch.setattr(fastops, "_FUSED", None)
        net2 = MBTNet(MBTNetConfig(c1=4, c2=4, c3=4, cu=4)).eval()
        net2.load_state_dict(net.state_dict())
        plain = inference_net(net2, "bf16")(as_input(x, "bf16")).float()
    assert float((fused - plain).abs().max()) < 0.05 * float(plain.abs().max())


@pytest.mark.parametrize("dtype", [torch.float32, BF])
@pytest.mark.parametrize("kernel", [(2, 2, 0), (4, 2, 1)])
@pytest.mark.parametrize("shape", [(3, 5, 8, 12), (1, 16, 2, 4), (2, 3, 7, 6)])
def test_maxpool_is_torch_max_pooling_bit_for_bit(dtype, kernel, shape):
    torch.manual_seed(6)
    x = (torch.randn(shape) * 3).round()  # many ties
    ref_pool = nn.MaxPool2d(kernel[0], kernel[1], kernel[2])
    fast = MaxPool.from_module(ref_pool)
    for t in (x.to(dtype), x.to(dtype).contiguous(memory_format=torch.channels_last)):  # odd sizes: torch's path
        got = fast(t)
        assert torch.equal(got, ref_pool(t)) and got.dtype == t.dtype
        if shape[2] % 2 == 0 and shape[3] % 2 == 0:
            assert got.is_contiguous(memory_format=torch.channels_last) == t.is_contiguous(
                memory_format=torch.channels_last)


def test_maxpool_refuses_what_it_does_not_compute():
    with pytest.raises(ValueError, match="kernel"):
        MaxPool(3, 2, 1)
    with pytest.raises(ValueError, match="ceil_mode"):
        MaxPool.from_module(nn.MaxPool2d(2, ceil_mode=True))


def test_bf16_mbdt_copy_uses_the_sub_pixel_up_sampling_and_stays_close():
    from pyulm.nn.cycleulm.mbdt_model import MBDTConfig, build_generator

    torch.manual_seed(7)
    net = build_generator(MBDTConfig(width=4)).eval()
    fast = inference_net(net, "bf16")
    assert isinstance(fast.up1.fast, SubPixelUp) and isinstance(fast.pool, MaxPool) and net.up1.fast is None
    x = torch.rand(2, 3, 16, 20)
    with torch.no_grad():
        ref, got = net(x), fast(as_input(x, "bf16")).float()
        ref_bf = fast.up1.up_x2(as_input(torch.rand(1, 8, 8, 10), "bf16"))  # the reference path still runs
    assert got.shape == ref.shape and ref_bf.shape == (1, 4, 16, 20)
    assert float((got - ref).abs().max()) < 0.05


def test_e2e_maps_hard_threshold_counts_the_pixels_of_the_probability_map():
    from pyulm.nn.cycleulm import mbtnet_predict

    rng = np.random.default_rng(8)
    frames = rng.random((12, 16, 15)) ** 8
    out = mbtnet_predict(frames)
    for thr in (0.3, 0.6, float(np.median(out["trajectory"])), 1.0):
        m = e2e_maps(frames, threshold=thr)
        count = np.zeros_like(m["MatOut"])
        for p in out["trajectory"]:
            count[2:, 2:] += (p >= thr)[:count.shape[0] - 2, :count.shape[1] - 2]
        assert np.array_equal(m["MatOut"], count), thr


# --- the compiled ConvLSTM gate chain (gates_numba; numba optional) ---

from pyulm.nn.cycleulm import gates_numba  # noqa: E402
from pyulm.nn.cycleulm.mbtnet_model import ConvLSTM, FastConvLSTM  # noqa: E402

needs_numba = pytest.mark.skipif(not gates_numba.AVAILABLE, reason="numba not installed")


@needs_numba
def test_compiled_tanh_and_sigmoid_are_float32_accurate():
    x = np.linspace(-30, 30, 600_001, dtype=np.float32)
    ref = np.tanh(x.astype(np.float64))
    assert np.abs(gates_numba.tanh_approx(x) - ref).max() < 4e-7
    sig = 0.5 + 0.5 * gates_numba.tanh_approx(x / 2).astype(np.float64)
    assert np.abs(sig - 1 / (1 + np.exp(-x.astype(np.float64)))).max() < 3e-7


def _gates(seed, n=3, hd=8, h=5, w=7, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    return _cl(scale * torch.randn(n, 4 * hd, h, w, generator=g))


def _chain64(gates, cell):
    i, f, o, g = gates.double().sigmoid().chunk(4, 1)
    g = gates.double().chunk(4, 1)[3].tanh()
    cell = i * g if cell is None else f * cell + i * g
    return o * cell.tanh(), cell


@needs_numba
@pytest.mark.parametrize("hd", [8, 16])  # the 256-bit and the 512-bit kernel
def test_lstm_step_is_the_gate_chain_to_bfloat16_rounding(hd):
    hid64 = cell64 = cell = None
    for step in range(3):
        gates = _gates(step, hd=hd)
        hid, cell = gates_numba.lstm_step(gates, cell)
        hid64, cell64 = _chain64(gates, cell64)
        assert hid.dtype == BF and hid.is_contiguous(memory_format=torch.channels_last) and hid.shape == (3, hd, 5, 7)
        c = torch.from_numpy(cell).double().reshape(3, 5, 7, hd).permute(0, 3, 1, 2)
        assert float((c - cell64).abs().max()) < 2e-6  # float32 cell state
        err = (hid.double() - hid64).abs()
        assert bool((err <= 2 ** -8 * hid64.abs() + 1e-6).all())  # one rounding to bfloat16 (half an ulp)
    x_next = _gates(9, hd=hd)[:, :5]
    xh, cell2 = gates_numba.lstm_step(gates, cell.copy(), x_next)  # [x_next, h] in the same pass
    assert torch.equal(xh, torch.cat([x_next, gates_numba.lstm_step(gates, cell.copy())[0]], 1))
    assert xh.is_contiguous(memory_format=torch.channels_last)
    with pytest.raises(ValueError, match="x_next"):
        gates_numba.lstm_step(gates, cell, x_next[:, :, :4])
    with pytest.raises(ValueError, match="channels-last bfloat16"):
        gates_numba.lstm_step(gates.float(), None)
    with pytest.raises(ValueError, match="cell state"):
        gates_numba.lstm_step(gates, cell[:-1])


def _fast_pair(seed=0, cin=3, hd=8):
    torch.manual_seed(seed)
    m = ConvLSTM(cin, hd).eval()
    fb = FastConvLSTM.from_convlstm(m).to(BF).to(memory_format=torch.channels_last)
    return m, fb


@needs_numba
def test_fast_convlstm_compiled_and_eager_chains_agree_and_are_deterministic():
    m, fb = _fast_pair()
    x = torch.randn(2, 6, 3, 8, 12)
    xb = _cl(x.flatten(0, 1)).unflatten(0, (2, 6))
    with torch.no_grad():
        ref = m(x)
        assert fb.fused
        got = fb(xb)
        assert torch.equal(got, fb(xb))  # deterministic
        fb.fused = False
        eager = fb(xb)
    scale = float(ref.abs().max())
    assert float((got.float() - ref).abs().max()) < 0.02 * scale
    assert float((eager.float() - ref).abs().max()) < 0.03 * scale
    # the compiled chain rounds once: at least as close to float32 as the eager chain on average
    assert float((got.float() - ref).abs().mean()) <= float((eager.float() - ref).abs().mean()) * 1.05


def test_fast_convlstm_runs_the_eager_chain_without_numba(monkeypatch):
    m, fb = _fast_pair(1)
    x = torch.randn(1, 4, 3, 6, 8)
    xb = _cl(x.flatten(0, 1)).unflatten(0, (1, 4))

    def refuse(*a, **k):
        raise AssertionError("the compiled chain ran")

    monkeypatch.setattr(gates_numba, "AVAILABLE", False)
    monkeypatch.setattr(gates_numba, "lstm_step", refuse)
    with torch.no_grad():
        got, ref = fb(xb).float(), m(x)
    assert float((got - ref).abs().max()) < 0.03 * float(ref.abs().max())
    with pytest.raises(ModuleNotFoundError, match="numba"):
        gates_numba.tanh_approx(np.zeros(3, np.float32))


# --- MB-DT's decoder input in one compiled pass (layout_numba; numba optional) ---

from pyulm.nn.cycleulm import layout_numba  # noqa: E402
from pyulm.nn.cycleulm.fastops import _shuffle  # noqa: E402


@needs_numba
@pytest.mark.parametrize("n,c,h,w,cs", [(2, 8, 6, 5, 8), (1, 3, 2, 2, 5), (3, 16, 4, 7, 16)])
def test_shuffle_cat_is_pixel_shuffle_then_cat_bit_for_bit(n, c, h, w, cs):
    torch.manual_seed(n + c)
    y, skip = _cl(torch.randn(n, 4 * c, h, w)), _cl(torch.randn(n, cs, 2 * h, 2 * w))
    got = layout_numba.shuffle_cat(y, skip, c)
    assert got.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(got, torch.cat([_shuffle(y, c), skip], 1))
    with pytest.raises(ValueError, match="shuffle_cat"):
        layout_numba.shuffle_cat(y, skip[:, :, :-2], c)
    with pytest.raises(ValueError, match="shuffle_cat"):
        layout_numba.shuffle_cat(y.float(), skip, c)


@needs_numba
def test_bf16_mbdt_decoder_compiled_and_eager_inputs_give_the_same_output(monkeypatch):
    from pyulm.nn.cycleulm.mbdt_model import MBDTConfig, build_generator

    torch.manual_seed(11)
    fast = inference_net(build_generator(MBDTConfig(width=8)).eval(), "bf16")
    x = as_input(torch.rand(3, 3, 24, 20), "bf16")
    calls = []
    real = layout_numba.shuffle_cat
    monkeypatch.setattr(layout_numba, "shuffle_cat", lambda *a: calls.append(1) or real(*a))
    with torch.no_grad():
        got = fast(x)
        assert len(calls) == 2  # both decoder layers
        monkeypatch.setattr(layout_numba, "usable", lambda t: False)  # the eager shuffle + cat
        ref = fast(x)
    assert torch.equal(got, ref)


@needs_numba
def test_shuffle_float_is_pixel_shuffle_in_float32_bit_for_bit():
    torch.manual_seed(3)
    y = _cl(torch.randn(2, 12, 5, 7))
    got = layout_numba.shuffle_float(y, 3)
    assert got.dtype == torch.float32 and got.is_contiguous() and torch.equal(got, _shuffle(y, 3).float())
    with pytest.raises(ValueError, match="shuffle_float"):
        layout_numba.shuffle_float(y, 4)


@needs_numba
def test_bf16_mbtnet_float_output_equals_the_shuffled_bf16_output(monkeypatch):
    torch.manual_seed(5)
    fast = inference_net(MBTNet(MBTNetConfig(c1=4, c2=4, c3=4, cu=4)).eval(), "bf16")
    assert fast.sr2.float_out and not fast.sr1.float_out
    x = as_input(torch.rand(2, 8, 12, 16), "bf16")
    with torch.no_grad():
        got = fast(x)
        monkeypatch.setattr(layout_numba, "usable", lambda t: False)
        ref = fast(x)
    assert got.dtype == torch.float32 and ref.dtype == BF and torch.equal(got, ref.float())


@needs_numba
def test_windows_bf16_is_the_normalised_padded_rounded_input_bit_for_bit():
    from pyulm.nn.cycleulm.mbtnet_infer import _normalised

    rng = np.random.default_rng(2)
    a = rng.standard_normal((10, 14, 30)).astype(np.float32)
    a[:, :, 3] = 0.0  # a frame without signal stays 0
    a[:, :, 4] = -1.0
    a[0, 0, 5] = -0.0
    starts = np.array([0, 7, 14, 21])
    fr = _normalised(a[:, :, :29], np.float32)
    x = np.zeros((4, 12, 16, 8), np.float32)
    for i, s in enumerate(starts):
        x[i, :10, :14] = fr[:, :, s:s + 8]
    ref = as_input(torch.as_tensor(x).permute(0, 3, 1, 2), "bf16")
    got = layout_numba.windows_bf16(a[:, :, :29], starts, 8, (12, 16))
    assert got.is_contiguous(memory_format=torch.channels_last) and torch.equal(got, ref)
    with pytest.raises(ValueError, match="windows_bf16"):
        layout_numba.windows_bf16(a[:, :, :29], starts + 1, 8, (12, 16))  # the last window runs past the frames
    with pytest.raises(ValueError, match="windows_bf16"):
        layout_numba.windows_bf16(a[:, :, :29].astype(np.float64), starts, 8, (12, 16))
