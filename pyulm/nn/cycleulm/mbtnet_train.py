"""Training MBT-Net on synthetic MB-only sequences (imports torch).

TOML config (every field checked; unknown fields are errors)::

    seed = 20261
    [data]       # MotionConfig (pyulm.nn.cycleulm.mbtnet_data): frames, patch, density, speed, ...
    [network]    # MBTNetConfig: c1, c2, c3, cu (channels)
    [train]      # TrainConfig below

Step ``k`` draws its batch from ``SeedSequence([seed, 0, k])`` and seeds torch from it, so a
run resumed from ``checkpoint.pt`` ends with the same weights as an uninterrupted one.
Steps alternate over the patch sizes of ``[data] patch``, the batch shrinking with the patch
area (equal pixels per step). Validation sequences come from ``SeedSequence([seed, 1, i])``
and the held-out test sequences from ``SeedSequence([seed, 2, i])``: three disjoint streams,
the test set is scored once, on the selected (lowest validation loss) weights.

Loss (paper eq. 14-16): BCE between the trajectory logit map and the ground-truth trajectory
map (``pos_weight`` > 1 weighs the sparse trajectory pixels up; 1 is the paper's plain BCE)
plus ``velocity_weight`` x the MSE of (v_z, v_x) weighted by the normalised ground-truth
trajectory weight map (:func:`pyulm.nn.cycleulm.mbtnet_data.trajectory_maps`).
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
from .mbtnet_data import MotionConfig, simulate_batch
from .mbtnet_model import build, sizes
from . import mbtnet_infer


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 2400
    batch: int = 8               # sequences per step at the smallest patch size
    lr: float = 1e-3
    eval_every: int = 200
    val_sequences: int = 32
    test_sequences: int = 64
    pos_weight: float = 1.0      # BCE weight of trajectory pixels (1: the paper's BCE)
    velocity_weight: float = 1.0
    threads: int = 1
    device: str = "cpu"


def _device_name(v, name: str) -> str:
    if not isinstance(v, str) or not v:
        raise ValueError(f"{name}: expected a device name (\"cpu\", \"cuda\", ...), got {v!r}")
    return v


def _train_table(d: dict, where: str) -> TrainConfig:
    return TrainConfig(**check_fields(TrainConfig, d, where, positive=True, special={"device": _device_name}))


def parse_config(raw: dict, where: str = "config") -> dict:
    """Check a config dict (as read from TOML): ``{"seed", "data", "sizes", "train"}``."""
    seed = top_level(raw, where, ("seed",), ("data", "network", "train"))
    try:
        data = MotionConfig.from_dict(raw.get("data", {}))
        net = build(raw.get("network", {}))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from None
    if net.cfg.frames != data.frames:
        raise ValueError(f"{where}: [network] frames {net.cfg.frames} differs from [data] frames {data.frames}")
    return {"seed": seed, "data": data, "sizes": sizes(net), "train": _train_table(raw.get("train", {}),
                                                                                    f"{where} [train]")}


def load_config(path) -> dict:
    p = Path(path)
    return parse_config(load_toml(p, "training config"), str(p))


def losses(out: torch.Tensor, traj, vel, vw, pos_weight: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(trajectory BCE, weighted velocity MSE) of network output ``out`` (B, 3, H, W) against the ground truth."""
    bce = F.binary_cross_entropy_with_logits(out[:, 0], traj, pos_weight=torch.as_tensor(pos_weight))
    w = vw / vw.sum().clamp_min(1.0)  # the normalised weight map (paper eq. 16)
    mse = (w[:, None] * (out[:, 1:] - vel) ** 2).sum()
    return bce, mse


def _tensors(arrays, device):
    return [torch.as_tensor(a, device=device) for a in arrays]


def held_out(seed: int, stream: int, cfg: MotionConfig, n: int) -> list:
    """The ``n`` validation (stream 1) or test (stream 2) sequences, half at each patch size in turn."""
    out = []
    for i in range(n):
        rng = np.random.default_rng(np.random.SeedSequence([seed, stream, i]))
        out.append(simulate_batch(rng, cfg, cfg.patch[i % len(cfg.patch)], 1))
    return out


THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)


def evaluate(model, seqs, tc: TrainConfig, device, threshold: float = 0.5) -> dict:
    """Trajectory BCE and Dice (probability >= ``threshold``; ``dice_at`` for every one of
    :data:`THRESHOLDS`), velocity RMSE and speed-relative error on trajectory pixels."""
    model.eval()
    sums = {"bce": 0.0, "vel_mse": 0.0}
    inter, total = np.zeros(len(THRESHOLDS) + 1), np.zeros(len(THRESHOLDS) + 1)
    logits = [math.log(t / (1 - t)) for t in (*THRESHOLDS, threshold)]
    err2 = wsum = rel = 0.0
    with torch.no_grad():
        for arrays in seqs:
            x, traj, vel, vw = _tensors(arrays, device)
            out = model(x)
            bce, mse = losses(out, traj, vel, vw, tc.pos_weight)
            sums["bce"] += bce.item() / len(seqs)
            sums["vel_mse"] += mse.item() / len(seqs)
            for k, lg in enumerate(logits):
                pred = (out[:, 0] >= lg).float()
                inter[k] += float((pred * traj).sum())
                total[k] += float(pred.sum() + traj.sum())
            on = traj > 0
            d2 = ((out[:, 1:] - vel) ** 2).sum(1)[on]
            err2 += float(d2.sum())
            wsum += float(on.sum())
            rel += float((d2.sqrt() / vel.norm(dim=1)[on].clamp_min(0.1)).sum())
    model.train()
    dice = np.where(total > 0, 2 * inter / np.maximum(total, 1e-12), 1.0)
    return {**sums, "dice": float(dice[-1]), "threshold": threshold,
            "dice_at": {str(t): float(d) for t, d in zip(THRESHOLDS, dice[:-1])},
            "vel_rmse_px_per_frame": math.sqrt(err2 / wsum) if wsum else 0.0,
            "vel_rel_error": rel / wsum if wsum else 0.0}


