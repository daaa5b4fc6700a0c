"""Training MB-DT, self-supervised, on the user's own frames (imports torch).

The CycleGAN of the paper (§3.1): G_AB (3 CEUS frames → MB-only) and G_BA (MB-only →
3 CEUS frames), PatchGAN discriminators D_A and D_B, least-squares (LSGAN) losses.

Generators minimise ``w_adv (L_GAN(G_AB, D_B) + L_GAN(G_BA, D_A)) + w_cyc (|G_BA(G_AB(a)) - a|_1
+ |G_AB(G_BA(b)) - b|_1) + w_sim |K * G_AB(a) - a_centre|_1``, where K widens the MB-only PSF back to the data's
(``[loss].similarity_reblur``; the paper compares G_AB(a) with a directly), the adversarial
weight ramps up over the first ``warmup_steps`` (a random discriminator first drove G_AB
to an all-dark output), ``[loss].bubble_weight`` (default 0: off) can weigh the bubble-like pixels of the
similarity and A-cycle targets more (:func:`_l1`), and the A cycle sees ``G_AB(a) + N(0, cycle_noise²)``
(noise breaks CycleGAN's steganography: with a clean cycle G_AB learned to output an all-dark
image that hides the CEUS frame in values ~1e-8); discriminators minimise
``½ [(D(real) - 1)² + D(fake)²]`` each. Adam (lr, β = (0.5, 0.999)).

Step ``k`` draws its patches (block, frame, corner) and its MB-only patches from
``SeedSequence([seed, k])`` and seeds torch from it, so a run resumed from
``checkpoint.pt`` ends with the same weights as an uninterrupted one. Every epoch
the losses on held-back frames (the last ``validation_fraction`` of each block,
fixed patches) are logged and a checkpoint written. The wall-clock / CPU caps stop
the run early (the steps done are recorded); the caps count the whole run, resumes included.

``[train].precision = "bf16"`` runs the four networks' forward passes under ``torch.autocast``
bfloat16 (:func:`pyulm.nn.inference.autocast`); their outputs are cast back to float32 before any
loss, so losses, the re-blur kernel, gradients, Adam's state and the saved weights stay float32.
Validation losses are computed in float32 whatever the precision (they then compare runs of either
precision, and describe the float32 translator ``translate`` runs by default). The precision is in
the checkpoint; resuming with another one is refused (the resumed run would be neither).

``[train].ema = decay`` (> 0; 0 = off, the default) keeps an exponential moving average of G_AB's
weights (parameters and buffers, float32 whatever the precision), moved after every generator step
``k`` (0-based) by :func:`pyulm.nn.fus2ulm.diffusion.ema_update` (PgD's and fUS → ULM's EMA): decay
``min(ema, (1 + k) / (10 + k))``, the warm-up forgetting the random initialisation. ``weights.pt``
is then the averaged G_AB (a GAN's last weights are one sample of an oscillation; Yazıcı et al.
2019), the raw networks keep training, and the validation losses use the averaged G_AB. The average
is in the checkpoint (a resumed run ends with the same weights); resuming with another ``ema`` is
refused, like another precision.

At the end, the held-back frames are translated and checked label-free
(:mod:`~pyulm.nn.cycleulm.mbdt_check`: peaks per frame against the MB-only domain's mean count, their
median height against the domain's),
recorded in ``metrics.json`` and warned about when the check fails; ``[train].restarts = N`` (default 2,
within ``[train].max_total_minutes``, default 20) then trains again with the next seeds (:func:`train_mbdt`).
"""
from __future__ import annotations

import copy
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from ..._version import __version__
from ..fus2ulm.diffusion import ema_update
from ..inference import autocast
from ..weights_io import load_checkpoint, write_checksums
from .mbdt_check import check_distance, check_translator
from .mbdt_config import config_dict
from .mbdt_dir import write_model_dir
from .mbdt_domain import context_stack, domain_b_fwhm, mb_only_patches
from .mbdt_model import build_cycle

__all__ = ["fit"]

