"""Image operations shared by the mapper, the simulation and the finder.

* :func:`pool_samples` pools waveform samples into drift pixels (max, mean, or
  the mean of the three samples around the maximum), for any sample period;
* :func:`resample_image` resamples an image to another physical pixel size
  (area-weighted, separable), with :func:`resample_coordinates` mapping points;
* :func:`crop_to_activity` crops an image to the box holding its charge.
"""

from __future__ import annotations

import numpy as np

from generators.jit import njit

from .records import DEFAULT_DRIFT_WINDOW, DRIFT_POOLINGS

__all__ = ["pool_samples", "sample_pixels", "resample_image", "resample_coordinates", "crop_to_activity"]



def pooling_id(pooling: str) -> int:
    try:
        return DRIFT_POOLINGS.index(pooling)
    except ValueError:
        raise ValueError(f"pooling must be one of {DRIFT_POOLINGS}; Received: pooling={pooling!r}") from None


def sample_pixels(n_samples: int, *, sample_us: float, pixel_us: float, start_us: float = 0.0) -> np.ndarray:
    """Drift pixel of each sample: the pixel its centre falls in (int64, may be <0 or beyond the block)."""
    centres = start_us + (np.arange(n_samples) + 0.5) * sample_us
    return np.floor(centres / pixel_us).astype(np.int64)


@njit
def _pool_kernel(wave, pix, n_pix, mode, out):
    n_rows, n_samp = wave.shape
    for r in range(n_rows):
        s = 0
        while s < n_samp:
            j = pix[s]
            e = s
            while e < n_samp and pix[e] == j:
                e += 1
            if 0 <= j < n_pix:
                if mode == 1:
                    acc = 0.0
                    for k in range(s, e):
                        acc += wave[r, k]
                    out[r, j] = acc / (e - s)
                else:
                    best = s
                    for k in range(s + 1, e):
                        if wave[r, k] > wave[r, best]:
                            best = k
                    if mode == 0:
                        out[r, j] = wave[r, best]
                    else:
                        lo = max(s, best - 1)
                        hi = min(e, best + 2)
                        acc = 0.0
                        for k in range(lo, hi):
                            acc += wave[r, k]
                        out[r, j] = acc / (hi - lo)
            s = e
    return out


@njit
def _fill_empty_pixels(wave, pix, n_pix, filled, out):
    # Pixels no sample centre falls in (input coarser than a pixel) take the sample covering them.
    n_samp = pix.shape[0]
    k = 0
    for j in range(n_pix):
        if filled[j]:
            continue
        while k + 1 < n_samp and pix[k + 1] <= j:
            k += 1
        for r in range(wave.shape[0]):
            out[r, j] = wave[r, k]


def pool_samples(waveforms: np.ndarray, *, window: int | None = None, pooling: str = "max",
                 sample_us: float | None = None, pixel_us: float | None = None, start_us: float = 0.0,
                 n_pixels: int | None = None) -> np.ndarray:
    """Pool waveform samples into drift pixels.

    Args:
        waveforms: array (rows, samples) of ADC values.
        window: samples per pixel when samples are at the native tick (``pixel = window ticks``).
        pooling: "max", "mean" or "mean-around-max" (mean of the max sample and its two neighbours
            within the pixel).
        sample_us, pixel_us, start_us: for samples of any period: sample period, pixel length and
            the time of the first sample's start relative to pixel 0 (all in microseconds).
        n_pixels: output pixels (default: enough for all samples).

    Returns:
        float32 array (rows, n_pixels). A pixel no sample centre falls in (input coarser than a
        pixel) takes the value of the sample covering its centre.
    """
    wave = np.ascontiguousarray(waveforms, dtype=np.float32)
    if wave.ndim != 2:
        raise ValueError(f"waveforms must be 2D (rows, samples); Received: shape={wave.shape}")
    mode = pooling_id(pooling)
    if window is not None:
        if int(window) < 1:
            raise ValueError(f"window must be >= 1; Received: window={window}")
        pix = np.arange(wave.shape[1], dtype=np.int64) // int(window)
    else:
        if not sample_us or not pixel_us or sample_us <= 0 or pixel_us <= 0:
            raise ValueError("give either window, or sample_us and pixel_us > 0")
        pix = sample_pixels(wave.shape[1], sample_us=sample_us, pixel_us=pixel_us, start_us=start_us)
    if n_pixels is None:
        n_pixels = int(pix[-1]) + 1 if len(pix) else 0
    out = np.zeros((wave.shape[0], n_pixels), dtype=np.float32)
    if wave.shape[1] == 0 or n_pixels == 0:
        return out
    _pool_kernel(wave, pix, n_pixels, mode, out)
    filled = np.zeros(n_pixels, dtype=np.bool_)
    inside = pix[(pix >= 0) & (pix < n_pixels)]
    filled[inside] = True
    # Pixels past the last sample stay empty (zero); only gaps inside the covered range are filled.
    covered = np.zeros(n_pixels, dtype=np.bool_)
    lo, hi = max(int(pix[0]), 0), min(int(pix[-1]) + 1, n_pixels)
    covered[lo:hi] = True
    if np.any(covered & ~filled):
        _fill_empty_pixels(wave, pix, n_pixels, filled | ~covered, out)
    return out


