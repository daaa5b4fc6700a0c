"""Training the fUS → ULM models (imports torch).

TOML config (every field checked; unknown fields are errors)::

    seed = 20260
    model = "diffusion"            # pix2pix | mhvae | diffusion
    [data]
    pairs = "pairs.npz"            # `pyulm simulate --pairs N OUT`; or fus = [...] + ulm = [...] files;
    simulate = 35                  #   or: simulate this many pairs (seed `simulate_seed`) into DIR/pairs.npz
    split = [29, 1, 5]             # train / validation / test, in file order (the poster's regime)
    [network]                      # network sizes (models.*Config)
    [train]                        # TrainConfig

Step ``k`` draws its batch (images, patch corners, diffusion times, noise) from
``SeedSequence([seed, k])`` and torch is seeded per step, so a run resumed from
``checkpoint.pt`` ends with the same weights as an uninterrupted one. No data
augmentation. Every ``eval_every`` steps the validation pair is predicted and
scored (SSIM); the best state is kept and written as the model directory at the end,
with the test pairs' MSE / SSIM / PSNR in ``metrics.json``.
"""
from __future__ import annotations

import json
import math
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from ..._optional import load_toml
from ..._version import __version__
from ..configcheck import check_fields, top_level
from ..weights_io import load_checkpoint
from . import model_dir
from .data import load_registered_pair, split
from .diffusion import cosine_alphas, diffusion_loss, ema_update
from .evaluation import image_metrics
from .inference import predict
from .models import build


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 3000
    batch: int = 4               # images (pix2pix, mhvae) or patches (diffusion) per step
    lr: float = 2e-4
    lr_schedule: str = "constant"  # constant | cosine: lr held for lr_hold steps, then cosine down to lr_final
    lr_hold: int = 0
    lr_final: float = 0.0
    eval_every: int = 250
    snapshot_every: int = 0      # diffusion: also save the EMA weights every this many steps (0: never)
    threads: int = 1
    device: str = "cpu"
    l1_weight: float = 100.0     # pix2pix: L1 vs adversarial
    kl_weight: float = 0.01      # mhvae: KL per pixel vs MSE
    edge_weight: float = 0.5     # diffusion: Sobel edge L1 vs noise MSE
    ema: float = 0.995           # diffusion: EMA of the weights (0: none), warmed up as min(ema, (1+k)/(10+k))
    val_steps: int = 20          # diffusion: DDIM steps when validating
    sample_steps: int = 25       # diffusion: DDIM steps written to config.json for inference
    dynamic_range_db: float = 40.0


@dataclass(frozen=True)
class DataConfig:
    pairs: str = ""
    fus: tuple = ()
    ulm: tuple = ()
    ulm_variable: str = "MatOut"
    simulate: int = 0
    simulate_seed: int = 20260
    size: int = 128
    split: tuple = (29, 1, 5)


_ZERO_OK = ("simulate", "lr_hold", "snapshot_every")  # whole-number settings where 0 means "none"


def check_table(cls, d, where):
    """``cls(**d)`` for a frozen dataclass of settings, checked by :func:`pyulm.nn.configcheck.check_fields`
    (``simulate``, ``lr_hold``, ``snapshot_every`` may be 0; lists unchecked, the caller checks them)."""
    return cls(**check_fields(cls, d, where, zero_ok=_ZERO_OK))