CHECKPOINT = "checkpoint.pt"
#: [train] settings a resumed run must share with its checkpoint, and their value in checkpoints
#: written before the key existed
_RESUME_SAME = {"precision": "fp32", "ema": 0.0, "grad_clip": 0.0}


class _Patches:
    """Domain-A patches of the training or validation frames of every block."""

    def __init__(self, blocks: list, ranges: list, patch: int, context: int):
        self.blocks, self.ranges, self.patch, self.context = blocks, ranges, patch, context
        self.weights = np.array([hi - lo for lo, hi in ranges], float)
        self.weights /= self.weights.sum()

    def draw(self, rng, n):
        """(n, context, patch, patch) float32: each patch from its block's own frame range."""
        p, k = self.patch, self.context // 2
        out = np.empty((n, self.context, p, p), np.float32)
        which = rng.choice(len(self.blocks), n, p=self.weights)
        for i, b in enumerate(which):
            amp, (lo, hi) = self.blocks[b], self.ranges[b]
            t = int(rng.integers(lo, hi))
            z0, x0 = (int(rng.integers(0, s - p + 1)) for s in amp.shape[:2])
            idx = np.clip(np.arange(t - k, t + k + 1), lo, hi - 1)  # context stays inside its split
            out[i] = np.moveaxis(amp[z0:z0 + p, x0:x0 + p, idx], 2, 0)
        return out


def _lsgan(pred, target: float):
    return torch.mean((pred - target) ** 2)


def reblur_kernels(data_fwhm, b_fwhm):
    """1-D Gaussians (z, x) that widen an MB-only bubble to the data's PSF, peak kept.

    ``sigma_k^2 = sigma_data^2 - sigma_B^2`` per axis; each kernel sums to ``sigma_data / sigma_B``
    so a bubble of peak 1 stays of peak 1 (the CEUS frames and the MB-only frames share one scale).
    """
    ks = []
    for fa, fb in zip(data_fwhm, b_fwhm):
        sa, sb = fa / 2.3548, fb / 2.3548
        sk = float(np.sqrt(max(sa * sa - sb * sb, 1e-6)))
        h = max(1, int(np.ceil(3 * sk)))
        g = np.exp(-0.5 * (np.arange(-h, h + 1) / sk) ** 2)
        ks.append(torch.as_tensor(g / g.sum() * (sa / sb), dtype=torch.float32))
    return ks


