"""Vessel networks: geometry, radii and flow of the vessels bubbles travel in.

A :class:`VesselNetwork` is a directed acyclic graph whose edges are vessel
segments (polylines in pixel coordinates, 0-based) with a radius and a
volumetric flow each. Flow follows Murray's law (``Q`` proportional to
``r**3``) unless given, so the mean velocity ``Q / (pi r^2)`` grows with the
radius. Bubbles enter at the roots and choose a child at each bifurcation with
probability proportional to its flow.
"""
from __future__ import annotations

import numpy as np

from .. import _validate as V
from .._optional import require
from . import _checks as C

MAX_PATHS = 20000


class VesselNetwork:
    """Vessel segments with radii and flows.

    Parameters
    ----------
    nodes : array_like, (K, 2)
        Node positions (z, x), pixels, 0-based.
    edges : array_like of int, (M, 2)
        Directed segments (upstream node, downstream node); must form a DAG.
    radius : array_like, (M,)
        Lumen radius of each segment, pixels, > 0.
    flow : array_like, (M,), optional
        Volumetric flow of each segment (any unit; only ratios matter, the
        simulator scales speeds). Default ``radius ** 3`` (Murray's law).
    polylines : list of (P, 2) arrays, optional
        The centreline of each segment from its upstream to its downstream
        node; default a straight line.

    Examples
    --------
    >>> net = VesselNetwork([[0, 10], [20, 10], [40, 0], [40, 20]], [[0, 1], [1, 2], [1, 3]], [1.0, 0.79, 0.79])
    >>> len(net.paths()[0]), np.round(net.paths()[1], 2).tolist()
    (2, [0.5, 0.5])
    """

    def __init__(self, nodes, edges, radius, flow=None, polylines=None):
        nodes = np.array(nodes, dtype=float, copy=True)
        edges = np.array(edges, copy=True)
        if nodes.ndim != 2 or nodes.shape[1] != 2 or nodes.shape[0] < 2 or not np.all(np.isfinite(nodes)):
            raise ValueError(f"nodes: expected a (K, 2) array of finite (z, x) positions with K >= 2, got shape {nodes.shape}")
        if edges.ndim != 2 or edges.shape[1] != 2 or edges.shape[0] < 1 or not np.issubdtype(edges.dtype, np.integer):
            raise ValueError(f"edges: expected a (M, 2) integer array with M >= 1, got {edges.dtype} {edges.shape}")
        if edges.min() < 0 or edges.max() >= nodes.shape[0] or np.any(edges[:, 0] == edges[:, 1]):
            raise ValueError(f"edges: expected node indices in [0, {nodes.shape[0]}) and no self-loops")
        m = edges.shape[0]
        radius = np.array(radius, dtype=float, copy=True).ravel()
        if radius.size != m or not np.all(np.isfinite(radius)) or np.any(radius <= 0):
            raise ValueError(f"radius: expected {m} finite values > 0 (pixels), got {radius.size} values, min {radius.min() if radius.size else None}")
        flow = radius ** 3 if flow is None else np.array(flow, dtype=float, copy=True).ravel()
        if flow.size != m or not np.all(np.isfinite(flow)) or np.any(flow <= 0):
            raise ValueError(f"flow: expected {m} finite values > 0, got {flow.size} values")
        if polylines is None:
            polylines = [nodes[[a, b]] for a, b in edges]
        else:
            polylines = [np.array(p, dtype=float, copy=True) for p in polylines]
            if len(polylines) != m or any(p.ndim != 2 or p.shape[1] != 2 or p.shape[0] < 2 for p in polylines):
                raise ValueError(f"polylines: expected {m} arrays of shape (P >= 2, 2)")
        self.nodes, self.edges, self.radius, self.flow, self.polylines = nodes, edges.astype(np.int64), radius, flow, polylines
        self._check_acyclic()

    def __repr__(self) -> str:
        return f"VesselNetwork({len(self.edges)} segments, radius {self.radius.min():.2f}-{self.radius.max():.2f} px)"

    def _out_edges(self):
        out = [[] for _ in range(len(self.nodes))]
        for k, (a, _) in enumerate(self.edges):
            out[a].append(k)
        return out

    def _check_acyclic(self):
        indeg = np.bincount(self.edges[:, 1], minlength=len(self.nodes))
        out = self._out_edges()
        stack = [n for n in range(len(self.nodes)) if indeg[n] == 0]
        seen = 0
        indeg = indeg.copy()
        while stack:
            n = stack.pop()
            for k in out[n]:
                seen += 1
                b = self.edges[k, 1]
                indeg[b] -= 1
                if indeg[b] == 0:
                    stack.append(b)
        if seen != len(self.edges):
            raise ValueError("edges: the vessel graph has a cycle; expected a directed acyclic graph (flow from roots to leaves)")

    @property
    def mean_velocity(self) -> np.ndarray:
        """Relative mean velocity ``flow / (pi radius^2)`` of each segment."""
        return self.flow / (np.pi * self.radius ** 2)

    def paths(self):
        """All root-to-leaf paths (lists of edge indices) and their probabilities.

        A bubble enters a root segment with probability proportional to its
        flow and takes each branch with probability proportional to the
        branch's flow.
        """
        indeg = np.bincount(self.edges[:, 1], minlength=len(self.nodes))
        out = self._out_edges()
        roots = [k for k, (a, _) in enumerate(self.edges) if indeg[a] == 0]
        total = sum(self.flow[k] for k in roots)
        paths, probs = [], []
        stack = [([k], self.flow[k] / total) for k in roots]
        while stack:
            path, p = stack.pop()
            nxt = out[self.edges[path[-1], 1]]
            if not nxt:
                paths.append(path)
                probs.append(p)
                if len(paths) > MAX_PATHS:
                    raise ValueError(f"edges: the vessel graph has more than {MAX_PATHS} root-to-leaf paths; simplify it")
                continue
            fsum = sum(self.flow[k] for k in nxt)
            for k in nxt:
                stack.append((path + [k], p * self.flow[k] / fsum))
        order = sorted(range(len(paths)), key=lambda i: paths[i])  # deterministic order
        return [paths[i] for i in order], np.array([probs[i] for i in order])

    def mask(self, shape, res: float = 1) -> np.ndarray:
        """Boolean lumen mask on a grid ``res`` times finer than the field.

        SR pixel ``k`` has its centre at ``(k + 0.5) / res - 0.5`` pixels (the
        grid of :func:`pyulm.sim.density_map`).

        Examples
        --------
        >>> net = VesselNetwork([[5, 0], [5, 20]], [[0, 1]], [1.0])
        >>> int(net.mask((10, 20)).sum(axis=0)[10])
        3
        """
        nz, nx = C.shape2(shape)
        res = V.positive(res, "res")
        mz, mx = int(round(nz * res)), int(round(nx * res))
        out = np.zeros((mz, mx), bool)
        for poly, r in zip(self.polylines, self.radius):
            for p0, p1 in zip(poly[:-1], poly[1:]):
                lo = np.floor((np.minimum(p0, p1) - r + 0.5) * res).astype(int)
                hi = np.ceil((np.maximum(p0, p1) + r + 0.5) * res).astype(int) + 1
                lo = np.maximum(lo, 0)
                hi = np.minimum(hi, (mz, mx))
                if np.any(hi <= lo):
                    continue
                zz = (np.arange(lo[0], hi[0]) + 0.5) / res - 0.5
                xx = (np.arange(lo[1], hi[1]) + 0.5) / res - 0.5
                d = p1 - p0
                L2 = max(float(d @ d), 1e-12)
                t = np.clip(((zz[:, None] - p0[0]) * d[0] + (xx[None, :] - p0[1]) * d[1]) / L2, 0, 1)
                dist2 = (zz[:, None] - p0[0] - t * d[0]) ** 2 + (xx[None, :] - p0[1] - t * d[1]) ** 2
                out[lo[0]:hi[0], lo[1]:hi[1]] |= dist2 <= r * r
        return out

    def to_arrays(self) -> dict:
        """Plain arrays for HDF5: nodes, edges, radius, flow, polyline points and offsets."""
        lens = [len(p) for p in self.polylines]
        return {
            "nodes": self.nodes, "edges": self.edges, "radius": self.radius, "flow": self.flow,
            "polyline_points": np.concatenate(self.polylines), "polyline_offsets": np.r_[0, np.cumsum(lens)].astype(np.int64),
        }


