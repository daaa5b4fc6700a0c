"""Training Deep-stULM on vessel-flow simulations generated on the fly (imports torch).

``pyulm train deepstulm --config FILE --out DIR [--resume]`` (or
:func:`train`). Every window of step ``s`` comes from the seed
``SeedSequence([seed, 0, s, k])``; validation and held-out test windows from
namespaces 1 and 2, so a run is reproducible and a resumed run sees exactly the
data it would have seen. ``DIR`` receives ``checkpoint.pt`` after every epoch,
``log.jsonl`` (loss, validation Dice, precision, recall per epoch) and at the
end a model directory (see :mod:`.modeldir`).
"""
from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from ..._version import __version__
from ..weights_io import sha256, write_checksums
from .config import TEST, TRAIN, VALIDATION, to_toml
from .data import dilate, training_window
from .model import DeepSTULM, dice_loss, n_parameters
from .modeldir import save_model_dir

#: Concentrations (bubbles per mm^2) of the held-out test windows: the paper's 1/5/10/20 per mm^3
#: through a 1 mm slice (see docs/deepstulm.md).
TEST_CONCENTRATIONS = (1.0, 5.0, 10.0, 20.0)
THRESHOLDS = tuple(np.round(np.arange(0.2, 0.81, 0.05), 2))


def _rng(seed, namespace, *index):
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(namespace), *map(int, index)]))


def window_set(cfg, namespace, n, concentrations=None):
    """``n`` fixed (input, target) windows of a seed namespace, as float32 / bool arrays."""
    psf = cfg["data"].psf()
    xs, ts = [], []
    for i in range(n):
        c = None if concentrations is None else concentrations[i % len(concentrations)]
        x, t = training_window(cfg["data"], cfg["model"], _rng(cfg["seed"], namespace, i), concentration=c, psf=psf)
        xs.append(x)
        ts.append(t)
    return np.stack(xs), np.stack(ts)


def predict(model, x, dev, batch=8):
    """Sigmoid outputs of ``model`` on windows ``x`` (N, 2, Nt, S, S) -> (N, rS, rS) float32."""
    was = model.training
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out.append(torch.sigmoid(model(torch.from_numpy(x[i:i + batch]).to(dev))).cpu().numpy())
    model.train(was)
    return np.concatenate(out)


def scores(pred, target) -> dict:
    """Pooled precision, recall, Dice of binary maps."""
    tp = int(np.sum(pred & target))
    npred, ngt = int(pred.sum()), int(target.sum())
    return {"precision": tp / npred if npred else 0.0, "recall": tp / ngt if ngt else 0.0,
            "dice": 2 * tp / (npred + ngt) if npred + ngt else 1.0}