def _reblur(y, ks):
    kz, kx = (k.to(y.device) for k in ks)
    y = F.conv2d(F.pad(y, (0, 0, kz.numel() // 2, kz.numel() // 2), mode="replicate"), kz.view(1, 1, -1, 1))
    return F.conv2d(F.pad(y, (kx.numel() // 2, kx.numel() // 2, 0, 0), mode="replicate"), kx.view(1, 1, 1, -1))


def _at_precision(nets, precision: str, device) -> dict:
    """The networks as callables whose forward pass runs at ``precision`` and returns float32.

    ``"fp32"``: the modules themselves (bit for bit the float32 training). ``"bf16"``: the
    networks' weights are put in channels-last order (in place; the values unchanged) and each
    call runs under bfloat16 autocast on a channels-last copy of its input, its output cast to
    float32 (differentiably) so every loss is float32. Channels-last because oneDNN's bfloat16
    convolutions and their backward passes are faster in that layout (training steps/s over
    fp32's: 1.2-1.4x with contiguous tensors, 1.75x channels-last; docs/cycleulm_mbdt.md).
    """
    if precision == "fp32":
        return dict(nets.items())
    nets.to(memory_format=torch.channels_last)

    def wrap(net):
        def call(x):
            with autocast(precision, device):
                y = net(x.contiguous(memory_format=torch.channels_last))
            return y.float()
        return call
    return {name: wrap(net) for name, net in nets.items()}


#: a target pixel is bubble-like for ``[loss].bubble_weight`` above this many times its patch's median (per channel)
BUBBLE_FACTOR = 3.0


def _l1(pred, target, bubble_weight: float):
    """L1 of ``pred`` against ``target``; with ``bubble_weight`` > 0 each pixel of ``target`` above
    :data:`BUBBLE_FACTOR` x its patch's median (per sample and channel: the background of sparse frames)
    weighs ``1 + bubble_weight``, the weights normalised to a mean of 1 per patch. At low density bubbles
    are ~1 % of a patch, so the plain L1 barely tells a dim output from a good one."""
    if not bubble_weight:
        return F.l1_loss(pred, target)
    med = target.flatten(2).median(dim=2).values[:, :, None, None]
    w = 1.0 + bubble_weight * (target > BUBBLE_FACTOR * med).to(target.dtype)
    w = w / w.mean(dim=(1, 2, 3), keepdim=True)
    return torch.mean(w * (pred - target).abs())


def _losses(nets, a, b, w, ks, adv_scale: float = 1.0):
    """Generator loss terms (a dict of tensors) and the fakes for the discriminators.

    ``nets``: the four networks, or callables from :func:`_at_precision`.
    """
    G_AB, G_BA, D_A, D_B = nets["G_AB"], nets["G_BA"], nets["D_A"], nets["D_B"]
    fake_b = G_AB(a)
    fake_a = G_BA(b)
    k = a.shape[1] // 2
    terms = {
        "adv_ab": _lsgan(D_B(fake_b), 1.0), "adv_ba": _lsgan(D_A(fake_a), 1.0),
        # noise on the MB-only image before G_BA: without it G_AB hides the CEUS frame in invisible
        # low values (CycleGAN steganography, Chu et al. 2017) and outputs an empty image
        "cyc_a": _l1(G_BA(fake_b + w.cycle_noise * torch.randn_like(fake_b)), a, w.bubble_weight),
        "cyc_b": F.l1_loss(G_AB(fake_a), b),
        # the MB-only frame, widened back to the data's PSF, must match the CEUS centre frame: the
        # paper's similarity loss without its pull towards the wider CEUS bubbles
        "sim": _l1(_reblur(fake_b, ks) if ks is not None else fake_b, a[:, k:k + 1], w.bubble_weight),
    }
    total = (adv_scale * w.adversarial * (terms["adv_ab"] + terms["adv_ba"])
             + w.cycle * (terms["cyc_a"] + terms["cyc_b"]) + w.similarity * terms["sim"])
    return total, terms, fake_a, fake_b


def _disc_losses(nets, a, b, fake_a, fake_b):
    d_a = 0.5 * (_lsgan(nets["D_A"](a), 1.0) + _lsgan(nets["D_A"](fake_a.detach()), 0.0))
    d_b = 0.5 * (_lsgan(nets["D_B"](b), 1.0) + _lsgan(nets["D_B"](fake_b.detach()), 0.0))
    return d_a, d_b


def _device(name: str):
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
        torch.empty(1, device=dev)
    except (RuntimeError, AssertionError) as exc:
        raise ValueError(f"[train].device: {name!r} is not usable here: {str(exc).splitlines()[0]}") from None
    return dev


def fit(blocks: list, cfg: dict, psf: dict, n_bubbles, out, *, intensity: dict | None = None, resume: bool = False,
        command: str | None = None, config_text: str = "", sources: list | None = None, log=print,
        warn_check: bool = True) -> Path:
    """Train on prepared blocks (normalised amplitude, (z, x, t) float32 each) into ``out``.

    ``psf`` holds the data PSF (``data_fwhm``, ``n_used``); ``n_bubbles`` the MB-only range;
    ``intensity`` the MB-only peak-amplitude range (``range``, ``source``, ...; default: the
    config's pair, which must then not be ``"auto"``). ``warn_check``: warn when the label-free check
    fails (it is logged and recorded either way).
    """
    seed, mc, dc, lw, tc = cfg["seed"], cfg["model"], cfg["data"], cfg["loss"], cfg["train"]
    if intensity is None:
        if dc.intensity == "auto":
            raise ValueError("[data].intensity = \"auto\": estimate it first (train_mbdt does) and pass intensity=")
        intensity = {"range": list(dc.intensity), "source": "config"}
    amp_range = tuple(intensity["range"])
    out = Path(out)
    torch.set_num_threads(tc.threads)
    dev = _device(tc.device)
    b_fwhm = domain_b_fwhm(psf["data_fwhm"], dc.shrink)
    tr_ranges, va_ranges = [], []
    for amp in blocks:
        nt = amp.shape[-1]
        nv = int(round(nt * dc.validation_fraction))
        nv = min(max(nv, 1), nt - 1) if dc.validation_fraction > 0 else 0
        tr_ranges.append((0, nt - nv))
        va_ranges.append((nt - nv, nt) if nv else (0, nt))
    train_p = _Patches(blocks, tr_ranges, dc.patch, mc.context)
    val_p = _Patches(blocks, va_ranges, dc.patch, mc.context)
    ks = reblur_kernels(psf["data_fwhm"], b_fwhm) if lw.similarity_reblur else None
    vrng = np.random.default_rng(np.random.SeedSequence([seed, 2 ** 31]))
    val_a = torch.as_tensor(val_p.draw(vrng, tc.val_patches), device=dev)
    val_b = torch.as_tensor(mb_only_patches(vrng, tc.val_patches, dc.patch, b_fwhm, n_bubbles=n_bubbles,
                                            intensity=amp_range)[:, None], device=dev)

    torch.manual_seed(seed)
    nets = build_cycle(mc).to(dev)
    # the averaged G_AB: a frozen copy whose state-dict tensors ema_update moves in place
    ema_g = copy.deepcopy(nets["G_AB"]).requires_grad_(False).eval() if tc.ema else None
    ema = ema_g.state_dict() if tc.ema else None
    fwd = _at_precision(nets, tc.precision, dev)
    gen_params = list(nets["G_AB"].parameters()) + list(nets["G_BA"].parameters())
    disc_params = list(nets["D_A"].parameters()) + list(nets["D_B"].parameters())
    opt_g = torch.optim.Adam(gen_params, tc.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc_params, tc.lr, betas=(0.5, 0.999))
    total_steps = tc.epochs * tc.steps_per_epoch
    step, wall_used, cpu_used, stopped = 0, 0.0, 0.0, None
    ck = out / CHECKPOINT
    if resume:
        state = load_checkpoint(ck, dev)
        for key, before in _RESUME_SAME.items():  # the resumed run would be neither setting's
            was, now = state.get(key, before), getattr(tc, key)
            if was != now:
                raise ValueError(f"resume: {ck} was trained with [train].{key} = {was!r}, the config asks for "
                                 f"{now!r}; resume with {was!r} or start a new run")
        nets.load_state_dict(state["nets"])
        if ema_g is not None:
            ema_g.load_state_dict(state["ema_G_AB"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        step, wall_used, cpu_used = int(state["step"]), float(state["wall"]), float(state["cpu"])
        log(f"resumed at step {step}/{total_steps} ({tc.precision})")
    else:
        out.mkdir(parents=True, exist_ok=True)
        for name in ("log.jsonl", "SHA256SUMS"):
            (out / name).unlink(missing_ok=True)
    t0, c0 = time.time() - wall_used, time.process_time() - cpu_used
    nets.train()
    run = {}
    while step < total_steps:
        if tc.max_minutes and time.time() - t0 >= 60 * tc.max_minutes:
            stopped = f"wall-clock cap {tc.max_minutes} min"
        elif tc.max_cpu_minutes and time.process_time() - c0 >= 60 * tc.max_cpu_minutes:
            stopped = f"CPU cap {tc.max_cpu_minutes} min"
        if stopped:
            log(f"stopping at step {step}/{total_steps}: {stopped} reached")
            break
        rng = np.random.default_rng(np.random.SeedSequence([seed, step]))
        torch.manual_seed(int(rng.integers(2 ** 62)))
        a = torch.as_tensor(train_p.draw(rng, tc.batch), device=dev)
        b = torch.as_tensor(mb_only_patches(rng, tc.batch, dc.patch, b_fwhm, n_bubbles=n_bubbles,
                                            intensity=amp_range)[:, None], device=dev)
        for p in disc_params:
            p.requires_grad_(False)
        ramp = min(1.0, (step + 1) / tc.warmup_steps) if tc.warmup_steps else 1.0
        loss_g, terms, fake_a, fake_b = _losses(fwd, a, b, lw, ks, ramp)
        opt_g.zero_grad()
        loss_g.backward()
        if tc.grad_clip:  # a step's update is bounded: one exploding batch cannot throw the generators off
            torch.nn.utils.clip_grad_norm_(gen_params, tc.grad_clip)
        opt_g.step()
        if ema is not None:
            ema_update(ema, nets["G_AB"], step, tc.ema)
        for p in disc_params:
            p.requires_grad_(True)
        d_a, d_b = _disc_losses(fwd, a, b, fake_a, fake_b)
        opt_d.zero_grad()
        (d_a + d_b).backward()
        if tc.grad_clip:
            torch.nn.utils.clip_grad_norm_(disc_params, tc.grad_clip)
        opt_d.step()
        for k, v in {**terms, "g": loss_g, "d_a": d_a, "d_b": d_b}.items():
            run[k] = run.get(k, 0.0) + float(v.detach())
        step += 1
        if step % tc.steps_per_epoch == 0 or step == total_steps:
            _epoch_end(nets, ema_g, opt_g, opt_d, val_a, val_b, lw, ks, run, step, total_steps, tc, t0, c0, out, log)
            run = {}
    if run:  # stopped by a cap between epochs: keep what was done
        _epoch_end(nets, ema_g, opt_g, opt_d, val_a, val_b, lw, ks, run, step, total_steps, tc, t0, c0, out, log)
    wall, cpu = time.time() - t0, time.process_time() - c0
    psf_info = {"data_fwhm": [float(f) for f in psf["data_fwhm"]], "domain_b_fwhm": b_fwhm, "shrink": dc.shrink,
                "n_used": int(psf.get("n_used", 0)), "source": psf.get("source", "estimated")}
    full = config_dict(cfg)
    training = {"steps": step, "planned_steps": total_steps, "stopped_by": stopped, "wall_s": round(wall, 1),
                "cpu_s": round(cpu, 1), "n_bubbles": list(n_bubbles), "intensity": intensity, "device": str(dev),
                "precision": tc.precision, "ema": tc.ema, "grad_clip": tc.grad_clip, "config": full}
    last = _last_val(out)
    metrics = {"architecture": "mbdt", "steps": step, "precision": tc.precision, "ema": tc.ema,
               "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "final_validation": last, "command": command,
               "sources": sources or [], "blocks": [list(b.shape) for b in blocks], "pyulm": __version__,
               "torch": torch.__version__, "python": platform.python_version()}
    readme = (f"# MB-DT translator\n\nCycleULM's domain translator (G_AB: 3 CEUS frames -> 1 MB-only frame), trained "
              f"self-supervised by\n\n    {command or 'pyulm.nn.cycleulm.train_mbdt'}\n\non {len(blocks)} block(s) "
              f"{[list(b.shape) for b in blocks]}: {step} steps in {wall:.0f} s.\nData PSF FWHM (z, x) "
              f"{[round(f, 2) for f in psf_info['data_fwhm']]} px; MB-only PSF {[round(f, 2) for f in b_fwhm]} px.\n"
              + (f"weights.pt: the exponential moving average of G_AB's weights (decay {tc.ema}).\n" if tc.ema else "")
              + f"Use: `pyulm.nn.translate(frames, weights=\"{out}\")`. See docs/cycleulm_mbdt.md.\n")
    extra = {"metrics.json": json.dumps(metrics, indent=2) + "\n", "README.md": readme,
             "command.txt": (command or "pyulm.nn.cycleulm.train_mbdt(...)") + "\n"}
    if config_text:
        extra["train.toml"] = config_text
    nets.to(memory_format=torch.contiguous_format)  # saved weights in the usual order (bf16 trains channels-last)
    write_model_dir(out, nets["G_AB"] if ema_g is None else ema_g, model_cfg=mc.to_dict(), psf=psf_info, patch=dc.patch,
                    loss_weights=full["loss"], seed=seed, training=training, extra_files=extra)
    _label_free_check(out, blocks, va_ranges, metrics, log, warn=warn_check)
    log(f"done: {out} ({step} steps, {wall:.0f} s; validation {json.dumps(last)})")
    return out


def _label_free_check(out: Path, blocks: list, ranges: list, metrics: dict, log, *, warn: bool = True) -> None:
    """Translate the held-back frames with the written translator, count its peaks against the MB-only
    domain's (:mod:`~pyulm.nn.cycleulm.mbdt_check`), add the result to metrics.json, and log it and (``warn``)
    warn when it fails."""
    import warnings

    spans = [(max(0, min(t0, t1 - 3)), t1) for t0, t1 in ranges]  # at least the 3-frame context
    per_block = [check_translator(out, amp[:, :, t0:t1]) for amp, (t0, t1) in zip(blocks, spans)]
    n = [t1 - t0 for t0, t1 in spans]  # translate keeps every frame
    peaks = sum(c["peaks_per_frame"] * k for c, k in zip(per_block, n)) / sum(n)
    expected = sum(c["domain_per_frame"] * k for c, k in zip(per_block, n)) / sum(n)
    worst = max(per_block, key=check_distance)
    metrics["label_free_check"] = {"frames": "held-back (validation_fraction)", "n_frames": sum(n),
                                   "peaks_per_frame": round(peaks, 2), "domain_per_frame": round(expected, 2),
                                   "worst_block": worst, "ok": all(c["ok"] for c in per_block)}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    write_checksums(out)
    if not metrics["label_free_check"]["ok"]:
        log(worst["message"])
        if warn:
            warnings.warn(worst["message"], stacklevel=3)


def _last_val(out: Path) -> dict:
    lines = (out / "log.jsonl").read_text().splitlines() if (out / "log.jsonl").is_file() else []
    return json.loads(lines[-1])["val"] if lines else {}


@torch.no_grad()
def _validate(nets, a, b, lw, ks, g_ab=None) -> dict:
    """Validation losses; ``g_ab`` (the averaged G_AB, in eval mode) replaces ``nets["G_AB"]``."""
    nets.eval()
    use = nets if g_ab is None else {**nets, "G_AB": g_ab}
    torch.manual_seed(0)  # the cycle noise: the same for every validation (training re-seeds every step)
    total, terms, fake_a, fake_b = _losses(use, a, b, lw, ks)
    d_a, d_b = _disc_losses(use, a, b, fake_a, fake_b)
    nets.train()
    return {"g": float(total), **{k: float(v) for k, v in terms.items()}, "d_a": float(d_a), "d_b": float(d_b)}


def _epoch_end(nets, ema_g, opt_g, opt_d, val_a, val_b, lw, ks, run, step, total, tc, t0, c0, out, log):
    n = max(1, step % tc.steps_per_epoch or tc.steps_per_epoch)
    val = _validate(nets, val_a, val_b, lw, ks, ema_g)
    wall, cpu = time.time() - t0, time.process_time() - c0
    rec = {"step": step, "epoch": -(-step // tc.steps_per_epoch), "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
           "train": {k: v / n for k, v in run.items()}, "val": val}
    if ema_g is not None:
        rec["val_G_AB"] = "ema"  # the validation losses are the averaged translator's
    with open(out / "log.jsonl", "a") as fh:
        fh.write(json.dumps(rec) + "\n")
    state = {"nets": nets.state_dict(), "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "step": step,
             "wall": wall, "cpu": cpu, "precision": tc.precision, "ema": tc.ema, "grad_clip": tc.grad_clip}
    if ema_g is not None:
        state["ema_G_AB"] = ema_g.state_dict()
    torch.save(state, out / CHECKPOINT)
    log(f"epoch {rec['epoch']}/{-(-total // tc.steps_per_epoch)} ({step}/{total} steps): train G {rec['train']['g']:.4f} "
        f"D {rec['train']['d_a'] + rec['train']['d_b']:.4f} | val{'' if ema_g is None else ' (EMA G_AB)'} "
        f"G {val['g']:.4f} cyc {val['cyc_a']:.4f} sim {val['sim']:.4f} ({wall:.0f} s)")


def train_mbdt(sources, out, *, roi=None, config=None, resume: bool = False, command: str | None = None,
               log=print) -> Path:
    """Train an MB-DT translator on the user's own acquisitions; returns the model directory.

    Parameters
    ----------
    sources : path, array or list of them
        Acquisitions: files pyulm reads (SVD-filtered with ``[data].svd_cutoff``), or
        (z, x, t) complex IQ / amplitude arrays taken as already filtered. Never modified.
    out : path
        Model directory to write (``checkpoint.pt`` every epoch).
    roi : str or (z0, z1, x0, x1), optional
        Region to train on, pixels (``"Z0:Z1,X0:X1"``).
    config : path, dict or None
        TOML file or dict (:mod:`pyulm.nn.cycleulm.mbdt_config`); None: the defaults.
    resume : bool
        Continue from ``out/checkpoint.pt``.
    command : str, optional
        The command line, recorded in the model directory.
    log : callable
        Receives progress lines.

    Returns
    -------
    Path
        ``out``, a model directory for :func:`pyulm.nn.translate`.

    Examples
    --------
    >>> from pyulm.nn.cycleulm import ceus_acquisition, train_mbdt  # doctest: +SKIP
    >>> acq = ceus_acquisition("medium", seed=1000)                  # doctest: +SKIP
    >>> train_mbdt(acq.iq, "mbdt_model", config={"train": {"max_minutes": 5}})  # doctest: +SKIP
    """
    from ..._optional import load_toml
    from .mbdt_config import parse_config
    from .mbdt_domain import auto_intensity, auto_n_bubbles, estimate_data_psf
    from .mbdt_sources import load_blocks

    text = ""
    if isinstance(config, (str, Path)):
        text = Path(config).read_text() if Path(config).is_file() else ""
        cfg = parse_config(load_toml(config, "mbdt training config"), str(config))
    else:
        cfg = parse_config(config)
    dc = cfg["data"]
    blocks, names = load_blocks(sources, roi, dc, cfg["model"].context)
    if dc.psf_fwhm == "auto":
        ests = []
        for blk, name in zip(blocks, names):
            try:
                ests.append(estimate_data_psf(blk))
            except ValueError as exc:
                log(f"{name}: no PSF estimate ({exc})")
        if not ests:
            raise ValueError("sources: no isolated bubble found to estimate the data PSF; give [data].psf_fwhm")
        n = np.array([max(e["n_used"], 1) for e in ests], float)
        fw = (np.array([e["fwhm"] for e in ests]) * n[:, None]).sum(0) / n.sum()
        psf = {"data_fwhm": fw.tolist(), "n_used": int(n.sum()), "source": "estimated"}
    else:
        psf = {"data_fwhm": list(dc.psf_fwhm), "n_used": 0, "source": "config"}
    nb = dc.n_bubbles
    if nb == "auto":
        counts = [auto_n_bubbles(b, dc.patch)[1] for b in blocks]
        nb = (0, int(round(np.mean(counts))))
    # a fixed pair is recorded by fit itself (intensity=None); "auto" is estimated here, on all the blocks
    inten = {**auto_intensity(blocks), "source": "estimated"} if dc.intensity == "auto" else None
    lo, hi = inten["range"] if inten else dc.intensity
    log(f"mbdt: {len(blocks)} block(s) {[list(b.shape) for b in blocks]}; data PSF FWHM (z, x) "
        f"{[round(f, 2) for f in psf['data_fwhm']]} px from {psf['n_used']} bubbles -> MB-only PSF "
        f"{[round(f * dc.shrink, 2) for f in psf['data_fwhm']]} px; {nb[0]}-{nb[1]} bubbles per patch; peak amplitudes "
        f"U({lo:.3f}, {hi:.3f}) ({'estimated' if inten else 'config'})")
    args = dict(intensity=inten, command=command, config_text=text, sources=list(names), log=log)
    # one attempt: its check warns as it ends; with restarts the verdict comes once, for the attempt kept
    out = fit(blocks, cfg, psf, nb, out, resume=resume, warn_check=not cfg["train"].restarts, **args)
    return _restart_until_checked(out, blocks, cfg, psf, nb, args)


def _check_of(model_dir: Path) -> dict:
    return json.loads((model_dir / "metrics.json").read_text())["label_free_check"]


def _wall_s(model_dir: Path) -> float:
    """Wall-clock seconds an attempt trained (resumes included), as its config.json records them."""
    from .mbdt_dir import read_model_config

    return float(read_model_config(model_dir)["training"]["wall_s"])


def _restart_until_checked(out: Path, blocks, cfg, psf, nb, args) -> Path:
    """``[train] restarts``: while the label-free check fails, train again with the next seed.

    Each attempt ``k`` (seed + k, the same budget) is trained in a new sibling directory ``OUT.restartK-*``,
    unless ``[train] max_total_minutes`` cannot hold another attempt as long as the longest so far;
    the first that passes, or the one nearest its domain when none does (:func:`~pyulm.nn.cycleulm.mbdt_check.check_distance`:
    count and height ratios), ends in ``out``
    (the others are removed), with every attempt listed in its metrics.json (``attempts``).
    """
    import shutil
    import tempfile
    import warnings

    n, cap = cfg["train"].restarts, 60.0 * cfg["train"].max_total_minutes
    first = _check_of(out) if n else None
    if n == 0 or first["ok"]:
        return out
    seed0 = cfg["seed"]
    tries = [(seed0, out, first)]
    walls, budget_stop = [_wall_s(out)], None
    for k in range(1, n + 1):
        if cap and sum(walls) + max(walls) > cap:  # another attempt as long as the longest would not fit
            budget_stop = (f"restart {k}/{n} not started: {sum(walls) / 60:.1f} min used, the longest attempt took "
                           f"{max(walls) / 60:.1f} min, [train].max_total_minutes = {cap / 60:g}")
            args["log"](f"MB-DT check failed: {budget_stop}")
            break
        # a new sibling directory of its own: an existing directory of any name is never overwritten
        d = Path(tempfile.mkdtemp(prefix=f"{out.name}.restart{k}-", dir=out.parent))
        args["log"](f"MB-DT check failed: restart {k}/{n} with seed {seed0 + k} in {d}")
        fit(blocks, {**cfg, "seed": seed0 + k}, psf, nb, d, warn_check=False, **args)
        tries.append((seed0 + k, d, _check_of(d)))
        walls.append(_wall_s(d))
        if tries[-1][2]["ok"]:
            break
    best = next((t for t in tries if t[2]["ok"]), None) or min(
        tries, key=lambda t: check_distance(t[2]["worst_block"]))
    if best[1] != out:
        shutil.rmtree(out)
        best[1].rename(out)
    for _, d, _ in tries:
        if d != best[1] and d != out and d.exists():
            shutil.rmtree(d)
    metrics = json.loads((out / "metrics.json").read_text())
    metrics["attempts"] = [{"seed": s, "peaks_ratio": c["worst_block"]["ratio"],
                            "height_ratio": c["worst_block"].get("height_ratio"), "ok": c["ok"]} for s, _, c in tries]
    metrics["kept_seed"] = best[0]
    if budget_stop:
        metrics["restarts_stopped"] = budget_stop
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    write_checksums(out)
    args["log"](f"MB-DT: kept the attempt with seed {best[0]} ({'check passed' if best[2]['ok'] else 'no attempt passed'})")
    if not best[2]["ok"]:  # the one verdict: on the translator kept
        warnings.warn(f"{best[2]['worst_block']['message']} (none of {len(tries)} attempts passed; kept seed {best[0]}, "
                      f"the nearest its domain)", stacklevel=3)
    return out
