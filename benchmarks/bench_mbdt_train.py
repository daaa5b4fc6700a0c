"""MB-DT training speed: steps/s of ``train_mbdt`` with ``[train] precision = "fp32"`` and ``"bf16"``.

The two precisions run alternately in one process (one thread each, rounds interleaved, so a
shared machine's load hits both alike) on ``ceus_acquisition(DENSITY, seed=0)``, the default
config otherwise; the time is the training loop's, from ``log.jsonl`` (the data preparation,
the label-free check and the model directory are not counted). Prints one row per round and
a summary table; ``--ema`` adds a ``bf16 + ema`` row (``[train] ema = 0.999``).

    OMP_NUM_THREADS=1 python benchmarks/bench_mbdt_train.py [--steps 200] [--rounds 3] [--density medium] [--ema]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import warnings


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--density", default="medium", choices=("low", "medium", "high"))
    ap.add_argument("--ema", action="store_true")
    args = ap.parse_args(argv)

    import torch

    from pyulm.nn.cycleulm import ceus_acquisition, train_mbdt

    torch.set_num_threads(1)
    iq = ceus_acquisition(args.density, seed=0).iq
    variants = {"fp32": {"precision": "fp32"}, "bf16": {"precision": "bf16"}}
    if args.ema:
        variants["bf16 + ema"] = {"precision": "bf16", "ema": 0.999}
    res = {k: [] for k in variants}
    with tempfile.TemporaryDirectory() as d:
        for r in range(args.rounds):
            for name, train in variants.items():
                cfg = {"seed": 0, "train": {"epochs": 1, "steps_per_epoch": args.steps, "max_minutes": 0, "restarts": 0,
                                            "threads": 1, "device": "cpu", **train}}
                with warnings.catch_warnings():  # a 200-step translator fails the label-free check: not timed
                    warnings.simplefilter("ignore", UserWarning)
                    out = train_mbdt(iq, f"{d}/{r}_{name.replace(' ', '')}", config=cfg, log=lambda m: None)
                rec = json.loads((out / "log.jsonl").read_text().splitlines()[-1])
                res[name].append((rec["wall_s"], rec["cpu_s"]))
                print(f"round {r} {name}: {args.steps} steps, wall {rec['wall_s']} s, CPU {rec['cpu_s']} s", flush=True)
    n = args.steps * args.rounds
    base = sum(c for _, c in res["fp32"])
    print(f"\n| precision | steps/s (wall) | steps/s (CPU time) | speed-up over fp32 (CPU time) |\n|---|---|---|---|")
    for name, v in res.items():
        cpu = sum(c for _, c in v)
        print(f"| {name} | {n / sum(w for w, _ in v):.1f} | {n / cpu:.1f} | {base / cpu:.2f}x |")


if __name__ == "__main__":
    main()
