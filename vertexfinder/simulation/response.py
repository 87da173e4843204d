"""Detector response: energy deposits -> per-plane uint8 image crops with per-pixel truth.

Chain, per deposit: ionization electrons ``dE / W`` times the Modified Box
recombination survival at the deposit's dE/dx, attenuated by the electron
lifetime over the drift time; read on each plane at tick ``trigger +
t_deposit / tick + drift time to that plane's wires / tick``; spread over wires by transverse diffusion and over ticks
by longitudinal diffusion combined with the deconvolved signal's width. Charge
is collected per readout channel (so a wrapped induction channel sums the
charge of all its segments), pooled into drift pixels with the chosen pooling,
and copied onto every wire segment the channel reads: the ghosts of real DUNE
images. Then incoherent and coherent noise, zero suppression outside regions
of interest around signals (as signal processing leaves the data), and 8-bit
encoding with saturation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..encoding import adc_to_bytes
from ..imaging import pool_samples
from ..mapper import ImageMapper
from . import kernels
from .physics import LAR, recombination_box

__all__ = ["ResponseConfig", "DriftedCharges", "drifted_charges", "respond"]


@dataclass(frozen=True)
class ResponseConfig:
    """Detector-response parameters (defaults: DUNE-like).

    Attributes:
        field_kv_cm: drift field (recombination).
        electron_lifetime_us: attachment lifetime.
        diffusion_long_cm2_s, diffusion_trans_cm2_s: diffusion constants.
        response_sigma_ticks: width of the deconvolved single-electron response.
        adc_per_electron: ADC x tick per electron on the collection plane (pulse area): a
            perpendicular MIP (~3e4 electrons per wire) peaks at ~40 ADC.
        induction_gain: deconvolved induction signal relative to collection.
        noise_adc: incoherent noise RMS per pixel; coherent_noise_adc: RMS common to groups of
            ``coherent_group`` adjacent wires.
        roi_threshold_adc, roi_pad_pixels: zero suppression: a pixel survives when within
            ``roi_pad_pixels`` drift pixels (and one wire) of a pixel above the threshold.
        crop_margin_pixels: margin around the true activity of the stored crop.
    """

    field_kv_cm: float = 0.5
    electron_lifetime_us: float = LAR.electron_lifetime_us
    diffusion_long_cm2_s: float = LAR.diffusion_long_cm2_per_s
    diffusion_trans_cm2_s: float = LAR.diffusion_trans_cm2_per_s
    response_sigma_ticks: float = 2.5
    adc_per_electron: float = 1.0 / 120.0
    induction_gain: float = 0.8
    noise_adc: float = 1.5
    coherent_noise_adc: float = 0.7
    coherent_group: int = 32
    roi_threshold_adc: float = 8.0
    roi_pad_pixels: int = 3
    crop_margin_pixels: int = 16

    def __post_init__(self):
        for name in ("electron_lifetime_us", "response_sigma_ticks", "adc_per_electron", "field_kv_cm"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0; Received: {name}={getattr(self, name)}")
        for name in ("noise_adc", "coherent_noise_adc", "roi_threshold_adc", "diffusion_long_cm2_s", "diffusion_trans_cm2_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0; Received: {name}={getattr(self, name)}")


class DriftedCharges(NamedTuple):
    """The charge of the deposits inside a TPC as it reaches the wires (:func:`drifted_charges`).

    Attributes:
        keep: bool (N,): which of the N deposits given lie inside a TPC (the rows below).
        xyz: (M, 3) cm, their positions; tpc: (M,) their TPC.
        electrons: (M,) ionization electrons reaching the anode.
        tick: (M, planes) the tick at which each readout plane reads the charge (when it reaches
            that plane's wires).
        sig_tick: (M,) longitudinal spread in ticks; sig_t_cm: (M,) transverse spread in cm.
    """

    keep: np.ndarray
    xyz: np.ndarray
    tpc: np.ndarray
    electrons: np.ndarray
    tick: np.ndarray
    sig_tick: np.ndarray
    sig_t_cm: np.ndarray


def drifted_charges(mapper: ImageMapper, cfg: ResponseConfig, xyz, de, dedx, time_ns) -> DriftedCharges:
    """Per deposit inside a TPC: electrons reaching the anode, the tick on every readout plane
    (array (deposits, planes): each plane reads the charge when it reaches that plane's wires),
    and the longitudinal (ticks) and transverse (cm) spreads."""
    det = mapper.detector
    tpc = det.tpc_of(xyz)
    keep = tpc >= 0
    xyz, de, dedx, time_ns, tpc = xyz[keep], de[keep], dedx[keep], time_ns[keep], tpc[keep]
    anode_x = np.array([t.anode_x_cm for t in det.tpcs])[tpc]
    side = np.array([t.side for t in det.tpcs])[tpc]
    plane_x = np.array([[p.x_cm for p in t.planes] for t in det.tpcs])[tpc]  # (deposits, planes)
    dist = np.clip((xyz[:, 0] - anode_x) * side, 0, None)
    t_drift_us = dist / det.drift_velocity_cm_per_us
    electrons = de / LAR.w_ion_mev * recombination_box(np.clip(dedx, 1.0, None), cfg.field_kv_cm)
    electrons *= np.exp(-t_drift_us / cfg.electron_lifetime_us)
    plane_dist = dist[:, None] + (anode_x[:, None] - plane_x) * side[:, None]
    tick = det.trigger_offset_ticks + (time_ns[:, None] / 1000.0 + plane_dist / det.drift_velocity_cm_per_us) / det.tick_us
    sig_l = np.sqrt(2 * cfg.diffusion_long_cm2_s * t_drift_us * 1e-6) / det.cm_per_tick
    sig_tick = np.sqrt(sig_l**2 + cfg.response_sigma_ticks**2)
    sig_t_cm = np.sqrt(2 * cfg.diffusion_trans_cm2_s * t_drift_us * 1e-6)
    return DriftedCharges(keep, xyz, tpc, electrons, tick, sig_tick, sig_t_cm)


def respond(mapper: ImageMapper, deposits, vertex_positions, vertex_times_ns, rng: np.random.Generator,
            cfg: ResponseConfig = ResponseConfig()):
    """Turn deposits into per-view crops.

    Args:
        deposits: (xyz (N,3) cm, de MeV, dedx MeV/cm, time ns, origin vertex index).
        vertex_positions, vertex_times_ns: truth vertices, to project (with their time offset).

    Returns:
        (planes, vertex_planes): planes = list per view of (uint8 crop, origin, int16 truth map);
        vertex_planes = float array (vertices, views, 2) of global coordinates (NaN outside TPCs
        or the readout window).
    """
    det = mapper.detector
    xyz, de, dedx, time_ns, origin = deposits
    keep, xyz, tpc, electrons, tick, sig_tick, sig_t_cm = drifted_charges(mapper, cfg, xyz, de, dedx, time_ns)
    origin = origin[keep]
    inwin = np.all((tick >= 0) & (tick < det.ticks_per_readout), axis=1)
    xyz, tpc, electrons, tick, sig_tick, sig_t_cm, origin = (a[inwin] for a in (xyz, tpc, electrons, tick, sig_tick, sig_t_cm, origin))
    n_views = len(mapper.views)
    N = mapper.drift_window
    vplanes = _project_vertices(mapper, vertex_positions, vertex_times_ns)
    if len(electrons) == 0:
        empty = [(np.zeros((0, 0), np.uint8), (0, 0), np.zeros((0, 0), np.int16)) for _ in range(n_views)]
        return empty, vplanes

    # -- tick window shared by all planes, aligned to pixels
    t_lo = max(int(math.floor(tick.min() - 4 * sig_tick.max())) // N * N, 0)
    t_hi = min(int(math.ceil(tick.max() + 4 * sig_tick.max())), det.ticks_per_readout)
    n_t = t_hi - t_lo

    # -- rasterise per (tpc, readout plane), then sum rows into channels
    n_planes = len(det.plane_names)
    groups = []  # (tpc, k, w_lo, n_w)
    gw_all = np.zeros((len(xyz), n_planes))
    row_of = np.zeros((len(xyz), n_planes), dtype=np.int64)
    row_base, n_wires = [], []
    base = 0
    for t in np.unique(tpc):
        sel = tpc == t
        for k, plane in enumerate(det.tpcs[t].planes):
            w = plane.wire_coordinate(xyz[sel, 1], xyz[sel, 2])
            sw = np.maximum(sig_t_cm[sel] / plane.pitch_cm, 0.05)
            w_lo = max(int(np.floor((w - 3 * sw).min())), 0)
            w_hi = min(int(np.floor((w + 3 * sw).max())) + 1, plane.n_wires)
            if w_hi <= w_lo:
                w_lo, w_hi = 0, 0
            gw_all[sel, k] = w - w_lo
            row_of[sel, k] = len(groups)
            groups.append((int(t), k, w_lo, w_hi - w_lo))
            row_base.append(base)
            n_wires.append(w_hi - w_lo)
            base += w_hi - w_lo
    raster = np.zeros((base, n_t), dtype=np.float32)
    row_base = np.array(row_base, dtype=np.int64)
    n_wires = np.array(n_wires, dtype=np.int64)
    for k in range(n_planes):
        pitch = np.array([t.planes[k].pitch_cm for t in det.tpcs])[tpc]
        kernels.rasterise(gw_all[:, k], tick[:, k] - t_lo, electrons, np.maximum(sig_t_cm / pitch, 0.05), sig_tick,
                          row_of[:, k], n_wires, row_base, n_t, raster)
    chan_of_row = np.concatenate(
        [det.tpcs[t].planes[k].channels[w_lo : w_lo + n] for t, k, w_lo, n in groups]
    ) if groups else np.zeros(0, np.int64)
    gain = np.concatenate([
        np.full(n, cfg.adc_per_electron * (1.0 if det.tpcs[t].planes[k].collection else cfg.induction_gain))
        for t, k, w_lo, n in groups
    ]).astype(np.float32)
    channels, inverse = np.unique(chan_of_row, return_inverse=True)
    waves = np.zeros((len(channels), n_t), dtype=np.float32)
    kernels.sum_rows(raster, inverse.astype(np.int64), gain, waves)
    pooled = pool_samples(waves, window=N, pooling=mapper.pooling)  # pixel j <-> ticks t_lo + jN ...
    p0 = t_lo // N

    # -- crop boxes from the true activity, then place every segment of every lit channel
    charge_px = mapper.project_points(xyz)  # (n, views, 2), ignoring time offsets for the box
    planes = []
    seg = det.segment_table()
    lo = np.searchsorted(seg["channel"], channels, side="left")
    hi = np.searchsorted(seg["channel"], channels, side="right")
    seg_idx = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi)])
    seg_row = np.repeat(np.arange(len(channels)), hi - lo)
    s_tpc, s_plane, s_wire = seg["tpc"][seg_idx], seg["plane"][seg_idx], seg["wire"][seg_idx]
    for v, view in enumerate(mapper.views):
        shape = mapper.shape(v)
        k_of = mapper.plane_index(v, tpc)  # each deposit's readout plane in this view
        gd = mapper.tick_to_global_drift(tpc, tick[np.arange(len(tick)), k_of], v)
        gw = charge_px[:, v, 0]
        m = cfg.crop_margin_pixels
        w0 = max(int(np.floor(gw.min())) - m, 0)
        w1 = min(int(np.floor(gw.max())) + 1 + m, shape[0])
        d0 = max(int(np.floor(gd.min())) - m, 0)
        d1 = min(int(np.floor(gd.max())) + 1 + m, shape[1])
        img = np.zeros((w1 - w0, d1 - d0), dtype=np.float32)
        for t in np.unique(s_tpc):
            for k in range(n_planes):
                sel = (s_tpc == t) & (s_plane == k)
                if not sel.any() or det.tpcs[t].planes[k].view != view:
                    continue
                gwire = mapper.wire_to_global(v, t, s_wire[sel] + 0.5).astype(np.int64) - w0
                ok = (gwire >= 0) & (gwire < img.shape[0])
                if not ok.any():
                    continue
                start, n_block, flip = mapper.drift_block(t, v)
                j = p0 + np.arange(pooled.shape[1])
                gdr = (start + n_block - 1 - j) if flip else (start + j)
                gdr = gdr - d0
                okd = (gdr >= 0) & (gdr < img.shape[1]) & (j < n_block)
                if not okd.any():
                    continue
                rows = seg_row[sel][ok]
                img[np.ix_(gwire[ok], gdr[okd])] += pooled[rows][:, okd]
        img = _noise_and_zero_suppress(img, cfg, rng)
        pixels = adc_to_bytes(img)
        truth = _truth_map(gw - w0, gd - d0, electrons, origin, pixels)
        planes.append((pixels, (w0, d0), truth))
    return planes, vplanes


def _noise_and_zero_suppress(img, cfg: ResponseConfig, rng):
    if img.size == 0:
        return img
    noisy = img + cfg.noise_adc * rng.standard_normal(img.shape, dtype=np.float32) if cfg.noise_adc > 0 else img.copy()
    if cfg.coherent_noise_adc > 0:
        groups = -(-img.shape[0] // cfg.coherent_group)
        common = cfg.coherent_noise_adc * rng.standard_normal((groups, img.shape[1]), dtype=np.float32)
        noisy += np.repeat(common, cfg.coherent_group, axis=0)[: img.shape[0]]
    above = noisy > cfg.roi_threshold_adc
    roi = above.copy()
    for s in range(1, cfg.roi_pad_pixels + 1):
        roi[:, s:] |= above[:, :-s]
        roi[:, :-s] |= above[:, s:]
    roi[1:] |= roi[:-1].copy()
    roi[:-1] |= roi[1:].copy()
    return np.where(roi, np.clip(noisy, 0, None), 0.0)


def _truth_map(gw, gd, electrons, origin, pixels):
    """Per pixel the vertex whose charge dominates it (-1: none or no charge left)."""
    truth = np.full(pixels.shape, -1, dtype=np.int16)
    wi, di = np.floor(gw).astype(np.int64), np.floor(gd).astype(np.int64)
    ok = (wi >= 0) & (wi < pixels.shape[0]) & (di >= 0) & (di < pixels.shape[1])
    if not ok.any():
        return truth
    flat = wi[ok] * pixels.shape[1] + di[ok]
    org = origin[ok].astype(np.int64) + 1  # -1 (charge of no vertex, e.g. cosmic tracks) -> 0
    n_v = int(org.max()) + 1
    key = flat * n_v + org
    keys, inv = np.unique(key, return_inverse=True)
    q = np.bincount(inv, weights=electrons[ok])
    pix, vtx = keys // n_v, keys % n_v - 1
    order = np.lexsort((-q, pix))  # per pixel, largest charge first
    first = np.ones(len(order), bool)
    first[1:] = pix[order][1:] != pix[order][:-1]
    best = order[first]
    truth.ravel()[pix[best]] = vtx[best]
    # charge spread by diffusion and the response into neighbouring pixels belongs to the same
    # origin: give charged pixels without truth that of the nearest pixel with truth within 2 px
    # (ghosts of wrapped channels are further away and stay -1)
    missing = (pixels > 0) & (truth < 0)
    if missing.any() and (truth >= 0).any():
        from scipy.ndimage import distance_transform_edt

        dist, (iw, idr) = distance_transform_edt(truth < 0, return_indices=True)
        fill = missing & (dist <= 2.0)
        truth[fill] = truth[iw[fill], idr[fill]]
    truth[pixels == 0] = -1
    return truth


def _project_vertices(mapper: ImageMapper, positions, times_ns):
    det = mapper.detector
    pos = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    out = mapper.project_points(pos)
    tpc = det.tpc_of(pos)
    for i, t in enumerate(tpc):
        if t < 0:
            continue
        for v in range(len(mapper.views)):
            k = int(mapper.plane_index(v, t))
            tick = det.drift_ticks(t, pos[i, 0], plane=k) + times_ns[i] / 1000.0 / det.tick_us
            if not 0 <= tick < det.ticks_per_readout:
                out[i] = np.nan
                break
            out[i, v, 1] = mapper.tick_to_global_drift(t, tick, v)
    return out
