"""Training MBL-Net and 3DML-ResNet on pyulm.sim data generated on the fly.

Driven by a TOML file (see ``pyulm/nn/weights/<name>/train.toml`` for the
configs of the shipped models)::

    seed = 0
    [model]            # MBLNetConfig / DML3Config fields
    width = 12
    [data]             # DataConfig fields (simulation ranges)
    fwhm = [2.0, 6.0]
    [train]            # TrainConfig fields
    epochs = 10

The output directory receives ``checkpoint.pt`` (after every epoch; ``resume``
continues from it exactly), ``log.jsonl`` (validation metrics per epoch) and,
at the end, the model directory files of the epoch with the best validation
F1 (``weights.pt``, ``config.json``, ``SHA256SUMS``, ``train.toml``,
``metrics.json``, ``README.md``).
"""
from __future__ import annotations

import json
import math
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from .._optional import load_toml
from .._version import __version__
from . import data as D
from .decode import decode_3dml, decode_mblnet
from ..metrics.detection import pooled_scores
from .losses import dml3_loss, mblnet_loss
from .models import build_model, grow_state, model_config
from .weights_io import save_model, sha256, write_checksums
from .configcheck import check_fields, top_level
from .inference import autocast
from .options import check_precision


@dataclass(frozen=True)
class TrainConfig:
    """epochs x steps_per_epoch optimiser steps; each step sees ``sims_per_step``
    simulations of ``frames_per_sim`` frames (3DML: ``frames_per_sim`` must be
    the clip length). Validation on ``val_sims`` fixed held-out simulations."""

    epochs: int = 10
    steps_per_epoch: int = 200
    sims_per_step: int = 4
    frames_per_sim: int = 4
    lr: float = 2e-3
    weight_decay: float = 0.0
    val_sims: int = 12
    val_frames: int = 8
    match_threshold: float = 1.0
    threads: int = 2
    device: str = "auto"
    # loss weights
    bce_weight: float = 1.0
    gmm_weight: float = 1.0
    blur_weight: float = 1.0
    offset_weight: float = 1.0
    mbl_offset_weight: float = 0.0
    count_weight: float = 0.1
    blur_sigma: float = 1.0
    threshold: float = 0.5
    # fine-tuning: start from the weights of this model directory (or weights.pt file); "" = random init
    init: str = ""
    # arithmetic of the forward pass: "fp32", or "bf16" (torch.autocast bfloat16; losses, gradients and
    # weights stay float32): ~2x faster on CPUs with AMX / AVX-512 BF16
    precision: str = "fp32"

    @classmethod
    def from_dict(cls, d, where="[train]"):
        return cls(**check_fields(cls, d, where, zero_ok=("weight_decay",),
                                  special={"precision": lambda v, name: check_precision(v, name[:-len("precision")])}))


def load_config(path) -> dict:
    """Read and check a training TOML file -> {"seed", "model", "data", "train"}."""
    p = Path(path)
    raw = load_toml(p, "training config")
    return parse_config(raw, str(p))


def parse_config(raw: dict, where: str = "config") -> dict:
    seed = top_level(raw, where, ("seed", "architecture"), ("model", "data", "train"))
    return {"seed": seed, "architecture": raw.get("architecture"), "model": dict(raw.get("model", {})),
            "data": D.DataConfig.from_dict(raw.get("data", {}), f"{where} [data]"),
            "train": TrainConfig.from_dict(raw.get("train", {}), f"{where} [train]")}


def _device(name: str):
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _forward_loss(arch, model, x, t, tc: TrainConfig, fps: int):
    if arch == "mblnet":
        with autocast(tc.precision, x.device):
            out = model(x)
        out = out.float()
        return mblnet_loss(out, t, bce_weight=tc.bce_weight, gmm_weight=tc.gmm_weight,
                           offset_weight=tc.mbl_offset_weight)
    B = x.shape[0] // fps
    clips = x.reshape(B, fps, 1, *x.shape[-2:]).permute(0, 2, 1, 3, 4)
    with autocast(tc.precision, x.device):
        maps, counts = model(clips)
    maps, counts = maps.float(), counts.float()
    return dml3_loss(maps, counts, t, bce_weight=tc.bce_weight, blur_weight=tc.blur_weight,
                     offset_weight=tc.offset_weight, count_weight=tc.count_weight, blur_sigma=tc.blur_sigma)


