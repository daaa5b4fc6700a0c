"""The figure of benchmarks/bench_pgd.py (docs/pgd_bench.png)."""
from __future__ import annotations

import numpy as np


def make_figure(res: dict, path, weights=None) -> None:
    """Four panels: PgD vs physics frames of the target probe (same bubbles), SSIM of every TEST
    parameter set against its centre frequency, F1 / mean error of the three trainings, and the
    lateral FWHM of the SR map against the number of frames."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pyulm.nn.pgd.synthesis import synth

    fig = plt.figure(figsize=(13, 7.5), constrained_layout=True)
    grid = fig.add_gridspec(2, 4)
    probe = res["target_probe"]
    imgs = {s: synth(probe, 3, shape=(32, 32), density=4.0, seed=5, source=s,
                     **({"weights": weights} if s == "pgd" and weights else {})).iq for s in ("physics", "pgd")}
    for j, (s, iq) in enumerate(imgs.items()):
        for k in range(2):
            ax = fig.add_subplot(grid[k, j]) if j < 2 else None
            ax.imshow(np.abs(iq[:, :, k]), cmap="gray", vmin=0, vmax=1)
            ax.set_title(f"{'physics' if s == 'physics' else 'PgD'} frame {k + 1}", fontsize=9)
            ax.axis("off")
    f = res.get("fidelity")
    if f:
        ax = fig.add_subplot(grid[0, 2])
        c = f["conditions"]
        sc = ax.scatter([r["center_frequency_mhz"] for r in c], [r["ssim"] for r in c],
                        c=[r["f_number"] for r in c], cmap="viridis", s=18)
        fig.colorbar(sc, ax=ax, label="F-number")
        ax.axhline(0.9, color="r", lw=0.8, ls="--")
        ax.set_xscale("log")
        ax.set_xticks([5, 10, 20], ["5", "10", "20"])
        ax.minorticks_off()
        ax.set_xlabel("centre frequency (MHz)")
        ax.set_ylabel("SSIM (envelope)")
        ax.set_title(f"(a) TEST parameter sets: mean SSIM {f['mean']['ssim']:.3f}", fontsize=9)
    u = res.get("usefulness")
    if u:
        kinds = [("gaussian", "(i) Gaussian"), ("pgd", "(ii) PgD"), ("physics", "(iii) physics"), ("radial", "radial")]
        ax = fig.add_subplot(grid[0, 3])
        x = np.arange(len(kinds))
        ax.bar(x - 0.2, [u[k]["f1"] for k, _ in kinds], 0.4, label="F1")
        ax2 = ax.twinx()
        ax2.bar(x + 0.2, [u[k]["mean_error_um"] for k, _ in kinds], 0.4, color="tab:orange", label="error")
        ax.set_xticks(x, [n for _, n in kinds], fontsize=8)
        ax.set_ylabel("F1 (blue)")
        ax2.set_ylabel("mean error, um (orange)")
        ax.set_title("(b) MBL-Net on held-out physics frames", fontsize=9)
        ax = fig.add_subplot(grid[1, 2:])
        for c, (k, name) in enumerate(kinds + [("ground_truth", "ground truth")]):
            r = u[k]["resolution_um"]
            n = [int(v) for v in r]
            ax.plot(n, [r[str(v)]["lateral"] for v in n], "o-", color=f"C{c}", label=name)
            ax.plot(n, [r[str(v)]["axial"] for v in n], "s--", color=f"C{c}", alpha=0.5)
        ax.set_xscale("log")
        ax.set_xticks(n, [str(v) for v in n])
        ax.minorticks_off()
        ax.set_xlabel("frames used")
        ax.set_ylabel("FWHM across vessels (um)")
        ax.set_title(f"SR map resolution ({u['acquisition']['lumen_um']:.0f} um lumens; solid lateral, dashed axial)",
                     fontsize=9)
        ax.legend(fontsize=7, ncol=2)
    fig.savefig(path, dpi=110)
    plt.close(fig)