def random_network(
    shape=(128, 128),
    *,
    n_roots: int = 2,
    root_radius: float = 1.0,
    min_radius: float = 0.2,
    max_depth: int = 6,
    segment_length=(12.0, 30.0),
    branch_angle=(15.0, 50.0),
    asymmetry=(0.6, 1.0),
    tortuosity: float = 0.08,
    seed=None,
) -> VesselNetwork:
    """A random branching 2-D vessel tree obeying Murray's law.

    Each root enters from a random border point heading inwards. A segment is
    a gently curving polyline; at its end it splits into two children with
    radii ``r1**3 + r2**3 = r0**3`` (Murray), ratio ``r2/r1`` drawn from
    ``asymmetry``, turning by angles drawn from ``branch_angle`` to either
    side. Growth stops below ``min_radius``, after ``max_depth`` levels or
    when a segment leaves the field (the vessel exits the imaging plane).

    Parameters
    ----------
    shape : (int, int)
        Field size (nz, nx), pixels.
    n_roots : int
        Number of inlet vessels.
    root_radius, min_radius : float
        Radii in pixels.
    max_depth : int
        Maximum number of bifurcation levels.
    segment_length : (float, float)
        Range of segment lengths, pixels.
    branch_angle : (float, float)
        Range of branch angles, degrees.
    asymmetry : (float, float)
        Range of the radius ratio of the smaller to the larger child.
    tortuosity : float
        Standard deviation of the heading change per centreline step, radians.
    seed : int, Generator or None

    Examples
    --------
    >>> net = random_network((64, 64), seed=0)
    >>> bool(np.all(net.radius <= 1.0)), net.mask((64, 64)).any()
    (True, np.True_)
    """
    nz, nx = C.shape2(shape)
    n_roots = V.positive(n_roots, "n_roots", integer=True)
    r0 = V.positive(root_radius, "root_radius")
    rmin = V.positive(min_radius, "min_radius")
    depth = V.positive(max_depth, "max_depth", integer=True, allow_zero=True)
    L_lo, L_hi = C.value_range(segment_length, "segment_length", allow_zero=False)
    a_lo, a_hi = C.value_range(branch_angle, "branch_angle")
    k_lo, k_hi = C.value_range(asymmetry, "asymmetry", allow_zero=False)
    if k_hi > 1:
        raise ValueError(f"asymmetry: expected ratios in (0, 1], got {asymmetry!r}")
    tort = V.positive(tortuosity, "tortuosity", allow_zero=True)
    rng = C.rng_of(seed)
    nodes, edges, radius, polys = [], [], [], []
    stack = []
    for _ in range(n_roots):
        side = rng.integers(4)
        u = rng.uniform(0.15, 0.85)
        start, heading = {
            0: ((-1.0, u * (nx - 1)), 0.0), 1: ((nz, u * (nx - 1)), np.pi),
            2: ((u * (nz - 1), -1.0), np.pi / 2), 3: ((u * (nz - 1), nx), -np.pi / 2),
        }[int(side)]
        nodes.append(start)
        stack.append((len(nodes) - 1, heading + rng.normal(0, 0.25), r0, 0))
    step = 2.0
    while stack:
        n0, heading, r, level = stack.pop(0)
        L = rng.uniform(L_lo, L_hi)
        n_steps = max(2, int(np.ceil(L / step)))
        turns = heading + np.cumsum(rng.normal(0, tort, n_steps))
        pts = nodes[n0] + np.r_[np.zeros((1, 2)), np.cumsum(np.c_[np.cos(turns), np.sin(turns)] * (L / n_steps), axis=0)]
        nodes.append(tuple(pts[-1]))
        n1 = len(nodes) - 1
        edges.append((n0, n1))
        radius.append(r)
        polys.append(pts)
        end = pts[-1]
        inside = -1 <= end[0] <= nz and -1 <= end[1] <= nx
        k = rng.uniform(k_lo, k_hi)
        r1 = r / (1 + k ** 3) ** (1 / 3)
        r2 = k * r1
        if not inside or level >= depth or r2 < rmin:
            continue
        a1, a2 = np.deg2rad(rng.uniform(a_lo, a_hi, 2))
        sgn = 1 if rng.random() < 0.5 else -1
        # Murray's optimum turns the larger child less: scale its angle by the radius ratio
        stack.append((n1, turns[-1] + sgn * a1 * k, r1, level + 1))
        stack.append((n1, turns[-1] - sgn * a2, r2, level + 1))
    return VesselNetwork(np.array(nodes), np.array(edges), np.array(radius), polylines=polys)