def predict_sim(arch, model, iq, dev, *, threshold=0.5, clip=None):
    """Eval-mode prediction on one simulation's IQ (z, x, t) -> column dict (no model fusing)."""
    x, scale = D.normalize_np(iq)
    x = torch.from_numpy(x).unsqueeze(1).to(dev)
    with torch.no_grad():
        if arch == "mblnet":
            return decode_mblnet(model(x), torch.from_numpy(scale).to(dev), threshold=threshold)
        nt = x.shape[0]
        cols = []
        for s in range(0, nt, clip):
            idx = [min(s + k, nt - 1) for k in range(clip)]
            maps, counts = model(x[idx].reshape(1, clip, 1, *x.shape[-2:]).permute(0, 2, 1, 3, 4))
            n = min(clip, nt - s)
            c = decode_3dml(maps[0][:, :n].permute(1, 0, 2, 3), counts[0][:n], frame_offset=s)
            cols.append(c)
        return {k: np.concatenate([c[k] for c in cols]) for k in cols[0]}


def evaluate(arch, model, dcfg: D.DataConfig, seed: int, namespace: int, n_sims: int, n_frames: int, dev,
             *, threshold=0.5, match_threshold=1.0, clip=None) -> dict:
    """Precision/recall/F1/errors on ``n_sims`` fixed simulations of a seed namespace."""
    was = model.training
    model.eval()

    def sets():
        for i in range(n_sims):
            iq, gt = D.draw(dcfg, n_frames, D.seed_for(seed, namespace, i), namespace)
            c = predict_sim(arch, model, iq, dev, threshold=threshold, clip=clip)
            yield gt, np.column_stack([c["z"], c["x"], c["frame"]])

    sc = pooled_scores(sets(), match_threshold)
    model.train(was)
    # an undefined ratio (nothing predicted / no bubble) scores 0 so that checkpoints stay comparable
    zero_nan = {k: 0.0 if math.isnan(sc[k]) else sc[k] for k in ("precision", "recall", "f1")}
    return {**zero_nan, "mean_error": sc["mean_error"], "n_gt": sc["n_gt"]}


THRESHOLDS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7)


def calibrate_threshold(model, dcfg: D.DataConfig, seed: int, n_sims: int, n_frames: int, dev, *,
                        match_threshold=1.0, thresholds=THRESHOLDS) -> dict:
    """MBL-Net detection threshold maximising F1 on the validation simulations
    (never the test ones). Returns {"threshold", "f1", "table": {t: f1}}."""
    was = model.training
    model.eval()
    sets = {t: [] for t in thresholds}  # (gt, candidates) of every simulation, per threshold
    for i in range(n_sims):
        iq, gt = D.draw(dcfg, n_frames, D.seed_for(seed, D.VALIDATION, i), D.VALIDATION)
        x, scale = D.normalize_np(iq)
        with torch.no_grad():
            out = model(torch.from_numpy(x).unsqueeze(1).to(dev))
        for t in thresholds:
            c = decode_mblnet(out, torch.from_numpy(scale).to(dev), threshold=t)
            sets[t].append((gt, np.column_stack([c["z"], c["x"], c["frame"]])))
    model.train(was)
    f1 = {t: pooled_scores(s, match_threshold)["f1"] for t, s in sets.items()}
    table = {t: 0.0 if math.isnan(v) else v for t, v in f1.items()}
    best = max(table, key=lambda t: (table[t], -abs(t - 0.5)))
    return {"threshold": best, "f1": table[best], "table": {str(k): round(v, 4) for k, v in table.items()}}


