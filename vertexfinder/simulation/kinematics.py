"""Relativistic kinematics for the simulation: isotropic directions, boosts, two- and N-body decays.

Four-momenta are NumPy arrays (E, px, py, pz) in MeV; every random draw comes from the
``numpy.random.Generator`` passed in, so an event stays a function of its seed.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["isotropic", "boost", "two_body", "two_body_momentum", "phase_space"]


def isotropic(rng: np.random.Generator) -> np.ndarray:
    """A unit vector (3,) uniform on the sphere."""
    c = rng.uniform(-1, 1)
    phi = rng.uniform(0, 2 * math.pi)
    s = math.sqrt(1 - c * c)
    return np.array([s * math.cos(phi), s * math.sin(phi), c])


def boost(p4, beta_vec):
    """Lorentz boost of (E, px, py, pz) by velocity beta_vec."""
    b2 = float(beta_vec @ beta_vec)
    if b2 < 1e-16:
        return p4
    g = 1.0 / math.sqrt(1 - b2)
    bp = float(beta_vec @ p4[1:])
    e = g * (p4[0] + bp)
    p = p4[1:] + ((g - 1) * bp / b2 + g * p4[0]) * beta_vec
    return np.concatenate([[e], p])


def two_body_momentum(mass: float, m1: float, m2: float) -> float:
    """Momentum (MeV/c) of either daughter of a two-body decay at rest (0 below threshold)."""
    return math.sqrt(max((mass**2 - (m1 + m2) ** 2) * (mass**2 - (m1 - m2) ** 2), 0)) / (2 * mass)


def two_body(mass, m1, m2, parent_p4, rng):
    """Isotropic two-body decay of a particle with 4-momentum parent_p4; returns two 4-momenta."""
    p = two_body_momentum(mass, m1, m2)
    d = isotropic(rng)
    a = np.concatenate([[math.hypot(p, m1)], p * d])
    b = np.concatenate([[math.hypot(p, m2)], -p * d])
    beta = parent_p4[1:] / parent_p4[0]
    return boost(a, beta), boost(b, beta)


def phase_space(parent_p4, masses, rng: np.random.Generator) -> list[np.ndarray]:
    """N-body phase-space decay of a particle with 4-momentum ``parent_p4`` into ``masses`` (MeV).

    Raubold-Lynch (CERNLIB GENBOD) with weight rejection against GENBOD's upper bound, so the
    events are distributed as Lorentz-invariant phase space (flat Dalitz plot for three bodies).
    Returns one 4-momentum per daughter, in the order of ``masses``, in the frame of ``parent_p4``.
    """
    masses = np.asarray(masses, dtype=np.float64)
    n = len(masses)
    mass = math.sqrt(max(parent_p4[0] ** 2 - float(parent_p4[1:] @ parent_p4[1:]), 0.0))
    tecm = mass - masses.sum()
    if n < 2 or tecm <= 0:
        raise ValueError(f"phase_space needs >= 2 daughters lighter than the parent; Received: mass={mass}, "
                         f"masses={masses.tolist()}")
    if n == 2:
        return list(two_body(mass, masses[0], masses[1], np.asarray(parent_p4, dtype=np.float64), rng))
    cum = np.cumsum(masses)
    # GENBOD's bound on the weight prod_i p_i: each sub-system at its largest mass, its parts at their smallest
    wtmax = 1.0
    for i in range(1, n):
        wtmax *= two_body_momentum(cum[i] + tecm, cum[i - 1], masses[i])
    while True:
        r = np.sort(rng.random(n - 2))
        invm = cum.copy()
        invm[1:-1] += r * tecm
        invm[-1] = mass
        pd = np.array([two_body_momentum(invm[i], invm[i - 1], masses[i]) for i in range(1, n)])
        if rng.random() * wtmax <= pd.prod():
            break
    # build the momenta from the innermost pair outwards, each stage in the frame of sub-system i
    d = isotropic(rng)
    p4 = [np.concatenate([[math.hypot(pd[0], masses[0])], pd[0] * d]),
          np.concatenate([[math.hypot(pd[0], masses[1])], -pd[0] * d])]
    for i in range(2, n):
        d = isotropic(rng)
        beta = -pd[i - 1] * d / math.hypot(pd[i - 1], invm[i - 1])
        p4 = [boost(q, beta) for q in p4]
        p4.append(np.concatenate([[math.hypot(pd[i - 1], masses[i])], pd[i - 1] * d]))
    beta = np.asarray(parent_p4[1:], dtype=np.float64) / parent_p4[0]
    return [boost(q, beta) for q in p4]