def train(config: dict, out, *, resume: bool = False, command: str | None = None, log=print) -> Path:
    """Train Deep-stULM with a parsed config (:func:`.config.load_config`) into ``out``."""
    seed, mc, dc, tc = config["seed"], config["model"], config["data"], config["train"]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(tc.threads)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    dev = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if tc.device == "auto" else tc.device)
    model = DeepSTULM(mc).to(dev)
    psf = dc.psf()
    E1, E2 = tc.phase1_epochs, tc.phase2_epochs

    def optimiser(phase):
        lr, ms = (tc.phase1_lr, tc.phase1_milestones) if phase == 1 else (tc.phase2_lr, tc.phase2_milestones)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        return opt, torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(ms), gamma=tc.gamma)

    ckpt = out / "checkpoint.pt"
    g0, history, best, wall0, cur = 0, [], None, 0.0, 1 if E1 else 2
    opt, sched = optimiser(cur)
    if resume:
        if not ckpt.is_file():
            raise FileNotFoundError(f"resume: no checkpoint {ckpt}")
        ck = torch.load(ckpt, map_location=dev, weights_only=True)
        if ck.get("model_config") != json.dumps(mc.__dict__, sort_keys=True):
            raise ValueError(f"resume: {ckpt} holds a model of other sizes ({ck.get('model_config')}) than the config")
        model.load_state_dict(ck["model"])
        cur = ck["phase"]
        opt, sched = optimiser(cur)
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        g0, history, wall0 = ck["epoch"], json.loads(ck["history"]), ck["wall"]
        best = json.loads(ck["best"]) if ck.get("best") else None
        torch.manual_seed(seed + 7919 * g0)
        log(f"resumed from {ckpt} at epoch {g0}")
    log(f"deepstulm: {n_parameters(model)} parameters, windows {mc.n_frames} frames x {mc.size}x{mc.size} px, "
        f"r = {mc.r}; phase 1 {E1} + phase 2 {E2} epochs of {tc.steps_per_epoch} steps on {dev}")
    vx, vt = window_set(config, VALIDATION, tc.val_windows)
    t0 = time.perf_counter() - wall0
    for g in range(g0, E1 + E2):
        phase = 1 if g < E1 else 2
        if phase != cur:  # phase 2 starts from the phase-1 weights with a fresh optimiser
            cur = phase
            opt, sched = optimiser(phase)
        model.train()
        te, acc = time.perf_counter(), 0.0
        for s in range(tc.steps_per_epoch):
            step = g * tc.steps_per_epoch + s
            pairs = [training_window(dc, mc, _rng(seed, TRAIN, step, k), psf=psf) for k in range(tc.batch_size)]
            x = torch.from_numpy(np.stack([p[0] for p in pairs])).to(dev)
            tg = np.stack([dilate(p[1], tc.dilation_radius) if phase == 1 else p[1] for p in pairs])
            loss = dice_loss(model(x), torch.from_numpy(tg).to(dev), bce_weight=tc.bce_weight)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"training diverged at step {step} (loss {float(loss)}); lower the learning rate")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            acc += float(loss.detach()) / tc.steps_per_epoch
            if (s + 1) % max(1, tc.steps_per_epoch // 4) == 0:
                log(f"epoch {g + 1}/{E1 + E2} (phase {phase}) step {s + 1}/{tc.steps_per_epoch} loss "
                    f"{float(loss.detach()):.4f} ({time.perf_counter() - te:.0f} s)")
        sched.step()
        val = scores(predict(model, vx, dev) > tc.threshold, vt)
        rec = {"epoch": g + 1, "phase": phase, "train_loss": acc, "val": val, "lr": sched.get_last_lr()[0],
               "wall_s": round(time.perf_counter() - t0, 1)}
        history.append(rec)
        with open(out / "log.jsonl", "a") as f:
            f.write(json.dumps(rec) + "\n")
        log(f"epoch {g + 1}: phase {phase} train loss {acc:.4f} | val Dice {val['dice']:.3f} P {val['precision']:.3f} "
            f"R {val['recall']:.3f} | {rec['wall_s']:.0f} s")
        if phase == 2 or E2 == 0:
            if best is None or best.get("phase") != phase or val["dice"] > best["dice"]:
                best = {"epoch": g + 1, "phase": phase, **val}
                torch.save({k: v.detach().cpu().clone() for k, v in model.state_dict().items()}, out / "best_state.pt")
        torch.save({"model_config": json.dumps(mc.__dict__, sort_keys=True), "model": model.state_dict(),
                    "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "phase": phase, "epoch": g + 1,
                    "history": json.dumps(history), "best": json.dumps(best), "wall": time.perf_counter() - t0}, ckpt)
    wall = time.perf_counter() - t0
    model.load_state_dict(torch.load(out / "best_state.pt", map_location=dev, weights_only=True))
    return _finish(model, config, out, vx, vt, best, history, wall, command, dev, log)


def _finish(model, config, out, vx, vt, best, history, wall, command, dev, log):
    """Threshold on the validation windows, held-out test scores, model directory."""
    seed, mc, dc, tc = config["seed"], config["model"], config["data"], config["train"]
    pv = predict(model, vx, dev)
    table = {float(t): scores(pv > t, vt)["dice"] for t in THRESHOLDS}
    thr = max(table, key=lambda t: (round(table[t], 4), -abs(t - 0.5)))
    n = tc.test_windows
    tx, tt = window_set(config, TEST, n, TEST_CONCENTRATIONS)
    pt = predict(model, tx, dev) > thr
    per = {str(c): scores(pt[i::len(TEST_CONCENTRATIONS)], tt[i::len(TEST_CONCENTRATIONS)])
           for i, c in enumerate(TEST_CONCENTRATIONS)}
    metrics = {
        "architecture": "deepstulm", "best_epoch": best["epoch"], "validation": best,
        "threshold": {"value": thr, "chosen_on": "validation windows (max Dice)", "dice_by_threshold": table},
        "held_out_test": {"all": scores(pt, tt), "by_concentration_per_mm2": per,
                          "windows": f"{n} windows of {mc.n_frames} frames x {mc.size}x{mc.size} px, seeds "
                                     f"SeedSequence([seed, {TEST}, i]), concentrations {list(TEST_CONCENTRATIONS)} "
                                     f"bubbles/mm^2 in turn (training uses namespace {TRAIN})",
                          "scored": "pixels of the r-times finer grid, pooled over windows"},
        "training_command": command or "pyulm train deepstulm --config train.toml --out DIR",
        "wall_time_s": round(wall, 1), "steps": (tc.phase1_epochs + tc.phase2_epochs) * tc.steps_per_epoch,
        "device": str(dev), "threads": tc.threads, "pyulm_version": __version__, "torch_version": torch.__version__,
        "python": platform.python_version(), "n_parameters": n_parameters(model),
    }
    model.eval()
    save_model_dir(model, out, dc, threshold=thr, extra_files={
        "train.toml": to_toml(config), "metrics.json": json.dumps(metrics, indent=2) + "\n"})
    (out / "README.md").write_text(_readme(metrics, sha256(out / "weights.pt")))
    write_checksums(out)  # README.md is written last: the checksums cover it too
    log(f"done in {wall:.0f} s; best epoch {best['epoch']}; threshold {thr}; held-out test Dice "
        f"{metrics['held_out_test']['all']['dice']:.3f}; model in {out}")
    return out


def _readme(m, digest):
    t = m["held_out_test"]
    per = ", ".join(f"{c}/mm²: {v['dice']:.3f}" for c, v in t["by_concentration_per_mm2"].items())
    return (f"# pyulm deepstulm model\n\nTrained by `{m['training_command']}` in {m['wall_time_s']:.0f} s on "
            f"{m['device']} ({m['threads']} threads), torch {m['torch_version']}, pyulm {m['pyulm_version']}; "
            f"{m['steps']} steps, best epoch {m['best_epoch']}, {m['n_parameters']} parameters; decode threshold "
            f"{m['threshold']['value']} (chosen on the validation windows).\n\nHeld-out test ({t['windows']}; "
            f"{t['scored']}): precision {t['all']['precision']:.3f}, recall {t['all']['recall']:.3f}, Dice "
            f"{t['all']['dice']:.3f}; Dice by concentration {per}.\n\nsha256(weights.pt) = {digest}\n\n"
            f"Files: weights.pt (state dict, torch.load(weights_only=True)), config.json, train.toml, metrics.json, "
            f"log.jsonl, SHA256SUMS. See docs/deepstulm.md.\n")
