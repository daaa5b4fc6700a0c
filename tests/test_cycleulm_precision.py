"""CycleULM's ``precision`` option: bf16 inference copies of MB-DT and MBT-Net (same function,
deterministic, close to fp32), reachable from Python and ``[ulm] precision``, unknown values refused."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from pyulm.config import Config, ConfigError  # noqa: E402
from pyulm.nn.cycleulm import run_pipeline, translate  # noqa: E402
from pyulm.nn.cycleulm.e2e import e2e_maps  # noqa: E402
from pyulm.nn.cycleulm.mbtnet_infer import predict  # noqa: E402
from pyulm.nn.cycleulm.mbtnet_model import MBTNet, MBTNetConfig, ConvLSTM, FastConvLSTM  # noqa: E402
from pyulm.nn.cycleulm.precision import as_input, inference_net  # noqa: E402
from pyulm.nn.cycleulm.trackdecode import decode_tracks  # noqa: E402

# the tiny translator and scene of the pipeline tests (fixtures shared, not copied)
from test_cycleulm_pipelines import sim, translator  # noqa: E402,F401


def test_fast_convlstm_is_the_same_function():
    torch.manual_seed(0)
    m = ConvLSTM(3, 4).eval()
    x = torch.randn(2, 5, 3, 8, 12)
    with torch.no_grad():
        fast = FastConvLSTM.from_convlstm(m)
        assert torch.allclose(m(x), fast(x), atol=1e-5)
        assert torch.equal(fast(x), fast(x.transpose(0, 1).contiguous(), time_major=True))
        xb = x.to(torch.bfloat16)  # the bf16 copy's arithmetic: the time-major order changes no value
        fb = fast.to(torch.bfloat16)
        assert torch.equal(fb(xb), fb(xb.transpose(0, 1).contiguous(), time_major=True))


def test_bf16_copy_folds_batch_norm_and_leaves_the_network_untouched():
    torch.manual_seed(1)
    net = MBTNet(MBTNetConfig(c1=4, c2=4, c3=4, cu=4))
    for mod in net.modules():  # non-trivial running statistics, so folding them matters
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2.0)
            mod.weight.data.uniform_(0.5, 1.5)
    net.eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.rand(2, 8, 16, 20)
    with torch.no_grad():
        ref = net(x)
        fast = inference_net(net, "bf16")
        y1, y2 = fast(as_input(x, "bf16")).float(), fast(as_input(x, "bf16")).float()
    assert inference_net(net, "bf16") is fast and inference_net(net, "fp32") is net
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert torch.equal(y1, y2)  # deterministic
    fast.time_major = False  # the copy runs its frames time-major; batch-major gives the same values
    with torch.no_grad():
        assert torch.equal(fast(as_input(x, "bf16")).float(), y1)
    fast.time_major = True
    assert float((y1 - ref).abs().max()) < 0.05 * float(ref.abs().max())  # bfloat16: ~3 significant digits


def test_translate_bf16_deterministic_and_close_to_fp32(sim, translator):
    iq = sim.iq.copy()
    ref = translate(iq, translator)
    a = translate(iq, translator, precision="bf16")
    b = translate(iq, translator, precision="bf16")
    np.testing.assert_array_equal(iq, sim.iq)
    assert a.dtype == np.float32 and a.shape == ref.shape
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - ref).max() < 0.05  # outputs in [0, 1]


@pytest.mark.parametrize("context", [1, 3, 5])
def test_translate_bf16_contexts_are_context_stack_rounded(context):
    from pyulm.nn.cycleulm.mbdt_domain import context_stack
    from pyulm.nn.cycleulm.translate import _contexts_bf16

    amp = np.random.default_rng(context).random((8, 12, 7), dtype=np.float32)
    batch = _contexts_bf16(amp, context)
    for t0, t1 in ((0, 4), (4, 7), (2, 3)):
        got = batch(t0, t1)
        ref = torch.as_tensor(context_stack(amp, np.arange(t0, t1), context)).to(torch.bfloat16)
        assert got.is_contiguous(memory_format=torch.channels_last) and torch.equal(got, ref)


def test_mbtnet_and_e2e_bf16_deterministic_and_close(sim):
    frames = np.abs(sim.iq[:, :, :10]).astype(np.float32)
    ref = predict(frames)
    a, b = predict(frames, precision="bf16"), predict(frames, precision="bf16")
    for k in ("trajectory", "vz", "vx"):
        np.testing.assert_array_equal(a[k], b[k])
    assert np.abs(a["trajectory"] - ref["trajectory"]).max() < 0.1
    m1, m2 = e2e_maps(frames, precision="bf16"), e2e_maps(frames, precision="bf16")
    np.testing.assert_array_equal(m1["MatOut"], m2["MatOut"])


@pytest.mark.parametrize("bad", ["fp16", "BF16", "auto", 16])
def test_unknown_precision_is_refused_everywhere(sim, translator, bad):
    frames = np.abs(sim.iq[:, :, :10])
    calls = [lambda: translate(sim.iq, translator, precision=bad),
             lambda: predict(frames, precision=bad),
             lambda: e2e_maps(frames, precision=bad),
             lambda: run_pipeline(sim.iq, "cycleulm-ncc", translator=translator, precision=bad),
             lambda: run_pipeline(sim.iq, "baseline1", precision=bad)]
    for call in calls:
        with pytest.raises(ValueError, match="precision"):
            call()
    from pyulm.tables import Localizations

    locs = Localizations(np.array([5.0]), np.array([5.0]), np.array([0]), np.array([1.0]))
    with pytest.raises(ValueError, match="precision"):
        decode_tracks(locs, frames, prior=np.zeros((1, 2)), precision=bad)
    with pytest.raises(ConfigError, match="precision"):
        Config.from_dict({"ulm": {"translate": str(translator), "precision": bad}})


def test_pipeline_and_config_reach_bf16(sim, translator, tmp_path):
    out = run_pipeline(sim.iq, "cycleulm-ncc", translator=translator, number_of_particles=10, min_length=1,
                       precision="bf16")
    np.testing.assert_array_equal(out.frames, translate(sim.iq, translator, precision="bf16"))
    from importlib.resources import files

    from pyulm.io import inspect
    from pyulm.pipeline import block_params

    info = inspect(files("pyulm") / "data" / "example_block.mat")
    cfg = Config.from_dict({"ulm": {"translate": str(translator), "precision": "bf16"}})
    assert cfg.ulm.precision == "bf16"
    p32 = block_params(Config.from_dict({"ulm": {"translate": str(translator)}}), info)
    p16 = block_params(cfg, info)
    assert (p32.precision, p16.precision) == ("fp32", "bf16")
    assert p32.as_dict() != p16.as_dict()  # the block key hashes it: bf16 blocks are not fp32 blocks


def test_translate_reuses_its_translator_until_a_file_changes(sim, translator, tmp_path):
    import shutil

    d = tmp_path / "mbdt"
    shutil.copytree(translator, d)
    iq = sim.iq[:, :, :6]
    a = translate(iq, d, precision="bf16", check_psf=False)
    np.testing.assert_array_equal(a, translate(iq, d, precision="bf16", check_psf=False))  # the kept copy
    w = d / "weights.pt"
    raw = bytearray(w.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    w.write_bytes(bytes(raw))  # same size, new content: verified again, refused
    with pytest.raises(ValueError, match="checksum"):
        translate(iq, d, precision="bf16", check_psf=False)