def calibrate_model_dir(directory, *, log=print) -> dict:
    """Calibrate (or re-calibrate) the decode threshold of a trained MBL-Net
    directory on its validation simulations (from its ``train.toml``), write it
    into ``config.json`` and re-score the held-out test set in ``metrics.json``."""
    from .weights_io import load_model

    d = Path(directory)
    cfg = load_config(d / "train.toml")
    tc = cfg["train"]
    model = load_model("mblnet", d, "cpu")
    cal = calibrate_threshold(model, cfg["data"], cfg["seed"], tc.val_sims, tc.val_frames, torch.device("cpu"),
                              match_threshold=tc.match_threshold)
    conf = json.loads((d / "config.json").read_text())
    conf["decode"] = {**conf.get("decode", {}), "threshold": cal["threshold"]}  # keep the other decode settings
    (d / "config.json").write_text(json.dumps(conf, indent=2) + "\n")
    test = evaluate("mblnet", model, cfg["data"], cfg["seed"], D.TEST, tc.val_sims, tc.val_frames,
                    torch.device("cpu"), threshold=cal["threshold"], match_threshold=tc.match_threshold)
    metrics = json.loads((d / "metrics.json").read_text())
    metrics["decode_threshold_calibration"] = {
        **cal, "on": "validation simulations",
        "command": f"python -c \"from pyulm.nn.train import calibrate_model_dir; calibrate_model_dir('{d}')\""}
    metrics["held_out_test"] = test
    (d / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    (d / "README.md").write_text(_readme("mblnet", metrics, sha256(d / "weights.pt")))
    write_checksums(d)  # config.json, metrics.json and README.md changed
    log(f"threshold {cal['threshold']} (validation F1 {cal['f1']:.3f}); held-out test F1 {test['f1']:.3f} "
        f"err {test['mean_error']:.3f} px")
    return metrics


def train(architecture: str, config: dict, out, *, resume: bool = False, command: str | None = None,
          log=print) -> Path:
    """Train ``architecture`` ("mblnet" or "3dml") with a parsed config (see
    :func:`load_config`) into the directory ``out``; returns ``out``."""
    if architecture not in ("mblnet", "3dml"):
        raise ValueError(f"architecture: expected 'mblnet' or '3dml', got {architecture!r}")
    if config.get("architecture") not in (None, architecture):
        raise ValueError(f"the config is for {config['architecture']!r}, not {architecture!r}")
    seed, dcfg, tc = config["seed"], config["data"], config["train"]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(tc.threads)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    dev = _device(tc.device)
    model = build_model(architecture, config["model"]).to(dev)
    clip = model.config.clip if architecture == "3dml" else None
    if architecture == "3dml" and tc.frames_per_sim != clip:
        raise ValueError(f"[train].frames_per_sim ({tc.frames_per_sim}) must equal [model].clip ({clip}) for 3dml")
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    total_steps = tc.epochs * tc.steps_per_epoch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=tc.lr, total_steps=total_steps, pct_start=0.1)
    ckpt_path = out / "checkpoint.pt"
    start_epoch, history, best, wall0 = 0, [], None, 0.0
    if resume:
        if not ckpt_path.is_file():
            raise FileNotFoundError(f"resume: no checkpoint {ckpt_path}")
        ck = torch.load(ckpt_path, map_location=dev, weights_only=True)
        if ck.get("architecture") != architecture or ck.get("model_config") != model_config(model):
            raise ValueError(f"resume: {ckpt_path} holds a different model ({ck.get('architecture')}, "
                             f"{ck.get('model_config')}) than the config asks for")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        start_epoch, history, wall0 = ck["epoch"], json.loads(ck["history"]), ck["wall"]
        best = json.loads(ck["best"]) if ck.get("best") else None
        torch.manual_seed(seed + 7919 * start_epoch)
        log(f"resumed from {ckpt_path} at epoch {start_epoch}")
    elif tc.init:
        p = Path(tc.init)
        p = p / "weights.pt" if p.is_dir() else p
        if not p.is_file():
            raise FileNotFoundError(f"[train].init: no weights file {p}")
        state = torch.load(p, map_location=dev, weights_only=True)
        try:
            model.load_state_dict(state)
            log(f"initialised from {p}")
        except RuntimeError as exc:
            try:  # a deeper MBL-Net bottleneck than the init's: grow it, the new blocks as identities
                grown = grow_state(model, state)
            except ValueError:
                raise ValueError(f"[train].init: {p} does not fit the [model] of the config: {exc}") from None
            log(f"initialised from {p}, grown by {len(grown)} tensors (new bottleneck blocks start as identities)")
    t0 = time.perf_counter() - wall0
    for epoch in range(start_epoch, tc.epochs):
        model.train()
        acc: dict = {}
        te = time.perf_counter()
        for s in range(tc.steps_per_epoch):
            step = epoch * tc.steps_per_epoch + s
            x, t = D.frame_batch(dcfg, tc.frames_per_sim, tc.sims_per_step, D.seed_for(seed, D.TRAIN, step))
            loss, parts = _forward_loss(architecture, model, x.to(dev), t.to(dev), tc, tc.frames_per_sim)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"training diverged at step {step} (loss {float(loss)}); lower [train].lr")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            opt.step()
            sched.step()
            for k, v in {"loss": float(loss.detach()), **parts}.items():
                acc[k] = acc.get(k, 0.0) + v / tc.steps_per_epoch
            if (s + 1) % max(1, tc.steps_per_epoch // 4) == 0:
                log(f"epoch {epoch + 1}/{tc.epochs} step {s + 1}/{tc.steps_per_epoch} loss {float(loss.detach()):.4g} "
                    f"({time.perf_counter() - te:.0f} s)")
        val = evaluate(architecture, model, dcfg, seed, D.VALIDATION, tc.val_sims, tc.val_frames, dev,
                       threshold=tc.threshold, match_threshold=tc.match_threshold, clip=clip)
        rec = {"epoch": epoch + 1, "train": acc, "val": val, "lr": sched.get_last_lr()[0],
               "wall_s": round(time.perf_counter() - t0, 1)}
        history.append(rec)
        with open(out / "log.jsonl", "a") as f:
            f.write(json.dumps(rec) + "\n")
        log(f"epoch {epoch + 1}: train loss {acc['loss']:.4g} | val P {val['precision']:.3f} R {val['recall']:.3f} "
            f"F1 {val['f1']:.3f} err {val['mean_error']:.3f} px | {rec['wall_s']:.0f} s")
        if best is None or val["f1"] > best["f1"]:
            best = {"epoch": epoch + 1, **val}
            torch.save({k: v.detach().cpu().clone() for k, v in model.state_dict().items()}, out / "best_state.pt")
        torch.save({"architecture": architecture, "model_config": model_config(model), "model": model.state_dict(),
                    "optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "epoch": epoch + 1,
                    "history": json.dumps(history), "best": json.dumps(best), "wall": time.perf_counter() - t0},
                   ckpt_path)
    wall = time.perf_counter() - t0
    model.load_state_dict(torch.load(out / "best_state.pt", map_location=dev, weights_only=True))
    threshold, cal = tc.threshold, None
    if architecture == "mblnet":
        cal = calibrate_threshold(model, dcfg, seed, tc.val_sims, tc.val_frames, dev, match_threshold=tc.match_threshold)
        threshold = cal["threshold"]
    test = evaluate(architecture, model, dcfg, seed, D.TEST, tc.val_sims, tc.val_frames, dev,
                    threshold=threshold, match_threshold=tc.match_threshold, clip=clip)
    raw_cfg = {"seed": seed, "architecture": architecture, "model": model_config(model), "data": asdict(dcfg),
               "train": asdict(tc)}
    metrics = {
        "architecture": architecture, "best_epoch": best["epoch"], "validation": best, "held_out_test": test,
        "match_rule": f"Hungarian per frame, distance <= {tc.match_threshold} px",
        "held_out": f"{tc.val_sims} simulations x {tc.val_frames} frames of {dcfg.patch}x{dcfg.patch} px drawn from "
                    f"[data] with seeds SeedSequence([seed, {D.TEST}, i]) (training uses namespace {D.TRAIN})",
        "training_command": command or f"pyulm train {architecture} --config train.toml --out DIR",
        "wall_time_s": round(wall, 1), "steps": total_steps, "device": str(dev), "threads": tc.threads,
        "pyulm_version": __version__, "torch_version": torch.__version__, "python": platform.python_version(),
        "n_parameters": sum(p.numel() for p in model.parameters()),
    }
    if cal:
        metrics["decode_threshold_calibration"] = {**cal, "on": "validation simulations"}
    model.eval()
    save_model(model, out, {"train.toml": _to_toml(raw_cfg), "metrics.json": json.dumps(metrics, indent=2) + "\n"},
               decode={"threshold": threshold} if cal else None)
    (out / "README.md").write_text(_readme(architecture, metrics, sha256(out / "weights.pt")))
    write_checksums(out)  # the checksums cover every file, the README included
    log(f"done in {wall:.0f} s; best epoch {best['epoch']}; held-out test F1 {test['f1']:.3f} "
        f"err {test['mean_error']:.3f} px; model in {out}")
    return out


def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(a) for a in v) + "]"
    if isinstance(v, str):
        return json.dumps(v)
    return repr(v)


