"""Charged-kaon decays and K- absorption at rest: what comes out, with its 4-momentum.

The transport (:mod:`.transport`) asks these functions for the products and keeps the books (the
truth vertex, its flags, the particles to follow); here is only the physics.

K+ decay modes (PDG 2024 branching fractions; K- decays to the charge conjugates), the six
modes that make up 99.995% of the width, renormalised to 1:

=================  ==========  =======================================
mode               fraction    kinematics
=================  ==========  =======================================
mu+ nu_mu          63.56%      two-body (muon 235.5 MeV/c at rest)
pi+ pi0            20.67%      two-body (pion 205.1 MeV/c at rest)
pi+ pi+ pi-         5.583%     three-body phase space
pi0 e+ nu_e (Ke3)   5.07%      three-body phase space
pi0 mu+ nu (Kmu3)   3.352%     three-body phase space
pi+ pi0 pi0         1.760%     three-body phase space
=================  ==========  =======================================

Three-body modes use flat Lorentz-invariant phase space: the Kl3 form factors and the Dalitz
slopes of the 3-pi modes change the spectra by some 10-20%, not which particles leave the vertex.

A K- that stops is captured by an argon nucleus and absorbed on a nucleon:
K- N -> Sigma pi (70%) or Lambda pi (30%), on a proton (18 of 40 nucleons) or a neutron, the
Sigma charge states in equal shares (K- p -> Sigma+ pi-, Sigma- pi+, Sigma0 pi0, Lambda pi0;
K- n -> Sigma- pi0, Sigma0 pi-, Lambda pi-), two-body at rest with 10 MeV of binding, plus a
Poisson(0.8) number of break-up protons (5-60 MeV) as for pi- absorption. The hyperon is handed
on (a charged Sigma leaves a millimetre stub; a Lambda or Sigma0 is invisible); hyperon decays
are not simulated.
"""

from __future__ import annotations

import numpy as np

from .kinematics import isotropic, phase_space, two_body
from .physics import particle_mass_mev

__all__ = ["KAON_DECAY_MODES", "K_MINUS_ABSORPTION", "kaon_decay", "kaon_absorption_at_rest", "charge_conjugate"]

#: K+ decay modes: (name, branching fraction, daughters' PDG codes); PDG 2024.
KAON_DECAY_MODES = (
    ("mu+ nu", 0.6356, (-13, 14)),
    ("pi+ pi0", 0.2067, (211, 111)),
    ("pi+ pi+ pi-", 0.05583, (211, 211, -211)),
    ("pi0 e+ nu", 0.0507, (111, -11, 12)),
    ("pi0 mu+ nu", 0.03352, (111, -13, 14)),
    ("pi+ pi0 pi0", 0.01760, (211, 111, 111)),
)
_CUMULATIVE = np.cumsum([m[1] for m in KAON_DECAY_MODES]) / sum(m[1] for m in KAON_DECAY_MODES)

_SELF_CONJUGATE = (22, 111)
_K_MINUS_BINDING_MEV = 10.0
_Y_LAMBDA, _Y_SIGMA_PLUS, _Y_SIGMA_ZERO, _Y_SIGMA_MINUS = 3122, 3222, 3212, 3112


def charge_conjugate(pdg: int) -> int:
    return pdg if pdg in _SELF_CONJUGATE else -pdg


def _absorption_channels():
    """(probability, nucleon, hyperon, pion) of K- N -> Y pi at rest (see the module docstring)."""
    f_p, f_sigma = 18.0 / 40.0, 0.7
    out = [(f_p * f_sigma / 3, 2212, y, pi) for y, pi in
           ((_Y_SIGMA_PLUS, -211), (_Y_SIGMA_MINUS, 211), (_Y_SIGMA_ZERO, 111))]
    out.append((f_p * (1 - f_sigma), 2212, _Y_LAMBDA, 111))
    out += [((1 - f_p) * f_sigma / 2, 2112, y, pi) for y, pi in ((_Y_SIGMA_MINUS, 111), (_Y_SIGMA_ZERO, -211))]
    out.append(((1 - f_p) * (1 - f_sigma), 2112, _Y_LAMBDA, -211))
    return tuple(out)


K_MINUS_ABSORPTION = _absorption_channels()
_ABSORPTION_CUMULATIVE = np.cumsum([c[0] for c in K_MINUS_ABSORPTION])


def kaon_decay(pdg: int, parent_p4, rng: np.random.Generator) -> tuple[str, list[tuple[int, np.ndarray]]]:
    """Decay of a charged kaon (``pdg`` +-321) with 4-momentum ``parent_p4`` (MeV).

    Returns the mode's name (as for K+) and its daughters as (pdg, 4-momentum) pairs, neutrinos
    included, in the frame of ``parent_p4``.
    """
    if abs(pdg) != 321:
        raise ValueError(f"kaon_decay needs a charged kaon (321 or -321); Received: pdg={pdg}")
    k = int(np.searchsorted(_CUMULATIVE, rng.random(), side="right"))
    name, _, daughters = KAON_DECAY_MODES[min(k, len(KAON_DECAY_MODES) - 1)]
    if pdg < 0:
        daughters = tuple(charge_conjugate(d) for d in daughters)
    masses = [particle_mass_mev(abs(d)) for d in daughters]
    p4s = phase_space(np.asarray(parent_p4, dtype=np.float64), masses, rng)
    return name, list(zip(daughters, p4s))


def kaon_absorption_at_rest(rng: np.random.Generator) -> list[tuple[int, np.ndarray]]:
    """Products (pdg, 4-momentum) of a K- absorbed at rest by an argon nucleus (module docstring)."""
    k = int(np.searchsorted(_ABSORPTION_CUMULATIVE, rng.random() * _ABSORPTION_CUMULATIVE[-1], side="right"))
    _, nucleon, hyperon, pion = K_MINUS_ABSORPTION[min(k, len(K_MINUS_ABSORPTION) - 1)]
    w = particle_mass_mev(321) + particle_mass_mev(nucleon) - _K_MINUS_BINDING_MEV
    y4, pi4 = two_body(w, particle_mass_mev(hyperon), particle_mass_mev(abs(pion)), np.array([w, 0.0, 0.0, 0.0]), rng)
    out = [(pion, pi4), (hyperon, y4)]
    m_p = particle_mass_mev(2212)
    for _ in range(rng.poisson(0.8)):
        t = rng.uniform(5.0, 60.0)
        p = np.sqrt(t * (t + 2 * m_p))
        out.append((2212, np.concatenate([[t + m_p], p * isotropic(rng)])))
    return out
