"""Training PgD on physics images (imports torch).

TOML config (every field checked; unknown fields are errors)::

    seed = 20260
    [data]
    n_train_params = 300           # imaging conditions of the train split (pyulm.nn.pgd.physics.sample_params)
    n_val_params = 24              # validation split: model selection
    n_test_params = 48             # test split: held-out metrics only (never trained on or selected by)
    frames_per_params = 32         # frames per training condition in each pool of examples
    pool_steps = 2000              # a fresh pool (new bubbles) every this many steps
    size = [32, 32]                # image size, pixels
    density = [0.5, 6.0]           # bubbles per frame: each frame draws its mean in this range
    val_frames = 4                 # frames per validation condition
    test_frames = 8                # frames per test condition
    [network]                      # PgDConfig sizes (width, emb, timesteps)
    [train]                        # TrainConfig

The three splits are drawn from disjoint cells of the parameter space
(:func:`~pyulm.nn.pgd.physics.split_of`) with ``SeedSequence([seed, split])``. Step ``k``
draws its batch, diffusion times and noise from ``SeedSequence([seed, k])`` and pool ``j``
its bubbles from ``SeedSequence([seed, 7, j])``, so a run resumed from ``checkpoint.pt``
ends with the same weights as an uninterrupted one. Every ``eval_every`` steps the EMA
weights are scored on the validation conditions (loss at fixed times and noise, and the
SSIM of DDIM samples against the physics images); the best SSIM is kept and written as
the model directory at the end, with the test conditions' scores in ``metrics.json``.
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

from ..._optional import load_toml
from ..._version import __version__
from ..configcheck import check_fields, top_level
from ..fus2ulm.diffusion import ema_update
from ..weights_io import load_checkpoint
from . import model_dir
from .data import make_examples
from .diffusion import cosine_alphas, diffusion_loss
from .fidelity import evaluate_conditions
from .model import build, n_parameters
from .physics import sample_params

SPLIT_SEEDS = {"train": 0, "val": 1, "test": 2}


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 20000
    batch: int = 16
    lr: float = 5e-4             # Adam, cosine-decayed to lr / 20 over decay_steps
    decay_steps: int = 0         # horizon of the cosine decay (default: steps)
    eval_every: int = 1000
    log_every: int = 200
    threads: int = 1
    device: str = "cpu"
    ema: float = 0.999           # EMA of the weights, warmed up as min(ema, (1 + k) / (10 + k))
    val_steps: int = 10          # DDIM steps when validating
    sample_steps: int = 20       # DDIM steps for the test metrics and written to config.json


@dataclass(frozen=True)
class DataConfig:
    n_train_params: int = 300
    n_val_params: int = 24
    n_test_params: int = 48
    frames_per_params: int = 32
    pool_steps: int = 2000
    size: tuple = (32, 32)
    density: tuple = (0.5, 6.0)
    val_frames: int = 4
    test_frames: int = 8


def parse_config(raw: dict, where: str = "config") -> dict:
    """Check a config dict (as read from TOML)."""
    seed = top_level(raw, where, ("seed",), ("data", "network", "train"))
    sizes = raw.get("network", {})
    build(sizes)  # checks the sizes
    data = DataConfig(**check_fields(DataConfig, raw.get("data", {}), f"{where} [data]"))
    if len(data.size) != 2 or any(not isinstance(s, int) or s < 8 or s % 4 for s in data.size):
        raise ValueError(f"{where} [data] size: expected [nz, nx], multiples of 4 >= 8, got {list(data.size)}")
    if len(data.density) != 2 or not 0 <= data.density[0] <= data.density[1]:
        raise ValueError(f"{where} [data] density: expected [low, high] bubbles per frame, got {list(data.density)}")
    tc = TrainConfig(**check_fields(TrainConfig, raw.get("train", {}), f"{where} [train]"))
    if tc.ema >= 1:
        raise ValueError(f"{where} [train] ema: expected a value in [0, 1), got {tc.ema}")
    return {"seed": seed, "sizes": dict(sizes), "data": data, "train": tc}


def load_config(path) -> dict:
    p = Path(path)
    return parse_config(load_toml(p, "training config"), str(p))


def conditions(seed: int, data: DataConfig) -> dict:
    """The train / val / test imaging conditions of a run."""
    n = {"train": data.n_train_params, "val": data.n_val_params, "test": data.n_test_params}
    return {s: sample_params(np.random.default_rng(np.random.SeedSequence([seed, k])), s, n=n[s]) if n[s] else []
            for s, k in SPLIT_SEEDS.items()}


def _pool(seed, j, params, data):
    return make_examples(params, data.frames_per_params, data.size, data.density,
                         np.random.default_rng(np.random.SeedSequence([seed, 7, j])))


def _val_batch(seed, params, data, T):
    """Fixed validation examples, times and noise (the same for every evaluation)."""
    ex = make_examples(params, data.val_frames, data.size, data.density,
                       np.random.default_rng(np.random.SeedSequence([seed, 8])))
    rng = np.random.default_rng(np.random.SeedSequence([seed, 9]))
    n = len(ex["images"])
    t = torch.as_tensor(rng.integers(0, T, n))  # before the noise: the shipped model's log drew them in this order
    noise = torch.as_tensor(rng.standard_normal((n, 2) + tuple(data.size)), dtype=torch.float32)
    return {k: torch.as_tensor(v) for k, v in ex.items() if k != "params_index"} | {"t": t, "noise": noise}


def _score(model, params, data, seed, n_frames, steps):
    rows = evaluate_conditions(model, params, n_frames=n_frames, shape=data.size, density=data.density, seed=seed,
                               steps=steps)
    return rows, {k: float(np.mean([r[k] for r in rows])) for k in ("ssim", "ssim_iq", "psnr")}


def train(cfg: dict, out, *, resume: bool = False, command: str | None = None, config_text: str = "",
          log=print) -> Path:
    """Train PgD into the directory ``out`` (see the module docstring)."""
    tc, data, seed = cfg["train"], cfg["data"], cfg["seed"]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(tc.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    if data.n_train_params < 1 or data.n_val_params < 1:
        raise ValueError("[data]: n_train_params and n_val_params must be >= 1")
    split = conditions(seed, data)
    torch.manual_seed(seed)
    model = build(cfg["sizes"])
    opt = torch.optim.Adam(model.parameters(), tc.lr)
    ema = {k: v.detach().clone() for k, v in model.state_dict().items()} if tc.ema else None
    abar = cosine_alphas(model.cfg.timesteps)
    val = _val_batch(seed, split["val"], data, model.cfg.timesteps)
    step, best, best_state, t_used = 0, -np.inf, None, 0.0
    ck = out / "checkpoint.pt"
    if resume:
        state = load_checkpoint(ck, "cpu")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        ema = state.get("ema") or ema
        step, best, best_state, t_used = state["step"], state["best"], state["best_state"], state["wall"]
        log(f"resumed at step {step}")
    elif (out / "log.jsonl").exists():
        (out / "log.jsonl").unlink()
    log(f"pgd: {n_parameters(model)} parameters; {len(split['train'])} train / {len(split['val'])} val / "
        f"{len(split['test'])} test conditions; {data.size[0]}x{data.size[1]} px")
    model.train()
    t0 = time.time() - t_used
    pool, pool_id, run_loss, n_loss = None, -1, 0.0, 0
    horizon = tc.decay_steps or tc.steps
    while step < tc.steps:
        if step // data.pool_steps != pool_id:
            pool_id = step // data.pool_steps
            pool = {k: torch.as_tensor(v) for k, v in _pool(seed, pool_id, split["train"], data).items()}
        rng = np.random.default_rng(np.random.SeedSequence([seed, step]))
        torch.manual_seed(int(rng.integers(2 ** 62)))
        idx = torch.as_tensor(rng.integers(0, len(pool["images"]), tc.batch))
        t = torch.as_tensor(rng.integers(0, model.cfg.timesteps, tc.batch))
        noise = torch.as_tensor(rng.standard_normal((tc.batch, 2) + tuple(data.size)), dtype=torch.float32)
        for g in opt.param_groups:
            g["lr"] = tc.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, step / horizon))))
        loss = diffusion_loss(model, pool["images"][idx], pool["maps"][idx], pool["cond"][idx], t, noise, abar)
        opt.zero_grad()
        loss.backward()
        opt.step()
        run_loss, n_loss = run_loss + loss.item(), n_loss + 1
        if ema is not None:
            ema_update(ema, model, step, tc.ema)
        step += 1
        if step % tc.log_every == 0 and step % tc.eval_every:
            log(f"step {step}/{tc.steps} loss {run_loss / n_loss:.5f} ({time.time() - t0:.0f} s)")
        if step % tc.eval_every == 0 or step == tc.steps:
            live = {k: v.clone() for k, v in model.state_dict().items()}
            if ema is not None:
                model.load_state_dict(ema)
            model.eval()
            with torch.no_grad():
                vloss = diffusion_loss(model, val["images"], val["maps"], val["cond"], val["t"], val["noise"],
                                       abar).item()
            _, score = _score(model, split["val"], data, seed + 1, data.val_frames, tc.val_steps)
            if score["ssim"] > best:
                best, best_state = score["ssim"], {k: v.clone() for k, v in model.state_dict().items()}
            model.load_state_dict(live)
            model.train()
            rec = {"step": step, "wall_s": round(time.time() - t0, 1), "loss": run_loss / max(n_loss, 1),
                   "val_loss": vloss, "val": score}
            run_loss, n_loss = 0.0, 0
            with open(out / "log.jsonl", "a") as fh:
                fh.write(json.dumps(rec) + "\n")
            log(f"epoch {math.ceil(step / tc.eval_every)} ({step}/{tc.steps} steps): val loss {vloss:.5f} ssim "
                f"{score['ssim']:.4f} psnr {score['psnr']:.2f} dB ({rec['wall_s']:.0f} s)")
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "ema": ema, "step": step,
                        "best": best, "best_state": best_state, "wall": time.time() - t0}, ck)
    model.load_state_dict(best_state)
    model.eval()
    return finish(model, cfg, split, out, best=best, wall=time.time() - t0, steps_done=step, command=command,
                  config_text=config_text, log=log)


def finish(model, cfg, split, out, *, best: float, wall: float, steps_done: int, command, config_text: str,
           log=print) -> Path:
    """Score the test conditions and write the model directory ``out`` (``steps_done``: steps trained)."""
    tc, data, seed = cfg["train"], cfg["data"], cfg["seed"]
    rows, test = _score(model, split["test"], data, seed + 2, data.test_frames, tc.sample_steps) \
        if split["test"] else ([], {})
    metrics = {"best_val_ssim": best, "test": test, "test_conditions": rows, "n_parameters": n_parameters(model),
               "steps": steps_done, "wall_s": round(wall, 1), "command": command, "pyulm": __version__,
               "torch": torch.__version__, "python": platform.python_version(),
               "train_config": {"seed": seed, "data": asdict(data), "train": asdict(tc), "network": cfg["sizes"]}}
    readme = (f"# PgD model\n\nTrained by `{command or 'pyulm.nn.pgd.train.train'}` in {wall:.0f} s ({steps_done} steps, "
              f"{len(split['train'])} train conditions). Validation SSIM {best:.4f}; held-out test conditions "
              f"({len(split['test'])}, {data.test_frames} frames each, {tc.sample_steps} DDIM steps): "
              + ", ".join(f"{k} {v:.4f}" for k, v in test.items()) + ".\nSee docs/pgd.md.\n")
    files = {"metrics.json": json.dumps(metrics, indent=2) + "\n", "command.txt": (command or "") + "\n",
             "README.md": readme}
    if config_text:
        files["train.toml"] = config_text
    model_dir.write(out, model, size=data.size, inference={"steps": tc.sample_steps, "seed": 0}, extra_files=files)
    log(f"done: {out} (val ssim {best:.4f}, test {json.dumps({k: round(v, 4) for k, v in test.items()})})")
    return out