def parse_config(raw: dict, where: str = "config", model: str | None = None) -> dict:
    """Check a config dict (as read from TOML); ``model`` (from the command line) must agree with it."""
    seed = top_level(raw, where, ("seed", "model"), ("data", "network", "train"))
    sizes = raw.get("network", {})
    kind = raw.get("model") or model
    if model is not None and kind != model:
        raise ValueError(f"{where}: model {kind!r} differs from --model {model!r}")
    if kind not in model_dir.KINDS:
        raise ValueError(f"{where}: model: expected one of {', '.join(model_dir.KINDS)}, got {kind!r}")
    build(kind, sizes)  # checks the sizes
    data = check_table(DataConfig, raw.get("data", {}), f"{where} [data]")
    if sum(bool(x) for x in (data.pairs, data.fus, data.simulate)) != 1:
        raise ValueError(f"{where} [data]: give exactly one of pairs, fus + ulm, simulate")
    if len(data.fus) != len(data.ulm):
        raise ValueError(f"{where} [data]: fus and ulm must list the same number of files")
    tc = check_table(TrainConfig, raw.get("train", {}), f"{where} [train]")
    if tc.lr_schedule not in ("constant", "cosine"):
        raise ValueError(f"{where} [train].lr_schedule: expected 'constant' or 'cosine', got {tc.lr_schedule!r}")
    if tc.lr_schedule == "cosine" and not (tc.lr_hold < tc.steps and tc.lr_final <= tc.lr):
        raise ValueError(f"{where} [train]: a cosine schedule needs lr_hold < steps and lr_final <= lr "
                         f"(got lr_hold {tc.lr_hold}, steps {tc.steps}, lr_final {tc.lr_final}, lr {tc.lr})")
    return {"seed": seed, "kind": kind, "sizes": dict(sizes), "data": data, "train": tc}


def learning_rate(tc: TrainConfig, step: int) -> float:
    """The learning rate of 0-based step ``step``: a function of the step alone, so that a run
    resumed (or extended) from a checkpoint follows the same schedule as an uninterrupted one."""
    if tc.lr_schedule == "constant" or step < tc.lr_hold:
        return tc.lr
    p = (step - tc.lr_hold) / (tc.steps - tc.lr_hold)
    return tc.lr_final + 0.5 * (tc.lr - tc.lr_final) * (1.0 + math.cos(math.pi * min(p, 1.0)))


def load_config(path, model: str | None = None) -> dict:
    p = Path(path)
    raw = load_toml(p, "training config")
    return parse_config(raw, str(p), model)


def load_data(data: DataConfig, out: Path, log=print) -> tuple[np.ndarray, np.ndarray]:
    """(fus, ulm) arrays (n, size, size) in [0, 1] for the configured source."""
    from ...sim.doppler import load_pairs, save_pairs, simulate_pairs

    if data.pairs:
        fus, ulm, _ = load_pairs(data.pairs)
    elif data.fus:
        pairs = [load_registered_pair(f, u, size=data.size, ulm_variable=data.ulm_variable or None)
                 for f, u in zip(data.fus, data.ulm)]
        fus, ulm = np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
    else:
        cache = out / "pairs.npz"
        if not cache.is_file():
            log(f"simulating {data.simulate} pairs (seed {data.simulate_seed}) into {cache}")
            save_pairs(cache, simulate_pairs(data.simulate, data.simulate_seed, size=data.size))
        fus, ulm, _ = load_pairs(cache)
    if fus.shape[1] % 16 or fus.shape[2] % 16:
        raise ValueError(f"data: images of {fus.shape[1:]} pixels; expected multiples of 16 (set [data] size)")
    if not (np.all(np.isfinite(fus)) and np.all(np.isfinite(ulm))):
        raise ValueError("data: the pairs contain NaN or Inf")
    return fus, ulm


