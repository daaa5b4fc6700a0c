"""Build reference_data/ from ../shared/reference (PALA 1.1 outputs under GNU Octave 7.3).

Run from the repository root:  python reference_data/make_reference_data.py [SHARED_REFERENCE_DIR]

What is kept, per block (a, b) in ``pala_block_<X>.h5``:

* ``params``: the block's pipeline parameters (attrs).
* ``filter/frames``, ``filter/IQ_filt``: every 10th frame (0-based indices) of PALA's
  filtered block (complex128); the filter test filters the whole input block
  (``pyulm/data/example_block.mat`` is block a, unchanged) and compares these frames.
* ``loc_input``: ``abs(IQ_filt)`` on ``loc_frames`` (every 10th frame), the input of
  the localization parity tests; localization treats frames independently.
* ``<method>/MatTracking_px_sub``: PALA's localization rows of those frames, in order.
* ``<method>/MatTracking``: the full table (wavelengths) that tracking started from.
* ``<method>/Tracks_<mode>``: every output track of each tracking mode, as a point
  array plus offsets (``Tracks_vel`` kept in float32 as PALA returned it).
* ``<method>/MatOut*``: the rendered maps, stored sparse (row, col, value, 0-based).
"""
import sys
from pathlib import Path

import h5py
import numpy as np
import scipy.io as sio

SRC = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / ".." / "shared" / "reference")
OUT = Path(__file__).resolve().parent
METHODS = ["radial", "wa", "interp", "nolocalization"]
TRACKS = ["Tracks_raw", "Tracks_interp", "Tracks_vel", "Tracks_nointerp", "Tracks_i"]
MAPS = ["MatOut", "MatOut_zdir", "MatOut_vel", "MatOut_velmean", "MatOut_allin"]
KW = dict(compression="gzip", compression_opts=9, shuffle=True)


def cells(c):
    return [np.asarray(c[i, 0]) for i in range(c.shape[0])]


def main():
    for blk in "ab":
        inp = sio.loadmat(SRC / f"block_{blk}.mat")
        filt = sio.loadmat(SRC / f"pala_block_{blk}_filtered.mat")["IQ_filt"]
        nt = filt.shape[2]
        frames = np.arange(0, nt, 10)
        with h5py.File(OUT / f"pala_block_{blk}.h5", "w") as f:
            f.attrs["provenance"] = (
                f"Extracted from shared/reference/block_{blk}.mat and pala_block_{blk}_*.mat "
                "(PALA v1.1 run under GNU Octave 7.3) by reference_data/make_reference_data.py"
            )
            P = inp["P"][0, 0]
            g = f.create_group("params")
            for name in P.dtype.names:
                g.attrs[name] = np.asarray(P[name]).ravel()
            g.attrs["shape"] = np.asarray(filt.shape)
            g.attrs["frame_rate"] = float(inp["UF"][0, 0]["FrameRateUF"].ravel()[0])
            f.create_dataset("filter/frames", data=frames)
            f.create_dataset("filter/IQ_filt", data=filt[:, :, frames], **KW)
            f["filter"].attrs["but"] = sio.loadmat(SRC / f"pala_block_{blk}_filtered.mat")["but"]
            f.create_dataset("loc_frames", data=frames)
            f.create_dataset("loc_input", data=np.abs(filt[:, :, frames]), **KW)
            if blk == "a":
                f.create_dataset("GT", data=inp["GT"], **KW)
            for m in METHODS:
                d = sio.loadmat(SRC / f"pala_block_{blk}_{m}.mat")
                g = f.create_group(m)
                U = d["ULM"][0, 0]
                g.attrs["LocMethod"] = str(U["LocMethod"][0])
                par = U["parameters"][0, 0]
                for name in par.dtype.names:
                    v = par[name]
                    g.attrs[name] = str(v[0]) if v.dtype.kind == "U" else np.asarray(v).ravel()
                mt = d["MatTracking_px"]
                g.create_dataset("MatTracking_px_sub", data=mt[np.isin(mt[:, 3] - 1, frames)], **KW)
                g.create_dataset("MatTracking", data=d["MatTracking"], **KW)
                for tname in TRACKS:
                    tr = cells(d[tname])
                    pts = np.concatenate([t.reshape(t.shape[0], -1) if tname != "Tracks_i" else t.reshape(1, -1) for t in tr]) if tname != "Tracks_i" else None
                    if tname == "Tracks_i":
                        # the 'interp' mode stores 1x2M rows: keep them flat
                        flat = np.concatenate([t.ravel() for t in tr])
                        offs = np.concatenate([[0], np.cumsum([t.size for t in tr])])
                        g.create_dataset(f"{tname}/values", data=flat, **KW)
                    else:
                        offs = np.concatenate([[0], np.cumsum([t.shape[0] for t in tr])])
                        g.create_dataset(f"{tname}/points", data=pts, **KW)
                    g.create_dataset(f"{tname}/offsets", data=offs)
                for mname in MAPS:
                    M = d[mname]
                    r, c = np.nonzero(M)
                    h = g.create_group(mname)
                    h.attrs["shape"] = M.shape
                    h.create_dataset("row", data=r.astype(np.int32), **KW)
                    h.create_dataset("col", data=c.astype(np.int32), **KW)
                    h.create_dataset("value", data=M[r, c], **KW)
        print(blk, (OUT / f"pala_block_{blk}.h5").stat().st_size / 1e6, "MB")


if __name__ == "__main__":
    main()
