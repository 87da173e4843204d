"""The charge of an event: a scale that does not depend on the user's units, and varied detector
responses for training (NumPy and SciPy only).

**Normalisation.** Charge arrives in the user's units (raw ADC, signal-processed electrons per
sample mapped to bytes, a gain that differs from the simulation's). :func:`charge_scale` measures
one number per event from its track-like pixels: the peak of each wire's pulse (the maximum along
drift of every image row), and of those the median of the peaks at or above 0.3 times their 90th
percentile. Tracks crossing wires give peaks near the MIP charge; wires with only low-level noise
give low peaks, below the cut, however many there are; all quantiles move with the gain. Only
saturation (gains several times the simulation's, peaks at 255) pulls the estimate down. :func:`normalise` rescales every plane so that
this number becomes ``reference`` (the value of the training simulation); low-level noise spread
over the crops (:func:`noise_rms`) can be cut first, and a threshold applied after. The finder and the training datasets apply the same function, so
an event and the same event times 0.25 or 4 look alike to the network.

**Varied response.** :func:`vary_response` draws a detector response unlike the simulation's:
a gain, Gaussian smearing along wire and drift (deconvolution and filters spread charge), low-level
noise, a threshold, and dead wires. Training on such images teaches the network what real
signal-processed images look like.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["charge_scale", "noise_rms", "normalise", "ResponseSpec", "vary_response", "apply_response", "REFERENCE_SCALE"]

#: charge_scale of simulated DUNE FD nu-mix events (median over events, bytes; 37 on the 150
#: events of seed 99, with 10% of events below 30 and 10% above 48).
REFERENCE_SCALE = 37.0


def charge_scale(images) -> float:
    """The event's charge scale (bytes) from its plane images (uint8); NaN without charge."""
    peaks = [np.asarray(im).max(axis=1) for im in images if np.asarray(im).size]
    peaks = np.concatenate(peaks) if peaks else np.zeros(0)
    peaks = peaks[peaks > 0]
    if peaks.size == 0:
        return float("nan")
    cut = 0.3 * np.percentile(peaks, 90)
    return float(np.median(peaks[peaks >= cut]))


def noise_rms(image) -> float:
    """RMS (bytes) of low-level noise spread over an image, from its 75th percentile: noise of RMS
    ``s`` with negative values dropped has its 75th percentile at 0.674 ``s``; a zero-suppressed
    image (charge only on and near tracks, most pixels 0) gives 0."""
    image = np.asarray(image)
    if image.size == 0 or np.count_nonzero(image) <= image.size // 4:  # the 75th percentile is 0
        return 0.0
    return float(np.percentile(image, 75)) / 0.674


def normalise(images, *, reference: float = REFERENCE_SCALE, threshold: float = 0.0, noise_sigmas: float = 0.0,
              scale: float | None = None):
    """Plane images rescaled so the event's :func:`charge_scale` becomes ``reference``. Returns uint8.

    Before rescaling, pixels below ``noise_sigmas`` times each plane's :func:`noise_rms` are set
    to zero (0: keep them); after it, pixels below ``threshold`` bytes. ``scale``: the event's
    charge scale if already known (else measured on the images).
    """
    images = [np.asarray(im) for im in images]
    if noise_sigmas > 0:
        cleaned = []
        for im in images:
            cut = noise_sigmas * noise_rms(im)
            cleaned.append(np.where(im < cut, 0, im).astype(np.uint8) if cut > 0 else im)
        images = cleaned
    s = charge_scale(images) if scale is None else float(scale)
    factor = reference / s if np.isfinite(s) and s > 0 else 1.0
    out = []
    for im in images:
        if abs(factor - 1.0) > 1e-3:
            x = np.clip(np.rint(im.astype(np.float32) * factor), 0, 255).astype(np.uint8)
        else:
            x = im.astype(np.uint8, copy=True)
        if threshold > 0:
            x[x < threshold] = 0
        out.append(x)
    return out


@dataclass(frozen=True)
class ResponseSpec:
    """Ranges a varied response is drawn from (uniform unless said).

    Args:
        probability: share of events whose response is varied (the rest stay as simulated).
        gain: (lo, hi) gain factor, log-uniform.
        smear_px: (lo, hi) Gaussian smearing (pixels) along wire and along drift, each drawn.
        noise: (lo, hi) RMS (bytes) of low-level noise added to the crop (negative values dropped).
        threshold: (lo, hi) bytes below which pixels are set to zero afterwards.
        dead_fraction: (lo, hi) share of wires (image rows) read as zero.
    """

    probability: float = 0.5
    gain: tuple = (0.5, 2.0)
    smear_px: tuple = (0.0, 1.2)
    noise: tuple = (0.0, 3.0)
    threshold: tuple = (0.0, 3.0)
    dead_fraction: tuple = (0.0, 0.03)

    def __post_init__(self):
        if not 0 <= self.probability <= 1:
            raise ValueError(f"probability must be in [0, 1]; Received: {self.probability}")
        for name in ("gain", "smear_px", "noise", "threshold", "dead_fraction"):
            lo, hi = (float(v) for v in getattr(self, name))
            if hi < lo or lo < 0:
                raise ValueError(f"{name} must be a range (lo, hi) with 0 <= lo <= hi; Received: {getattr(self, name)}")
            object.__setattr__(self, name, (lo, hi))
        if self.gain[0] <= 0:
            raise ValueError("gain must be > 0")


def vary_response(images, rng: np.random.Generator, spec: ResponseSpec = ResponseSpec()):
    """The plane images (uint8) of one event seen with a response drawn from ``spec`` (one draw
    per event, shared by its planes, as a real detector's would be). Returns new uint8 images."""
    images = [np.asarray(im) for im in images]
    if rng.random() >= spec.probability:
        return [im.copy() for im in images]
    gain = float(np.exp(rng.uniform(np.log(spec.gain[0]), np.log(spec.gain[1]))))
    sw, sd = rng.uniform(*spec.smear_px, size=2)
    return apply_response(images, rng, gain=gain, smear_px=(sw, sd), noise=rng.uniform(*spec.noise),
                          threshold=rng.uniform(*spec.threshold), dead_fraction=rng.uniform(*spec.dead_fraction))


def apply_response(images, rng: np.random.Generator | None = None, *, gain: float = 1.0, smear_px=(0.0, 0.0),
                   noise: float = 0.0, threshold: float = 0.0, dead_fraction: float = 0.0):
    """Plane images (uint8) seen with a given response: times ``gain``, smeared by Gaussians of
    ``smear_px`` (wire, drift) pixels (charge kept), plus low-level noise of RMS ``noise`` bytes on
    every pixel (negative values dropped), pixels below ``threshold`` zeroed, a share
    ``dead_fraction`` of wires (rows) read as zero, saturating at 255. ``rng`` draws the noise and
    the dead wires."""
    from scipy.ndimage import gaussian_filter

    rng = rng if rng is not None else np.random.default_rng(0)
    sw, sd = (float(smear_px), float(smear_px)) if np.isscalar(smear_px) else (float(v) for v in smear_px)
    out = []
    for im in (np.asarray(im) for im in images):
        x = im.astype(np.float32) * gain
        if x.size and (sw > 0.05 or sd > 0.05):
            x = gaussian_filter(x, sigma=(sw, sd), mode="constant")
        if x.size and noise > 0:
            x += rng.normal(0.0, noise, size=x.shape).astype(np.float32)
        x[x < threshold] = 0
        if x.size and dead_fraction > 0:
            x[rng.random(x.shape[0]) < dead_fraction] = 0
        out.append(np.clip(np.rint(x), 0, 255).astype(np.uint8))
    return out