def _step(kind, model, opt, batch_fus, batch_ulm, tc: TrainConfig, rng, abar, cfg_patch):
    """One optimiser step; returns the logged losses."""
    if kind == "pix2pix":
        opt_g, opt_d = opt
        G, D = model.generator, model.discriminator
        fake = G(batch_fus)
        real_l, fake_l = D(batch_fus, batch_ulm), D(batch_fus, fake.detach())
        loss_d = 0.5 * (F.binary_cross_entropy_with_logits(real_l, torch.ones_like(real_l))
                        + F.binary_cross_entropy_with_logits(fake_l, torch.zeros_like(fake_l)))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        adv_l = D(batch_fus, fake)
        adv = F.binary_cross_entropy_with_logits(adv_l, torch.ones_like(adv_l))
        l1 = F.l1_loss(fake, batch_ulm)
        loss = adv + tc.l1_weight * l1
        opt_g.zero_grad()
        loss.backward()
        opt_g.step()
        return {"d": loss_d.item(), "adv": adv.item(), "l1": l1.item()}
    if kind == "mhvae":
        npix = batch_fus[0].numel()
        both = model(batch_fus, batch_ulm)
        only = model(batch_fus, None)  # the fUS-only posterior must also explain ULM (how it is used)
        rec = sum(F.mse_loss(o[0], batch_fus) + F.mse_loss(o[1], batch_ulm) for o in (both, only))
        kl = sum((o[2] + o[3]).mean() for o in (both, only)) / npix
        loss = rec + tc.kl_weight * kl
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"rec": rec.item(), "kl": kl.item()}
    n = batch_fus.shape[0]
    t = torch.as_tensor(rng.integers(0, len(abar), n), dtype=torch.long)
    noise = torch.as_tensor(rng.standard_normal(batch_ulm.shape), dtype=torch.float32)
    loss, mse, edge = diffusion_loss(model, batch_ulm, batch_fus, cfg_patch, t, noise, abar, tc.edge_weight)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return {"mse": mse.item(), "edge": edge.item()}


def _batch(kind, fus, ulm, train_idx, tc, rng, patch):
    idx = rng.choice(train_idx, tc.batch, replace=len(train_idx) < tc.batch)
    if kind != "diffusion":
        pick = lambda a: torch.as_tensor(a[idx] * 2 - 1)[:, None]  # noqa: E731
        return pick(fus), pick(ulm), None
    H, W = fus.shape[1:]
    z0 = rng.integers(0, H - patch + 1, tc.batch)
    x0 = rng.integers(0, W - patch + 1, tc.batch)
    cut = lambda a: torch.as_tensor(np.stack([a[i, z:z + patch, x:x + patch] for i, z, x in zip(idx, z0, x0)]) * 2 - 1)[:, None]  # noqa: E731
    pos = torch.as_tensor(np.stack([z0 / H, x0 / W], 1), dtype=torch.float32)
    return cut(fus), cut(ulm), pos


def evaluate(kind, model, fus, ulm, idx, tc: TrainConfig, steps: int) -> dict:
    """Mean and standard deviation of MSE / SSIM / PSNR over the pairs ``idx``."""
    model.eval()
    rows = [image_metrics(predict(model, kind, fus[i], steps=steps, seed=0), ulm[i]) for i in idx]
    model.train()
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]} | {
        f"{k}_std": float(np.std([r[k] for r in rows])) for k in rows[0]}


