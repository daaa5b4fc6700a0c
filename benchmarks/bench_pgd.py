"""PgD benchmark (issue 18 item 4; docs/pgd.md): fidelity of PgD samples and their use for training MBL-Net.

(a) Fidelity: SSIM (envelope; and of the I/Q channels) and PSNR of PgD samples against the
    physics images of the same bubbles, on the TEST parameter sets of
    :func:`pyulm.nn.pgd.physics.sample_params` (cells no PgD training or validation used),
    tabled over centre frequency x F-number; and on the target probe.
(b) Usefulness, on one target probe (a TEST-cell condition): the same small MBL-Net trained on
    (i) pyulm.nn's Gaussian-PSF simulator (free motion, ``DataConfig`` defaults),
    (ii) PgD samples for the probe (a ``pyulm synth`` block, ``[data] source = "block"``),
    (iii) the physics simulator for the probe (same bubbles, same noise, same block layout),
    each scored on held-out physics acquisitions of the probe (thin vessels,
    :mod:`pyulm.nn.pgd.evaluation`): precision, recall, F1, mean error under the one matcher
    (:func:`pyulm.metrics.pooled_scores`, 1 px), and the FWHM across the vessels of the SR map
    against the number of frames used. Radial symmetry (no training) is shown for reference.

Every stage keeps its result in ``--work`` and a rerun continues (trainings resume from their
checkpoints). One thread, meant to run niced in the background::

    OMP_NUM_THREADS=1 nice -n 15 python benchmarks/bench_pgd.py --weights DIR --work RUNDIR \\
        --json docs/pgd_bench.json --figure docs/pgd_bench.png
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: The target probe: a 10 MHz linear array, 5 plane waves over 10 degrees, pixel 0.4 wavelength (a TEST cell).
TARGET = dict(center_frequency_mhz=10.0, fractional_bandwidth=0.7, n_cycles=1.0, pitch_mm=0.15, n_elements=128,
              f_number=1.0, n_angles=5, angle_span_deg=10.0, pixel_size_mm=0.0616, depth_mm=8.0)
#: MBL-Net and training loop shared by the three trainings (only [data] differs).
MODEL = {"width": 12, "n_res": 2, "head_width": 12, "space_to_depth": 2}
PATCH = 32
TRAIN_DENSITIES = (1.0, 3.0, 6.0)   # mean bubbles per 32 x 32 frame in the PgD / physics blocks
TRAIN_SNRS = (10.0, 20.0, 30.0)      # dB, crossed with the densities
EVAL_SNR, EVAL_DENSITY, EVAL_SHAPE = 20.0, 8.0, (64, 64)
TARGETS = {"ssim": 0.9, "f1_gap": 0.02}


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def target_params():
    from pyulm.nn.pgd.physics import PhysicsParams

    return PhysicsParams(**TARGET)


# -- (a) fidelity ------------------------------------------------------------------------

def fidelity_stage(args) -> dict:
    from pyulm.nn.pgd.fidelity import evaluate_conditions
    from pyulm.nn.pgd.physics import RANGES, sample_params
    from pyulm.nn.pgd.sample import load

    model, cfg = load(args.weights, "cpu")
    steps = int(cfg["inference"].get("steps", 20))
    conds = sample_params(args.seed, "test", n=args.conditions)
    kw = dict(n_frames=args.fid_frames, shape=(PATCH, PATCH), density=4.0, seed=args.seed, steps=steps)
    rows = evaluate_conditions(model, conds, **kw)
    target = evaluate_conditions(model, [target_params()], **kw)[0]
    lo, hi = RANGES["center_frequency_mhz"][:2]
    f_edges = np.exp(np.linspace(np.log(lo), np.log(hi), 5))
    fn_mid = math.sqrt(RANGES["f_number"][0] * RANGES["f_number"][1])
    table = []
    for i in range(4):
        for low_f in (True, False):
            sel = [r for r in rows if f_edges[i] <= r["center_frequency_mhz"] < f_edges[i + 1] + (i == 3) * 1e-9
                   and (r["f_number"] < fn_mid) == low_f]
            if sel:
                table.append({"center_frequency_mhz": [round(f_edges[i], 2), round(f_edges[i + 1], 2)],
                              "f_number": f"< {fn_mid:.2f}" if low_f else f">= {fn_mid:.2f}", "n": len(sel),
                              **{k: float(np.mean([r[k] for r in sel])) for k in ("ssim", "ssim_iq", "psnr")}})
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("ssim", "ssim_iq", "psnr")}
    return {"conditions": rows, "table": table, "mean": mean, "target_probe": target, "steps": steps,
            "frames_per_condition": args.fid_frames, "density": 4.0, "shape": [PATCH, PATCH]}


# -- (b) usefulness --------------------------------------------------------------------

def training_block(source: str, args, work: Path) -> Path:
    """The PgD or physics training block of the target probe: same bubbles and noise for both."""
    from pyulm.nn.pgd.block import concatenate, write_block
    from pyulm.nn.pgd.synthesis import synth

    path = work / f"train_{source}{args.tag if source == 'pgd' else ''}.mat"
    if path.is_file():
        return path
    per = max(1, args.train_frames // (len(TRAIN_DENSITIES) * len(TRAIN_SNRS)))
    parts = []
    for c, (dens, snr) in enumerate((d, s) for d in TRAIN_DENSITIES for s in TRAIN_SNRS):
        kw = {"weights": args.weights} if source == "pgd" else {}
        parts.append(synth(target_params(), per, shape=(PATCH, PATCH), density=dens, seed=1000 + c, source=source,
                           snr_db=snr, **kw))
    write_block(path, concatenate(parts))
    return path


def train_config(kind: str, blocks: dict, args, run: int = 0) -> dict:
    from pyulm.nn.data import DataConfig
    from pyulm.nn.train import TrainConfig

    data = {"patch": PATCH} if kind == "gaussian" else {"patch": PATCH, "source": "block",
                                                         "blocks": [str(blocks[kind])]}
    train = {"epochs": args.epochs, "steps_per_epoch": args.steps // args.epochs, "sims_per_step": 4,
             "frames_per_sim": 4, "lr": 2e-3, "val_sims": 16, "val_frames": 8, "threads": 1, "device": "cpu"}
    return {"seed": args.seed + run, "architecture": "mblnet", "model": dict(MODEL),
            "data": DataConfig.from_dict(data), "train": TrainConfig.from_dict(train)}


def train_stage(kind: str, blocks: dict, args, work: Path, run: int = 0) -> Path:
    """MBL-Net on one data source; ``run`` > 0: the same with training seed ``seed + run``."""
    from pyulm.nn.train import train

    out = work / (f"mblnet_{kind}{args.tag if kind == 'pgd' else ''}" + (f"_run{run}" if run else ""))
    if (out / "metrics.json").is_file():
        return out
    resume = (out / "checkpoint.pt").is_file()
    with open(out.with_suffix(".log"), "a") as log:
        train("mblnet", train_config(kind, blocks, args, run), out, resume=resume,
              command=f"benchmarks/bench_pgd.py (MBL-Net on {kind})", log=lambda m: print(m, file=log, flush=True))
    return out


def localize_all(model_dir: Path | None, iq) -> dict:
    """Localizations (z, x, frame) of every frame: an MBL-Net directory (its calibrated threshold), or radial."""
    if model_dir is None:
        import pyulm

        # PALA's 3 px: the probe's own FWHM (2.0 x 3.0 px) gives radial more false local maxima
        locs = pyulm.localize(np.abs(iq), "radial", fwhm=(3, 3), number_of_particles=30)
        return {"z": locs.z, "x": locs.x, "frame": locs.frame}
    import torch

    from pyulm.nn.train import predict_sim
    from pyulm.nn.weights_io import load_model

    torch.set_num_threads(1)
    model = load_model("mblnet", model_dir, "cpu")
    thr = json.loads((model_dir / "config.json").read_text()).get("decode", {}).get("threshold", 0.5)
    cols = []
    for s in range(0, iq.shape[2], 100):
        c = predict_sim("mblnet", model, iq[:, :, s:s + 100], torch.device("cpu"), threshold=thr)
        cols.append({"z": c["z"], "x": c["x"], "frame": c["frame"] + s})
    return {k: np.concatenate([c[k] for c in cols]) for k in ("z", "x", "frame")}


def usefulness_stage(models: dict, args) -> dict:
    from pyulm.metrics import pooled_scores
    from pyulm.nn.pgd.evaluation import resolution_curve, vessel_acquisition

    p = target_params()
    iq, gt, vessels = vessel_acquisition(p, args.eval_frames, shape=EVAL_SHAPE, density=EVAL_DENSITY,
                                         seed=args.seed + 77, snr_db=EVAL_SNR)
    counts = [n for n in (10, 20, 50, 100, 200, 500, 1000, 2000) if n <= args.eval_frames]
    um = p.pixel_size_mm * 1e3
    out = {"ground_truth": {"resolution_um": _um(resolution_curve(
        {"z": gt.z, "x": gt.x, "frame": gt.frame}, vessels, counts), um)}}
    for kind, dirs in {**models, "radial": [None]}.items():
        runs = []
        for d in dirs:
            locs = localize_all(d, iq)
            sc = pooled_scores([(gt, np.column_stack([locs["z"], locs["x"], locs["frame"]]))], 1.0)
            runs.append({**{k: float(sc[k]) for k in ("precision", "recall", "f1", "mean_error")},
                         "mean_error_um": float(sc["mean_error"]) * um, "n_gt": sc["n_gt"], "n_loc": sc["n_loc"],
                         "resolution_um": _um(resolution_curve(locs, vessels, counts), um)})
        # mean over the training seeds; each run kept (its spread shows what one seed is worth)
        out[kind] = {k: float(np.mean([r[k] for r in runs])) for k in runs[0] if k != "resolution_um"}
        out[kind]["resolution_um"] = {n: {a: _nanmean([r["resolution_um"][n][a] for r in runs])
                                          for a in ("lateral", "axial")} for n in runs[0]["resolution_um"]}
        out[kind]["runs"] = runs
    out["acquisition"] = {"frames": args.eval_frames, "shape": list(EVAL_SHAPE), "density": EVAL_DENSITY,
                          "snr_db": EVAL_SNR, "lumen_um": vessels[0].width * um, "pixel_um": um,
                          "vessels": [v.axis for v in vessels]}
    return out


def _nanmean(values) -> float:
    """Mean of the finite values (NaN: too few localizations near the vessels), NaN when none is."""
    v = np.asarray(values, float)
    return float(v[np.isfinite(v)].mean()) if np.isfinite(v).any() else float("nan")


def _um(curve: dict, um: float) -> dict:
    return {str(n): {k: v * um for k, v in r.items()} for n, r in curve.items()}


# -- report ------------------------------------------------------------------------------

def verdicts(res: dict) -> list[tuple[str, bool, str]]:
    out = []
    if "fidelity" in res:
        s = res["fidelity"]["mean"]["ssim"]
        out.append((f"mean SSIM on held-out parameter sets >= {TARGETS['ssim']}", s >= TARGETS["ssim"], f"{s:.3f}"))
    u = res.get("usefulness")
    if u:
        g, pg, ph = u["gaussian"], u["pgd"], u["physics"]
        out.append(("(ii) PgD beats (i) Gaussian in F1", pg["f1"] > g["f1"], f"{pg['f1']:.3f} vs {g['f1']:.3f}"))
        out.append(("(ii) PgD beats (i) Gaussian in mean error", pg["mean_error"] < g["mean_error"],
                    f"{pg['mean_error_um']:.1f} vs {g['mean_error_um']:.1f} um"))
        gap = ph["f1"] - pg["f1"]
        out.append((f"(ii) within {TARGETS['f1_gap']} F1 of (iii) physics", gap <= TARGETS["f1_gap"],
                    f"{pg['f1']:.3f} vs {ph['f1']:.3f} (gap {gap:+.3f})"))
    return out


def print_report(res: dict) -> None:
    f = res.get("fidelity")
    if f:
        print(f"(a) fidelity on {len(f['conditions'])} TEST parameter sets x {f['frames_per_condition']} frames "
              f"({f['steps']} DDIM steps)")
        print("| centre frequency (MHz) | F-number | n | SSIM | SSIM (I/Q) | PSNR (dB) |\n|---|---|---|---|---|---|")
        for r in f["table"]:
            a, b = r["center_frequency_mhz"]
            print(f"| {a:g}-{b:g} | {r['f_number']} | {r['n']} | {r['ssim']:.3f} | {r['ssim_iq']:.3f} | {r['psnr']:.1f} |")
        m, t = f["mean"], f["target_probe"]
        print(f"| all | | {len(f['conditions'])} | **{m['ssim']:.3f}** | {m['ssim_iq']:.3f} | {m['psnr']:.1f} |")
        print(f"| target probe | | 1 | {t['ssim']:.3f} | {t['ssim_iq']:.3f} | {t['psnr']:.1f} |\n")
    u = res.get("usefulness")
    if u:
        counts = list(u["ground_truth"]["resolution_um"])
        print(f"(b) usefulness on {u['acquisition']['frames']} held-out physics frames of the target probe "
              f"({u['acquisition']['lumen_um']:.0f} um lumens, pixel {u['acquisition']['pixel_um']:.1f} um); "
              f"MBL-Net: mean over training seeds (each seed's value in brackets)")
        print("| training data | precision | recall | F1 | mean error (um) | FWHM lateral / axial (um) at "
              + " / ".join(counts) + " frames |\n|---|---|---|---|---|---|")
        names = {"gaussian": "(i) Gaussian-PSF simulator", "pgd": "(ii) PgD samples", "physics": "(iii) physics simulator",
                 "radial": "radial symmetry (no training)", "ground_truth": "ground truth positions"}
        for k, name in names.items():
            r = u[k]
            res_txt = "; ".join(f"{r['resolution_um'][n]['lateral']:.0f} / {r['resolution_um'][n]['axial']:.0f}"
                                for n in counts)
            if k == "ground_truth":
                print(f"| {name} | | | | | {res_txt} |")
            else:
                per = ", ".join(f"{x['f1']:.3f}" for x in r.get("runs", [])) if len(r.get("runs", [])) > 1 else ""
                err = ", ".join(f"{x['mean_error_um']:.1f}" for x in r.get("runs", [])) if per else ""
                print(f"| {name} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f}{f' ({per})' if per else ''} "
                      f"| {r['mean_error_um']:.1f}{f' ({err})' if err else ''} | {res_txt} |")
        print()
    for what, ok, value in verdicts(res):
        print(f"{'PASS' if ok else 'FAIL'}  {what}: {value}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", type=Path, help="PgD model directory (default: the shipped model)")
    ap.add_argument("--work", type=Path, default=ROOT / "build" / "bench_pgd", help="stage results (resumable)")
    ap.add_argument("--seed", type=int, default=20261205)
    ap.add_argument("--conditions", type=int, default=48, help="TEST parameter sets for (a)")
    ap.add_argument("--fid-frames", type=int, default=8, help="frames per parameter set for (a)")
    ap.add_argument("--train-frames", type=int, default=2700, help="frames of the PgD / physics training blocks")
    ap.add_argument("--steps", type=int, default=1500, help="MBL-Net optimiser steps per training")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--runs", type=int, default=2, help="MBL-Net trainings per data source (seeds seed, seed+1, ...)")
    ap.add_argument("--eval-frames", type=int, default=1000, help="held-out physics frames for (b)")
    ap.add_argument("--stages", default="fidelity,usefulness")
    ap.add_argument("--kinds", default="gaussian,pgd,physics",
                    help="trainings to run (the evaluation runs when all three are there); gaussian and physics do "
                         "not depend on the PgD model and are kept across PgD models")
    ap.add_argument("--json", type=Path, help="write the results here (e.g. docs/pgd_bench.json)")
    ap.add_argument("--figure", type=Path, help="write the figure here (e.g. docs/pgd_bench.png)")
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    args.work.mkdir(parents=True, exist_ok=True)
    stages = set(args.stages.split(","))
    state_file = args.work / "results.json"
    res = json.loads(state_file.read_text()) if state_file.is_file() else {}
    from pyulm.nn.pgd.model_dir import SHIPPED
    from pyulm.nn.weights_io import sha256

    wdir = args.weights or SHIPPED
    digest = sha256(wdir / "weights.pt")
    args.tag = "_" + digest[:8]  # PgD blocks and the MBL-Net trained on them belong to one PgD model
    if res.get("weights_sha256") not in (None, digest):  # another PgD model: what depended on it goes
        for k in [k for k in res.get("cpu_seconds", {}) if k.startswith(("fidelity", "block_pgd", "train_pgd"))]:
            res["cpu_seconds"].pop(k)
        for k in [k for k in res if k.startswith(("fidelity", "block_pgd", "train_pgd", "usefulness"))]:
            res.pop(k)
    res.update({"weights": str(wdir), "weights_sha256": digest, "target_probe": TARGET,
                "command": "python benchmarks/bench_pgd.py " + " ".join(sys.argv[1:] if argv is None else argv)})
    cpu = res.setdefault("cpu_seconds", {})

    def stage(name, fn):
        t0 = cpu_seconds()
        value = fn()
        # a resumed stage adds to its earlier CPU time; the evaluation, rerun whole each time, does not
        cpu[name] = round((cpu.get(name, 0.0) if name != "usefulness" else 0.0) + cpu_seconds() - t0, 1)
        res[name] = value
        if state_file.is_file():  # another run of this script (other --kinds) may have added stages meanwhile
            other = json.loads(state_file.read_text())
            if other.get("weights_sha256") == res["weights_sha256"]:
                cpu.update({k: v for k, v in other.get("cpu_seconds", {}).items() if k not in cpu})
                res.update({k: v for k, v in other.items() if k not in res})
        state_file.write_text(json.dumps(res, indent=2, default=float))
        return value

    if "fidelity" in stages and "fidelity" not in res:
        stage("fidelity", lambda: fidelity_stage(args))
    kinds = [k for k in ("gaussian", "pgd", "physics") if k in args.kinds.split(",")]
    if "usefulness" in stages:  # blocks and trainings already there are reused; the evaluation is cheap
        blocks = {k: stage(f"block_{k}", lambda k=k: str(training_block(k, args, args.work)))
                  for k in ("pgd", "physics") if k in kinds}
        models = {k: [Path(stage(f"train_{k}" + (f"_run{r}" if r else ""),
                                 lambda k=k, r=r: str(train_stage(k, blocks, args, args.work, r))))
                      for r in range(args.runs)] for k in kinds}
        if len(models) == 3:
            stage("usefulness", lambda: usefulness_stage(models, args))
    res["targets"] = [{"target": w, "pass": ok, "value": v} for w, ok, v in verdicts(res)]
    res["cpu_seconds_total"] = round(sum(cpu.values()), 1)
    state_file.write_text(json.dumps(res, indent=2, default=float))
    print_report(res)
    print(f"CPU time: {res['cpu_seconds_total'] / 60:.1f} min ({', '.join(f'{k} {v:.0f} s' for k, v in cpu.items())})")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2, default=float) + "\n")
    if args.figure:
        from pgd_figure import make_figure

        make_figure(res, args.figure, args.weights)
    return 0


if __name__ == "__main__":
    sys.exit(main())
