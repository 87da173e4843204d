"""Event sources: neutrino interactions, cosmic muons and single-particle guns.

Neutrino interactions (the multiplicity model, documented here because the
product's realism rests on it):

* Energy: DUNE-like spectrum, Gamma(k=3.5, theta=1.0 GeV) truncated to
  0.3-10 GeV (mode 2.5 GeV); ``beam="booster"``: Gamma(3, 0.4 GeV) truncated
  to 0.2-3 GeV (mode 0.8 GeV, MicroBooNE/SBND-like).
* Channel by energy: quasi-elastic ``0.45 / (1 + E/2 GeV)``, resonant
  ``0.35 / (1 + E/4 GeV)``, the rest deep/shallow inelastic.
* Kinematics: Q^2 from a dipole (M_A = 1 GeV); QE: W = nucleon mass; RES:
  W from a Breit-Wigner at 1.232 GeV (width 0.117); DIS: Bjorken y uniform,
  x from Beta(0.5, 3). The lepton follows from (nu, Q^2); the hadronic system
  (with 220 MeV/c Fermi motion and 30 MeV binding) decays by N-body phase space
  into a nucleon and pions: DIS charged-pion multiplicity Poisson with mean
  ``0.4 + 0.6 ln(W^2 / GeV^2)`` + 0.3 pi0 per charged pion; charge conservation
  picks proton or neutron.
* Final-state interactions: with probability 0.35 one or two extra protons
  (T ~ exp, mean 40 MeV) knocked out; pions are absorbed with probability 0.15
  (replaced by a proton).
* CC: mu- (nu_mu) or e- (nu_e); NC: the outgoing neutrino is invisible.
* Vertex uniform in the fiducial volume (TPC boxes shrunk by a margin).

Cosmic muons: sea-level flux ~1 /cm^2/min through a horizontal surface,
cos^2 zenith distribution, E^-2.7 spectrum from 1 to 100 GeV plus a soft
component down to 0.2 GeV, mu+/mu- = 1.25, arrival times uniform over the
window in which their charge can be read (from one drift time before the
readout's first tick to its end): their charge is shifted in drift by their
time, cut at the window's edges, and a track crossing a cathode out of time
shows as two pieces that do not meet (:func:`cosmic_rate` gives the mean).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..records import FLAG_HADRONIC, FLAG_NU_PRIMARY, FLAG_PI0
from .physics import particle_mass_mev
from .kinematics import boost as _boost
from .kinematics import isotropic as _isotropic
from .transport import M_N, M_P, M_PI

__all__ = ["Primary", "Interaction", "neutrino_interaction", "cosmic_muons", "cosmic_rate", "gun", "sample_vertex"]

#: Sea-level muon flux through a horizontal surface, per cm^2 per minute.
COSMIC_FLUX_PER_CM2_MIN = 1.0
#: Margin (cm) around the detector's top face in x and z over which muons are drawn (inclined
#: muons entering through the side faces).
COSMIC_MARGIN_CM = 100.0

M_PI0 = 134.9768
M_AVG = 0.5 * (M_P + M_N)


@dataclass
class Primary:
    pdg: int
    p4: np.ndarray  # (E, px, py, pz) MeV


@dataclass
class Interaction:
    """A vertex with its outgoing particles."""

    position: np.ndarray
    primaries: list
    flags: int = FLAG_NU_PRIMARY | FLAG_HADRONIC
    nu_pdg: int = 0
    ccnc: str = ""
    energy_gev: float = float("nan")
    time_ns: float = 0.0


def _truncated_gamma(rng, k, theta, lo, hi):
    while True:
        e = rng.gamma(k, theta)
        if lo <= e <= hi:
            return e


def sample_vertex(detector, rng, *, margin_cm=10.0):
    """A point uniform in the fiducial volume (every TPC box shrunk by ``margin_cm``)."""
    boxes = np.array([t.box for t in detector.tpcs]).reshape(-1, 3, 2)
    lo = boxes[:, :, 0] + margin_cm
    hi = boxes[:, :, 1] - margin_cm
    size = np.clip(hi - lo, 0, None)
    vol = size.prod(axis=1)
    if vol.sum() <= 0:
        raise ValueError(f"{detector.name}: fiducial margin {margin_cm} cm leaves no volume")
    t = rng.choice(len(vol), p=vol / vol.sum())
    return lo[t] + rng.random(3) * size[t]


def _dipole_q2(rng, q2max, ma2=1.0):
    while True:  # dsigma/dQ2 ~ (1 + Q2/MA2)^-4 (GeV^2)
        q2 = rng.random() * q2max
        if rng.random() < (1 + q2 / ma2) ** -4:
            return q2


def _genbod(w, masses, rng, tries=50):
    """N-body phase-space decay of mass w at rest (Raubold-Lynch with weight rejection)."""
    masses = np.asarray(masses, dtype=np.float64)
    n = len(masses)
    if w <= masses.sum():
        return None
    if n == 1:
        return [np.array([w, 0.0, 0.0, 0.0])]
    tecm = w - masses.sum()
    best = None
    for _ in range(tries):
        r = np.sort(rng.random(n - 2))
        invm = np.concatenate([[masses[0]], np.cumsum(masses)[1:-1] + r * tecm, [w]])
        invm[0] = masses[0]
        pd = []
        wt = 1.0
        ok = True
        for i in range(1, n):
            m, ma, mb = invm[i], invm[i - 1], masses[i]
            arg = (m**2 - (ma + mb) ** 2) * (m**2 - (ma - mb) ** 2)
            if arg < 0:
                ok = False
                break
            p = math.sqrt(arg) / (2 * m)
            pd.append(p)
            wt *= p
        if not ok:
            continue
        if best is None or rng.random() < 0.5:
            best = (invm, pd)
        if rng.random() < 0.5:
            break
    if best is None:
        return None
    invm, pd = best
    # build momenta from the innermost pair outwards
    p4 = [np.array([math.hypot(pd[0], masses[0]), 0.0, 0.0, 0.0])]
    d = _isotropic(rng)
    p4[0][1:] = pd[0] * d
    p4.append(np.concatenate([[math.hypot(pd[0], masses[1])], -pd[0] * d]))
    for i in range(2, n):
        d = _isotropic(rng)
        new = np.concatenate([[math.hypot(pd[i - 1], masses[i])], -pd[i - 1] * d])
        ea = math.hypot(pd[i - 1], invm[i - 1])
        beta = pd[i - 1] * d / ea
        p4 = [_boost(q, beta) for q in p4]
        p4.append(new)
    return p4


def neutrino_interaction(detector, rng, *, flavor="numu", current="CC", beam="dune", margin_cm=10.0) -> Interaction:
    """One neutrino interaction: vertex, energy, outgoing particles (see module docstring)."""
    if beam == "dune":
        e_nu = _truncated_gamma(rng, 3.5, 1.0, 0.3, 10.0)
    elif beam == "booster":
        e_nu = _truncated_gamma(rng, 3.0, 0.4, 0.2, 3.0)
    else:
        raise ValueError(f"beam must be 'dune' or 'booster'; Received: beam={beam!r}")
    nu_pdg = {"numu": 14, "nue": 12}[flavor]
    lep_pdg = {"numu": 13, "nue": 11}[flavor] if current == "CC" else nu_pdg
    m_l = particle_mass_mev(lep_pdg) / 1000.0 if current == "CC" else 0.0
    E = e_nu
    M = M_AVG / 1000.0
    f_qe = 0.45 / (1 + E / 2.0)
    f_res = 0.35 / (1 + E / 4.0)
    u = rng.random()
    channel = "QE" if u < f_qe else ("RES" if u < f_qe + f_res else "DIS")
    for _ in range(200):
        if channel == "QE":
            W = M
            q2 = _dipole_q2(rng, 2 * M * E)
            nu = (q2 + W**2 - M**2) / (2 * M)
        elif channel == "RES":
            W = 1.232 + 0.117 / 2 * math.tan(math.pi * (rng.random() - 0.5))
            if not 1.08 < W < min(1.6, math.sqrt(M**2 + 2 * M * E) - m_l):
                continue
            q2 = _dipole_q2(rng, 2 * M * E)
            nu = (q2 + W**2 - M**2) / (2 * M)
        else:
            y = rng.uniform(0.05, 0.95)
            x = rng.beta(0.5, 3.0)
            nu = y * E
            q2 = 2 * M * x * nu
            W2 = M**2 + 2 * M * nu - q2
            if W2 < 1.6**2:
                continue
            W = math.sqrt(W2)
        e_l = E - nu
        if e_l <= m_l:
            continue
        p_l = math.sqrt(e_l**2 - m_l**2)
        cos_l = (2 * E * e_l - m_l**2 - q2) / (2 * E * p_l)
        if abs(cos_l) <= 1:
            break
    else:
        channel, W, nu, e_l, cos_l = "QE", M, 0.1, E - 0.1, 1.0
        p_l = math.sqrt(max(e_l**2 - m_l**2, 0))
    # beam along +z; lepton at cos_l with random azimuth
    phi = rng.uniform(0, 2 * math.pi)
    s = math.sqrt(max(1 - cos_l**2, 0))
    p_lep = np.array([p_l * s * math.cos(phi), p_l * s * math.sin(phi), p_l * cos_l]) * 1000.0
    p_nu = np.array([0.0, 0.0, E * 1000.0])
    fermi = _isotropic(rng) * 220.0 * rng.random() ** (1 / 3)
    q3 = p_nu - p_lep + fermi
    e_had = nu * 1000.0 + M_AVG - 30.0
    W_mev = math.sqrt(max(e_had**2 - q3 @ q3, (M_AVG + 1) ** 2))
    # hadron content
    if channel == "QE":
        had = [2212 if current == "CC" else int(rng.choice([2212, 2112]))]
    elif channel == "RES":
        had = [int(rng.choice([2212, 2112], p=[0.7, 0.3])), int(rng.choice([211, 111], p=[0.65, 0.35]))]
    else:
        n_ch = rng.poisson(0.4 + 0.6 * math.log(max(W**2, 1.0)))
        n_pi0 = rng.binomial(n_ch + 1, 0.3)
        charged = [int(rng.choice([211, -211], p=[0.6, 0.4])) for _ in range(n_ch)]
        had = [int(rng.choice([2212, 2112], p=[0.6, 0.4]))] + charged + [111] * n_pi0
    masses = [{2212: M_P, 2112: M_N, 211: M_PI, -211: M_PI, 111: M_PI0}[h] for h in had]
    while sum(masses) >= W_mev and len(had) > 1:
        had.pop()
        masses.pop()
    rest = _genbod(W_mev, masses, rng) if len(had) > 1 else [np.array([W_mev, 0, 0, 0.0])]
    if rest is None:
        rest = [np.array([W_mev, 0, 0, 0.0])]
        had, masses = had[:1], masses[:1]
    # the hadronic system's velocity: momentum over energy, with its energy from W (equal to e_had
    # unless W was raised to the nucleon mass, where e_had would give |beta| >= 1)
    beta = q3 / math.sqrt(W_mev**2 + q3 @ q3)
    primaries = []
    if current == "CC":
        primaries.append(Primary(lep_pdg, np.concatenate([[e_l * 1000.0], p_lep])))
    for h, p4 in zip(had, rest):
        primaries.append(Primary(h, _boost(p4, beta)))
    # final-state interactions
    out = []
    for pr in primaries:
        if abs(pr.pdg) == 211 and rng.random() < 0.15:
            t = max(pr.p4[0] - M_PI, 0) * rng.uniform(0.3, 0.8)
            out.append(_proton_with_kinetic(t, rng))
        else:
            out.append(pr)
    if rng.random() < 0.35:
        for _ in range(1 + int(rng.random() < 0.4)):
            out.append(_proton_with_kinetic(rng.exponential(40.0) + 5.0, rng))
    flags = FLAG_NU_PRIMARY | FLAG_HADRONIC
    if any(p.pdg == 111 for p in out):
        flags |= FLAG_PI0
    return Interaction(sample_vertex(detector, rng, margin_cm=margin_cm), out, flags, nu_pdg, current, e_nu)


def _proton_with_kinetic(t, rng):
    e = t + M_P
    p = math.sqrt(e**2 - M_P**2)
    return Primary(2212, np.concatenate([[e], p * _isotropic(rng)]))


def _cosmic_window(detector):
    """(x0, x1, z0, z1, y_top, t_lo us, t_hi us): where and when cosmic muons are drawn."""
    b = detector.bounds_cm
    m = COSMIC_MARGIN_CM
    drift_us = max(t.drift_cm for t in detector.tpcs) / detector.drift_velocity_cm_per_us
    # charge read at tick trigger_offset + (t + drift time to the anode) / tick: the first tick
    # sees cathode charge of t = -(drift + trigger offset), the last anode charge of t_hi
    t_lo = -drift_us - detector.trigger_offset_ticks * detector.tick_us
    t_hi = (detector.ticks_per_readout - detector.trigger_offset_ticks) * detector.tick_us
    return b[0, 0] - m, b[0, 1] + m, b[2, 0] - m, b[2, 1] + m, b[1, 1] + 1.0, t_lo, t_hi


def cosmic_rate(detector) -> float:
    """Mean number of cosmic muons drawn per readout (``--cosmics auto`` on a surface detector):
    the sea-level flux times the area of the detector's top face with ``COSMIC_MARGIN_CM`` around
    it, times the time over which their charge can be read (one drift time before the trigger to
    the end of the readout). Muons that then miss the active volume leave nothing, so fewer reach
    it (``docs``/README give both per detector)."""
    x0, x1, z0, z1, _, t_lo, t_hi = _cosmic_window(detector)
    return COSMIC_FLUX_PER_CM2_MIN / 60.0 / 1e6 * (x1 - x0) * (z1 - z0) * (t_hi - t_lo)


def cosmic_muons(detector, rng, n: int | None = None):
    """Cosmic muons crossing the detector during the readout.

    Returns a list of (position (3,), direction (3,), kinetic MeV, pdg, time ns) of those that
    reach the active volume (their entry point). With ``n`` None the number drawn is Poisson with
    mean :func:`cosmic_rate`; ``n`` given draws that many (some may miss the detector).
    """
    b = detector.bounds_cm
    x0, x1, z0, z1, y_top, t_lo, t_hi = _cosmic_window(detector)
    if n is None:
        n = rng.poisson(cosmic_rate(detector))
    out = []
    for _ in range(n):
        cos_z = rng.random() ** (1 / 3)  # cos^2 zenith times cos for a horizontal surface
        phi = rng.uniform(0, 2 * math.pi)
        s = math.sqrt(1 - cos_z**2)
        d = np.array([s * math.cos(phi), -cos_z, s * math.sin(phi)])
        if rng.random() < 0.3:
            e = rng.uniform(200.0, 1000.0)
        else:
            e = 1000.0 * (1 - rng.random() * (1 - 100.0 ** -1.7)) ** (-1 / 1.7)
        pos = np.array([rng.uniform(x0, x1), y_top, rng.uniform(z0, z1)])
        pdg = 13 if rng.random() < 1 / 2.25 else -13
        t = rng.uniform(t_lo, t_hi) * 1000.0
        entry = _box_entry(pos, d, b)
        if entry is not None:  # muons that miss the detector leave nothing
            out.append((entry, d, e, pdg, t))
    return out


def _box_entry(pos, d, bounds):
    """First point of the ray pos + s d (s >= 0) inside the box bounds (3, 2), or None."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = (bounds[:, 0] - pos) / d
        t2 = (bounds[:, 1] - pos) / d
    t1 = np.where(d == 0, np.where((pos >= bounds[:, 0]) & (pos <= bounds[:, 1]), -np.inf, np.inf), t1)
    t2 = np.where(d == 0, np.where((pos >= bounds[:, 0]) & (pos <= bounds[:, 1]), np.inf, -np.inf), t2)
    s_in = np.max(np.minimum(t1, t2))
    s_out = np.min(np.maximum(t1, t2))
    if s_out < max(s_in, 0):
        return None
    return pos + (max(s_in, 0) + 1e-6) * d


def gun(detector, rng, *, pdg: int, energy_mev, position=None, direction=None, margin_cm: float = 10.0):
    """One particle: kinetic energy fixed or uniform in (lo, hi); position default a point of the
    fiducial volume (``margin_cm`` from the TPC faces), direction default isotropic."""
    if np.ndim(energy_mev) == 0:
        t = float(energy_mev)
    else:
        lo, hi = energy_mev
        t = rng.uniform(lo, hi)
    pos = sample_vertex(detector, rng, margin_cm=margin_cm) if position is None else np.asarray(position, dtype=float)
    d = _isotropic(rng) if direction is None else np.asarray(direction, dtype=float) / np.linalg.norm(direction)
    m = particle_mass_mev(abs(pdg))
    e = t + m
    p = math.sqrt(max(e * e - m * m, 0))
    return Interaction(pos, [Primary(pdg, np.concatenate([[e], p * d]))], flags=0)