def train(cfg: dict, out, *, resume: bool = False, command: str | None = None, config_text: str = "",
          log=print) -> Path:
    """Train the configured model into the directory ``out`` (see the module docstring)."""
    kind, tc, data, seed = cfg["kind"], cfg["train"], cfg["data"], cfg["seed"]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(tc.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    fus, ulm = load_data(data, out, log)
    tr, va, te = split(len(fus), data.split)
    torch.manual_seed(seed)
    model = build(kind, cfg["sizes"])
    patch = getattr(model.cfg, "patch", None)
    if patch is not None and patch > min(fus.shape[1:]):
        raise ValueError(f"[network] patch {patch} is larger than the images ({fus.shape[1:]})")
    if kind == "pix2pix":
        opt = (torch.optim.Adam(model.generator.parameters(), tc.lr, betas=(0.5, 0.999)),
               torch.optim.Adam(model.discriminator.parameters(), tc.lr, betas=(0.5, 0.999)))
    else:
        opt = torch.optim.Adam(model.parameters(), tc.lr)
    opts = opt if isinstance(opt, tuple) else (opt,)
    ema = {k: v.detach().clone() for k, v in model.state_dict().items()} if kind == "diffusion" and tc.ema else None
    abar = cosine_alphas(model.cfg.timesteps) if kind == "diffusion" else None
    step, best, best_state, t_used = 0, -np.inf, None, 0.0
    ck = out / "checkpoint.pt"
    if resume:
        state = load_checkpoint(ck, "cpu")
        model.load_state_dict(state["model"])
        for o, s in zip(opts, state["opt"]):
            o.load_state_dict(s)
        ema = state.get("ema") or ema
        step, best, best_state, t_used = state["step"], state["best"], state["best_state"], state["wall"]
        log(f"resumed at step {step}")
    elif (out / "log.jsonl").exists():
        (out / "log.jsonl").unlink()
    model.train()
    t0 = time.time() - t_used
    run_loss = {}
    while step < tc.steps:
        rng = np.random.default_rng(np.random.SeedSequence([seed, step]))
        torch.manual_seed(int(rng.integers(2 ** 62)))
        bf, bu, pos = _batch(kind, fus, ulm, tr, tc, rng, patch)
        if tc.lr_schedule != "constant":
            for o in opts:
                for g in o.param_groups:
                    g["lr"] = learning_rate(tc, step)
        losses = _step(kind, model, opt, bf, bu, tc, rng, abar, pos)
        for k, v in losses.items():
            run_loss[k] = run_loss.get(k, 0.0) + v
        if ema is not None:
            ema_update(ema, model, step, tc.ema)
        step += 1
        if step % tc.eval_every == 0 or step == tc.steps:
            live = {k: v.clone() for k, v in model.state_dict().items()}
            if ema is not None:
                model.load_state_dict(ema)
            if kind == "diffusion" and tc.snapshot_every and step % tc.snapshot_every == 0:
                (out / "snapshots").mkdir(exist_ok=True)  # candidates for a choice on a validation set
                torch.save(model.state_dict(), out / "snapshots" / f"step{step:06d}.pt")
            score = evaluate(kind, model, fus, ulm, va, tc, tc.val_steps)
            if score["ssim"] > best:
                best, best_state = score["ssim"], {k: v.clone() for k, v in model.state_dict().items()}
            model.load_state_dict(live)
            rec = {"step": step, "wall_s": round(time.time() - t0, 1),
                   "loss": {k: v / tc.eval_every for k, v in run_loss.items()}, "val": score}
            run_loss = {}
            with open(out / "log.jsonl", "a") as fh:
                fh.write(json.dumps(rec) + "\n")
            log(f"step {step}/{tc.steps} val ssim {score['ssim']:.4f} mse {score['mse']:.4f} "
                f"({rec['wall_s']:.0f} s)")
            torch.save({"model": model.state_dict(), "opt": [o.state_dict() for o in opts], "ema": ema,
                        "step": step, "best": best, "best_state": best_state, "wall": time.time() - t0}, ck)
    model.load_state_dict(best_state)
    test = evaluate(kind, model, fus, ulm, te, tc, tc.sample_steps) if len(te) else {}
    wall = time.time() - t0
    # samples / eta: single deterministic DDIM trajectory; choose others on a validation set (docs/fus2ulm.md)
    inference = ({"steps": tc.sample_steps, "stride": patch // 2, "seed": 0, "samples": 1, "eta": 0.0}
                 if kind == "diffusion" else {})
    metrics = {"model": kind, "best_val_ssim": best, "test": test, "n_pairs": int(len(fus)),
               "split": list(data.split), "steps": tc.steps, "wall_s": round(wall, 1), "command": command,
               "pyulm": __version__, "torch": torch.__version__, "python": platform.python_version(),
               "train_config": {"seed": seed, "data": asdict(data), "train": asdict(tc), "network": cfg["sizes"]}}
    readme = (f"# fus2ulm {kind}\n\nTrained by `{command or 'pyulm.nn.fus2ulm.train.train'}` in {wall:.0f} s "
              f"({tc.steps} steps). Validation SSIM {best:.4f}; test {json.dumps(test)}.\nSee docs/fus2ulm.md.\n")
    model_dir.write(out, model, kind, size=fus.shape[1], dynamic_range_db=tc.dynamic_range_db, inference=inference,
                    extra_files={"metrics.json": json.dumps(metrics, indent=2) + "\n", "README.md": readme,
                                 **({"train.toml": config_text} if config_text else {})})
    log(f"done: {out} (val ssim {best:.4f}, test {test})")
    return out