def _to_toml(cfg: dict) -> str:
    lines = [f"seed = {cfg['seed']}", f"architecture = \"{cfg['architecture']}\"", ""]
    for sec in ("model", "data", "train"):
        lines.append(f"[{sec}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in cfg[sec].items()]
        lines.append("")
    return "\n".join(lines)


def _readme(arch, m, digest):
    t = m["held_out_test"]
    return (f"# pyulm {arch} model\n\nTrained by `{m['training_command']}` in {m['wall_time_s']:.0f} s on "
            f"{m['device']} ({m['threads']} threads), torch {m['torch_version']}, pyulm {m['pyulm_version']}; "
            f"{m['steps']} steps, best epoch {m['best_epoch']}, {m['n_parameters']} parameters.\n\n"
            f"Held-out test ({m['held_out']}; {m['match_rule']}): precision {t['precision']:.3f}, recall "
            f"{t['recall']:.3f}, F1 {t['f1']:.3f}, mean error {t['mean_error']:.3f} px"
            + (f" (decode threshold {m['decode_threshold_calibration']['threshold']}, chosen on the validation "
               f"simulations)" if "decode_threshold_calibration" in m else "") + ".\n\n"
            f"sha256(weights.pt) = {digest}\n\nFiles: weights.pt (state dict, torch.load(weights_only=True)), "
            f"config.json, train.toml (training config), metrics.json, SHA256SUMS.\n")


def main_entry(argv=None):  # pragma: no cover - convenience for `python -m pyulm.nn.train`
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("architecture")
    ap.add_argument("--config", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--resume", action="store_true")
    a = ap.parse_args(argv)
    train(a.architecture, load_config(a.config), a.out, resume=a.resume, command=" ".join(sys.argv))


if __name__ == "__main__":  # pragma: no cover
    main_entry()