def train(cfg: dict, out, *, resume: bool = False, command: str | None = None, config_text: str = "",
          log=print, stop_at: int | None = None) -> Path:
    """Train MBT-Net into the directory ``out`` (see the module docstring); returns ``out``.

    ``stop_at``: stop at the first checkpoint at or after this step (as an interrupted run
    would; ``resume=True`` continues it) without writing the model directory."""
    tc, data, seed = cfg["train"], cfg["data"], cfg["seed"]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(tc.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    device = torch.device(tc.device)
    torch.manual_seed(seed)
    model = build(cfg["sizes"]).to(device)
    opt = torch.optim.Adam(model.parameters(), tc.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, tc.steps, eta_min=tc.lr * 0.05)
    step, best, best_state, t_used = 0, math.inf, None, 0.0
    ck = out / "checkpoint.pt"
    if resume:
        state = load_checkpoint(ck, device)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        step, best, best_state, t_used = state["step"], state["best"], state["best_state"], state["wall"]
        log(f"resumed at step {step}")
    elif (out / "log.jsonl").exists():
        (out / "log.jsonl").unlink()
    val = held_out(seed, 1, data, tc.val_sequences)
    model.train()
    t0 = time.time() - t_used
    run = {"bce": 0.0, "vel_mse": 0.0}
    n_run = 0
    smallest = min(data.patch)
    while step < tc.steps:
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0, step]))
        torch.manual_seed(int(rng.integers(2 ** 62)))
        size = data.patch[step % len(data.patch)]
        nb = max(1, round(tc.batch * (smallest / size) ** 2))
        x, traj, vel, vw = _tensors(simulate_batch(rng, data, size, nb), device)
        bce, mse = losses(model(x), traj, vel, vw, tc.pos_weight)
        loss = bce + tc.velocity_weight * mse
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        run["bce"] += bce.item()
        run["vel_mse"] += mse.item()
        n_run += 1
        step += 1
        if step % tc.eval_every == 0 or step == tc.steps:
            score = evaluate(model, val, tc, device)
            total = score["bce"] + tc.velocity_weight * score["vel_mse"]
            if total < best:
                best, best_state = total, {k: v.detach().clone() for k, v in model.state_dict().items()}
            rec = {"step": step, "wall_s": round(time.time() - t0, 1),
                   "loss": {k: v / n_run for k, v in run.items()}, "val": score}
            run, n_run = {"bce": 0.0, "vel_mse": 0.0}, 0
            with open(out / "log.jsonl", "a") as fh:
                fh.write(json.dumps(rec) + "\n")
            log(f"step {step}/{tc.steps} val bce {score['bce']:.4f} dice {score['dice']:.3f} "
                f"vel rmse {score['vel_rmse_px_per_frame']:.3f} px/frame ({rec['wall_s']:.0f} s)")
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                        "step": step, "best": best, "best_state": best_state, "wall": time.time() - t0}, ck)
            if stop_at is not None and step >= stop_at and step < tc.steps:
                log(f"stopped at step {step} (checkpoint {ck})")
                return out
    model.load_state_dict(best_state)
    # the decision threshold of the trajectory maps (e2e_maps' default) is chosen on the
    # validation sequences, then the test sequences are scored once with it
    val_at = evaluate(model, val, tc, device)["dice_at"]
    threshold = float(max(val_at, key=val_at.get))
    test = evaluate(model, held_out(seed, 2, data, tc.test_sequences), tc, device, threshold)
    wall = time.time() - t0
    metrics = {"architecture": "mbtnet", "best_val_loss": best, "val_dice_at": val_at, "threshold": threshold,
               "test": test, "test_sequences": tc.test_sequences,
               "steps": tc.steps, "wall_s": round(wall, 1), "command": command, "pyulm": __version__,
               "torch": torch.__version__, "python": platform.python_version(),
               "train_config": {"seed": seed, "data": asdict(data), "train": asdict(tc), "network": cfg["sizes"]}}
    n_par = sum(p.numel() for p in model.parameters())
    readme = (f"# MBT-Net (CycleULM trajectory network)\n\nTrained by `{command or 'pyulm.nn.cycleulm.mbtnet_train'}` "
              f"in {wall:.0f} s ({tc.steps} steps, {n_par} parameters) on synthetic MB-only sequences "
              f"(train.toml). Held-out test ({tc.test_sequences} sequences never used for training or selection): "
              f"trajectory Dice {test['dice']:.3f} (probability >= {threshold}, chosen on validation), BCE {test['bce']:.4f}, velocity RMSE "
              f"{test['vel_rmse_px_per_frame']:.3f} pixels/frame.\nVelocities are in input pixels per frame. "
              f"See docs/cycleulm_mbtnet.md.\n")
    mbtnet_infer.write_model_dir(out, model.cpu(), data, threshold, extra_files={
        "metrics.json": json.dumps(metrics, indent=2) + "\n", "README.md": readme,
        **({"train.toml": config_text} if config_text else {}), **({"command.txt": command + "\n"} if command else {})})
    log(f"done: {out} (test dice {test['dice']:.3f}, vel rmse {test['vel_rmse_px_per_frame']:.3f} px/frame)")
    return out