def _area_matrix(n_in: int, scale: float, n_out: int):
    """(n_out, n_in) sparse matrix (CSR, float32) averaging input cells over each output cell;
    scale = in size / out size. Each output cell overlaps a few neighbouring input cells only."""
    from scipy.sparse import csr_matrix

    edges_out = np.arange(n_out + 1) / scale  # output cell edges in input-pixel units
    lo, hi = edges_out[:-1], edges_out[1:]
    first = np.clip(np.floor(lo).astype(np.int64), 0, n_in)
    last = np.clip(np.ceil(hi).astype(np.int64), 0, n_in)  # exclusive
    count = np.maximum(last - first, 0)
    row = np.repeat(np.arange(n_out), count)
    col = np.repeat(first, count) + (np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count))
    overlap = np.clip(np.minimum(hi[row], col + 1) - np.maximum(lo[row], col), 0, None)
    width = np.maximum(np.bincount(row, weights=overlap, minlength=n_out), 1e-12)
    return csr_matrix(((overlap / width[row]).astype(np.float32), (row, col)), shape=(n_out, n_in))


def resample_image(image: np.ndarray, *, from_cm: tuple[float, float], to_cm: tuple[float, float]) -> np.ndarray:
    """Resample an image (wires, drift) from pixels of ``from_cm`` to pixels of ``to_cm`` (area average).

    The output covers the same physical extent: ``ceil(n * from / to)`` pixels per axis. Point
    coordinates transform with :func:`resample_coordinates`. Returns float32.
    """
    img = np.asarray(image, dtype=np.float32)
    if img.ndim != 2:
        raise ValueError(f"image must be 2D; Received: shape={img.shape}")
    sw, sd = from_cm[0] / to_cm[0], from_cm[1] / to_cm[1]
    if np.isclose(sw, 1.0) and np.isclose(sd, 1.0):
        return img.copy()
    nw, nd = (int(np.ceil(n * s - 1e-9)) for n, s in zip(img.shape, (sw, sd)))
    mw = _area_matrix(img.shape[0], sw, nw)
    md = _area_matrix(img.shape[1], sd, nd)
    return np.ascontiguousarray((md @ (mw @ img).T).T, dtype=np.float32)


def resample_coordinates(coords, *, from_cm: tuple[float, float], to_cm: tuple[float, float]) -> np.ndarray:
    """Map continuous pixel coordinates (..., 2) between pixel sizes (pixel i spans [i, i+1))."""
    c = np.asarray(coords, dtype=np.float64)
    return c * np.array([from_cm[0] / to_cm[0], from_cm[1] / to_cm[1]])


def crop_to_activity(image: np.ndarray, *, threshold: float = 0, margin: int = 0) -> tuple[np.ndarray, tuple[int, int]]:
    """Crop to the bounding box of pixels above ``threshold``, grown by ``margin`` pixels.

    Returns (crop, (wire origin, drift origin)). An image with no such pixel gives a (0, 0) crop.
    """
    img = np.asarray(image)
    active = img > threshold
    rows = np.flatnonzero(active.any(axis=1))
    if rows.size == 0:
        return img[:0, :0].copy(), (0, 0)
    cols = np.flatnonzero(active.any(axis=0))
    w0 = max(int(rows[0]) - margin, 0)
    w1 = min(int(rows[-1]) + 1 + margin, img.shape[0])
    d0 = max(int(cols[0]) - margin, 0)
    d1 = min(int(cols[-1]) + 1 + margin, img.shape[1])
    return img[w0:w1, d0:d1].copy(), (w0, d0)
