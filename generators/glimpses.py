"""Multi-resolution glimpses: resolution pyramids and glimpse-stack extraction (Numba).

A glimpse stack around a centre is ``num_levels`` images of
``glimpse_size = (Gw, Gd)`` pixels; level ``k`` has pixels of
``scale_w**k x scale_d**k`` image pixels, so it sees ``scale**k`` times
further. Levels come from a pyramid built once per image: level 0 is the image,
level ``k`` pools level ``k-1`` by ``(scale_w, scale_d)`` (max, or mean rounded
to the nearest integer). At level ``k`` the stack is the crop of pyramid level
``k`` whose pixel ``(Gw // 2, Gd // 2)`` contains the centre, that is the crop
starting at ``centre // scale**k - G // 2``; pixels outside the image are 0.

Structure: :func:`extract_glimpses` / :meth:`Pyramid.extract` check inputs
and allocate, the njit kernels take only arrays and scalars.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .jit import njit

__all__ = ["PYRAMID_POOLINGS", "GlimpseSpec", "Pyramid", "build_pyramid", "extract_glimpses", "glimpse_coordinates"]

#: How a pyramid level pools the level below it (kernel ids in this order). Not to be confused
#: with drift pooling (``vertexfinder.records.DRIFT_POOLINGS``), which makes drift pixels of ticks.
PYRAMID_POOLINGS = ("max", "mean")


@dataclass(frozen=True)
class GlimpseSpec:
    """Shape of a glimpse stack.

    Args:
        num_levels: K, the number of resolution levels.
        glimpse_size: (Gw, Gd) pixels per level along wire and drift.
        scale: (scale_w, scale_d) pooling factor between consecutive levels.
        pyramid_pooling: how a level pools the one below it, "max" or "mean".
    """

    num_levels: int = 5
    glimpse_size: tuple[int, int] = (32, 32)
    scale: tuple[int, int] = (2, 2)
    pyramid_pooling: str = "max"

    def __post_init__(self):
        object.__setattr__(self, "glimpse_size", tuple(int(g) for g in self.glimpse_size))
        object.__setattr__(self, "scale", tuple(int(s) for s in self.scale))
        if int(self.num_levels) < 1:
            raise ValueError(f"num_levels must be >= 1; Received: num_levels={self.num_levels}")
        if len(self.glimpse_size) != 2 or min(self.glimpse_size) < 1:
            raise ValueError(f"glimpse_size must be two positive ints; Received: glimpse_size={self.glimpse_size}")
        if len(self.scale) != 2 or min(self.scale) < 1:
            raise ValueError(f"scale must be two positive ints; Received: scale={self.scale}")
        if self.pyramid_pooling not in PYRAMID_POOLINGS:
            raise ValueError(f"pyramid_pooling must be one of {PYRAMID_POOLINGS}; "
                             f"Received: pyramid_pooling={self.pyramid_pooling!r}")

    @property
    def pooling_id(self) -> int:
        return PYRAMID_POOLINGS.index(self.pyramid_pooling)

    def field_of_view(self) -> tuple[int, int]:
        """Image pixels covered by the coarsest level (wire, drift)."""
        k = self.num_levels - 1
        return self.glimpse_size[0] * self.scale[0] ** k, self.glimpse_size[1] * self.scale[1] ** k


def _pool_level(src, sw, sd, mode):
    """One pyramid level from the one below: ``sw x sd`` windows, their maximum (mode 0) or their
    mean over the full window with pixels outside the image counting 0, rounded half up (mode 1).

    NumPy over ``sw * sd`` strided views of the zero-padded image (vectorised uint8 maxima: several
    times faster than a per-pixel loop on event-sized images)."""
    nw, nd = -(-src.shape[0] // sw), -(-src.shape[1] // sd)
    if src.shape != (nw * sw, nd * sd):
        padded = np.zeros((nw * sw, nd * sd), dtype=np.uint8)
        padded[: src.shape[0], : src.shape[1]] = src
        src = padded
    views = [src[a::sw, b::sd] for a in range(sw) for b in range(sd)]
    if mode == 0:
        out = views[0].copy()
        for v in views[1:]:
            np.maximum(out, v, out=out)
        return out
    acc = views[0].astype(np.int64)
    for v in views[1:]:
        acc += v
    return ((2 * acc + sw * sd) // (2 * sw * sd)).astype(np.uint8)


@njit
def _extract_kernel(flat, offsets, widths, depths, pad, centres, num_levels, gw, gd, sw_pow, sd_pow, out):
    # Levels are stored with ``pad`` zero pixels on every side, so a glimpse that pokes out of the
    # image by up to ``pad`` pixels is a plain copy; only glimpses further out take the checked path.
    for n in range(centres.shape[0]):
        for k in range(num_levels):
            cw = centres[n, 0] // sw_pow[k] - gw // 2 + pad
            cd = centres[n, 1] // sd_pow[k] - gd // 2 + pad
            wk = widths[k]
            dk = depths[k]
            if 0 <= cw and cw + gw <= wk and 0 <= cd and cd + gd <= dk:
                base = offsets[k] + cw * dk + cd
                for i in range(gw):
                    src = base + i * dk
                    for j in range(gd):
                        out[n, k, i, j] = flat[src + j]
                continue
            for i in range(gw):
                w = cw + i
                for j in range(gd):
                    d = cd + j
                    if 0 <= w < wk and 0 <= d < dk:
                        out[n, k, i, j] = flat[offsets[k] + w * dk + d]
                    else:
                        out[n, k, i, j] = 0
    return out


class Pyramid:
    """The resolution pyramid of one image, built once and cut many times.

    Attributes:
        spec: the GlimpseSpec.
        levels: list of uint8 arrays, level 0 the image.
    """

    def __init__(self, image: np.ndarray, spec: GlimpseSpec):
        image = np.asarray(image)
        if image.ndim != 2:
            raise ValueError(f"image must be 2D (wires, drift); Received: shape={image.shape}")
        if image.dtype != np.uint8:
            raise ValueError(f"image must be uint8; Received: dtype={image.dtype}")
        self.spec = spec
        levels = [np.ascontiguousarray(image)]
        for _ in range(1, spec.num_levels):
            prev = levels[-1]
            if prev.size == 0:
                levels.append(np.zeros((0, 0), np.uint8))
            else:
                levels.append(_pool_level(prev, spec.scale[0], spec.scale[1], spec.pooling_id))
        self.levels = levels
        self._pad = pad = max(spec.glimpse_size)
        padded = [np.pad(lv, pad) for lv in levels]
        sizes = [lv.size for lv in padded]
        self._offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self._flat = np.concatenate([lv.ravel() for lv in padded])
        self._widths = np.array([lv.shape[0] for lv in padded], dtype=np.int64)
        self._depths = np.array([lv.shape[1] for lv in padded], dtype=np.int64)
        k = np.arange(spec.num_levels)
        self._sw = (spec.scale[0] ** k).astype(np.int64)
        self._sd = (spec.scale[1] ** k).astype(np.int64)

    @property
    def shape(self) -> tuple[int, int]:
        return self.levels[0].shape

    @property
    def nbytes(self) -> int:
        return int(self._flat.nbytes)

    def extract(self, centres, out: np.ndarray | None = None) -> np.ndarray:
        """Glimpse stacks around integer centres (N, 2) -> uint8 (N, K, Gw, Gd)."""
        c = np.asarray(centres)
        if c.ndim != 2 or c.shape[1] != 2:
            raise ValueError(f"centres must have shape (N, 2); Received: shape={c.shape}")
        if not np.issubdtype(c.dtype, np.integer):
            raise ValueError(f"centres must be integers (image pixels); Received: dtype={c.dtype}")
        c = c.astype(np.int64, copy=False)
        gw, gd = self.spec.glimpse_size
        shape = (len(c), self.spec.num_levels, gw, gd)
        if out is None:
            out = np.empty(shape, dtype=np.uint8)
        elif out.shape != shape or out.dtype != np.uint8:
            raise ValueError(f"out must be uint8 of shape {shape}; Received: {out.dtype} {out.shape}")
        return _extract_kernel(self._flat, self._offsets, self._widths, self._depths, self._pad, c,
                               self.spec.num_levels, gw, gd, self._sw, self._sd, out)


def build_pyramid(image: np.ndarray, spec: GlimpseSpec) -> Pyramid:
    """The resolution pyramid of a uint8 image (wires, drift)."""
    return Pyramid(image, spec)


def extract_glimpses(image: np.ndarray, centres, spec: GlimpseSpec) -> np.ndarray:
    """Glimpse stacks (N, K, Gw, Gd) uint8 of a uint8 image (wires, drift) around integer centres (N, 2).

    For repeated calls on the same image build a :class:`Pyramid` once and call its ``extract``.
    """
    return Pyramid(image, spec).extract(centres)


def glimpse_coordinates(centres, spec: GlimpseSpec) -> np.ndarray:
    """Image-pixel coordinate of the lower corner of each level's glimpse: int64 (N, K, 2).

    Glimpse pixel (i, j) of level k covers image pixels
    ``[corner + (i, j) * scale**k, corner + (i + 1, j + 1) * scale**k)``.
    """
    c = np.asarray(centres, dtype=np.int64).reshape(-1, 2)
    k = np.arange(spec.num_levels)
    s = np.stack([spec.scale[0] ** k, spec.scale[1] ** k], axis=1)  # (K, 2)
    g = np.array(spec.glimpse_size) // 2
    return ((c[:, None, :] // s[None]) - g[None, None, :]) * s[None]