def network_from_mask(mask, *, res: float = 1, min_radius: float = 0.2) -> VesselNetwork:
    """A vessel network from a binary vessel image.

    The mask is skeletonised; skeleton branches between junctions and end
    points become segments, with the radius from the distance transform
    (median along the branch). In each connected piece the end point of the
    widest branch is the inlet, and segments are oriented away from it (by
    geodesic distance), which gives a directed acyclic graph; flows follow
    Murray's law.

    Parameters
    ----------
    mask : array_like of bool, (mz, mx)
        Vessel lumen, on a grid ``res`` times finer than the field.
    res : float
        Mask pixels per field pixel (e.g. 10 for a super-resolved map).
    min_radius : float
        Lower bound of the radii, field pixels.

    Examples
    --------
    >>> m = np.zeros((40, 40), bool); m[18:23, 2:38] = True
    >>> net = network_from_mask(m)
    >>> len(net.edges), round(float(net.radius[0]), 1)
    (1, 2.5)
    """
    from scipy.ndimage import convolve, distance_transform_edt
    skeletonize = require("skimage.morphology", "pyulm.sim vessel skeletons").skeletonize

    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"mask: expected a 2-D array, got shape {m.shape}")
    m = m.astype(bool)
    if not m.any():
        raise ValueError("mask: the vessel mask is empty; expected at least one vessel pixel")
    res = V.positive(res, "res")
    rmin = V.positive(min_radius, "min_radius")
    sk = skeletonize(m)
    dist = distance_transform_edt(np.pad(m, 1))[1:-1, 1:-1]
    nb = convolve(sk.astype(np.int32), np.ones((3, 3), np.int32), mode="constant") - 1
    pix = {tuple(p) for p in np.argwhere(sk)}
    is_node = {p for p in pix if nb[p] != 2}
    offs = [(dz, dx) for dz in (-1, 0, 1) for dx in (-1, 0, 1) if dz or dx]

    def neigh(p):
        return [(p[0] + a, p[1] + b) for a, b in offs if (p[0] + a, p[1] + b) in pix]

    chains, used = [], set()

    def trace(start):
        for q in neigh(start):
            if (start, q) in used:
                continue
            chain, prev, cur = [start], start, q
            used.add((start, q))
            while cur not in is_node:
                chain.append(cur)
                nxt = [r for r in neigh(cur) if r != prev and (cur, r) not in used]
                if not nxt:
                    break
                used.add((cur, nxt[0]))
                prev, cur = cur, nxt[0]
            chain.append(cur)
            used.add((cur, prev))
            chains.append(chain)

    for p in sorted(is_node):
        trace(p)
    for p in sorted(pix):  # closed loops without any junction
        if p not in is_node and not any((p, q) in used for q in neigh(p)):
            is_node.add(p)
            trace(p)
    if not chains:  # a single skeleton pixel (a blob): one short vertical segment
        p = next(iter(pix))
        chains = [[(p[0] - 0.5, p[1]), (p[0] + 0.5, p[1])]]
    ends = sorted({c[0] for c in chains} | {c[-1] for c in chains})
    index = {p: i for i, p in enumerate(ends)}
    und = [(index[c[0]], index[c[-1]]) for c in chains]
    rad = np.array([max(np.median([dist[int(q[0]), int(q[1])] for q in c]) - 0.5, 0.5) for c in chains]) / res
    rad = np.maximum(rad, rmin)
    length = [sum(np.hypot(*np.subtract(a, b)) for a, b in zip(c[:-1], c[1:])) for c in chains]
    # geodesic distance from each piece's inlet (Dijkstra on the branch graph)
    import heapq

    adj = [[] for _ in ends]
    for k, (a, b) in enumerate(und):
        adj[a].append((b, k))
        adj[b].append((a, k))
    geo = np.full(len(ends), np.inf)
    for _ in range(len(ends)):
        todo = np.flatnonzero(np.isinf(geo))
        if todo.size == 0:
            break
        # inlet of a new piece: among its end points (degree 1), the one on the widest branch
        piece, stack = set(), [int(todo[0])]
        while stack:
            n = stack.pop()
            if n not in piece:
                piece.add(n)
                stack.extend(b for b, _ in adj[n])
        tips = [n for n in piece if len(adj[n]) == 1] or sorted(piece)
        inlet = max(tips, key=lambda n: (max(rad[k] for _, k in adj[n]) if adj[n] else 0, -n))
        geo[inlet] = 0
        heap = [(0.0, inlet)]
        while heap:
            d, n = heapq.heappop(heap)
            if d > geo[n]:
                continue
            for b, k in adj[n]:
                if d + length[k] < geo[b]:
                    geo[b] = d + length[k]
                    heapq.heappush(heap, (geo[b], b))
    edges, radius, polys = [], [], []
    for k, (a, b) in enumerate(und):
        if a == b or geo[a] == geo[b]:
            continue  # a loop or a tie: no defined flow direction
        c = np.array(chains[k], float)
        if geo[a] > geo[b]:
            a, b, c = b, a, c[::-1]
        edges.append((a, b))
        radius.append(rad[k])
        polys.append((c + 0.5) / res - 0.5)
    if not edges:
        raise ValueError("mask: no vessel segment could be oriented (only closed loops); expected branching vessels")
    nodes = (np.array([np.array(p, float) for p in ends]) + 0.5) / res - 0.5
    return VesselNetwork(nodes, np.array(edges), np.array(radius), polylines=polys)
