"""Slow NumPy references for the generator kernels."""

import numpy as np


def pool_reference(img, sw, sd, pooling):
    nw, nd = -(-img.shape[0] // sw), -(-img.shape[1] // sd)
    padded = np.zeros((nw * sw, nd * sd), dtype=np.int64)
    padded[: img.shape[0], : img.shape[1]] = img
    blocks = padded.reshape(nw, sw, nd, sd)
    if pooling == "max":
        return blocks.max(axis=(1, 3)).astype(np.uint8)
    s = blocks.sum(axis=(1, 3))
    return ((2 * s + sw * sd) // (2 * sw * sd)).astype(np.uint8)


def pyramid_reference(img, spec):
    levels = [img.astype(np.uint8)]
    for _ in range(1, spec.num_levels):
        levels.append(pool_reference(levels[-1], *spec.scale, spec.pyramid_pooling))
    return levels


def glimpses_reference(img, centres, spec):
    levels = pyramid_reference(img, spec)
    gw, gd = spec.glimpse_size
    out = np.zeros((len(centres), spec.num_levels, gw, gd), dtype=np.uint8)
    for n, (cw, cd) in enumerate(centres):
        for k, lv in enumerate(levels):
            w0 = cw // spec.scale[0] ** k - gw // 2
            d0 = cd // spec.scale[1] ** k - gd // 2
            for i in range(gw):
                for j in range(gd):
                    w, d = w0 + i, d0 + j
                    if 0 <= w < lv.shape[0] and 0 <= d < lv.shape[1]:
                        out[n, k, i, j] = lv[w, d]
    return out
