"""Event sources of the class-rich samples: each makes one kind of vertex plentiful.

The neutrino samples hold few decay and conversion vertices; these samples are made so that
the finder can be trained and measured on every class (issue 22). Each is a function of the
event's generator alone (same seed, same event) and works on every detector.

* ``michel``: a cosmic muon that stops in the fiducial volume: its end point uniform in the
  fiducial volume, its direction downward with the sea-level cos^2 zenith intensity, entering
  at the detector's boundary with the kinetic energy whose CSDA range reaches the end point;
  mu+ / mu- = 1.25 (sea level). Every stopping mu+ decays (a ``decay`` vertex where it stops,
  the Michel e+ credited to it); a stopping mu- is captured by the argon nucleus 75% of the
  time (no decay vertex) and decays otherwise. The muon has no vertex of its own: the decay
  vertex is the event's only vertex unless delta rays or the Michel electron make more, and
  its ``parent`` is -1; the event has no primary.
* ``pion``: pi+ or pi- (equal shares) from a point in the fiducial volume (the event's primary,
  as for ``gun``), kinetic energy uniform in 20-500 MeV, isotropic. pi+ that stop decay
  (pi+ -> mu+ nu, then the muon's Michel decay: two ``decay`` vertices); pi- that stop are
  absorbed (an ``interaction`` vertex); a few percent decay in flight, a third to a half
  interact inelastically first.
* ``kaon``: K+ or K- (equal shares), kinetic energy uniform in 20-600 MeV, likewise: K+ that
  stop decay (PDG modes, :mod:`.decays`), K- that stop are absorbed; some 10% decay in flight.
* ``proton-decay``: p -> K+ nu-bar at rest, the nucleon-decay-like sample: a K+ of 339 MeV/c
  (105 MeV kinetic) in an isotropic direction from a point in the fiducial volume (the
  primary; the antineutrino is invisible and the nucleus's Fermi motion and de-excitation are
  left out). The K+ decay is a ``decay`` vertex whose parent is the primary; its muon's Michel
  decay and the decay of a pi+ from K+ -> pi+ pi0 are ``decay`` vertices whose parent is the
  K+ decay; the pi0 photons' conversions are ``conversion`` vertices with the same parent.
* ``nc-pi0``, ``cc-pi0``: nu_mu NC and CC interactions (the ``nc``/``numu-cc`` model of
  :mod:`.sources`) holding at least one pi0: interactions are drawn until one holds a pi0, so
  the events follow the model's distribution given a pi0. Each pi0 photon's first interaction
  (pair production or Compton scattering) is a ``conversion`` vertex whose parent is the
  neutrino vertex.
* ``photon``: one photon from a point in the fiducial volume (the primary, where nothing is
  seen), energy log-uniform in 50-1000 MeV (the range of pi0 photons), isotropic: its first
  interaction is a ``conversion`` vertex whose parent is the primary.
"""

from __future__ import annotations

import math

import numpy as np

from ..records import FLAG_NU_PRIMARY, FLAG_PI0
from .kinematics import isotropic
from .physics import particle_mass_mev, range_table
from .sources import Interaction, Primary, gun, neutrino_interaction, sample_vertex

__all__ = [
    "ENRICHED_SAMPLES", "enriched_source", "stopping_muon", "charged_hadron", "proton_decay",
    "neutrino_interaction_with_pi0", "single_photon",
]

#: Samples made here (``class-mix`` is drawn in :mod:`.api` from these and ``nu-mix``).
ENRICHED_SAMPLES = ("michel", "pion", "kaon", "proton-decay", "nc-pi0", "cc-pi0", "photon")

MU_PLUS_FRACTION = 1.25 / 2.25  # sea-level cosmic mu+/mu- = 1.25
PION_KINETIC_MEV = (20.0, 500.0)
KAON_KINETIC_MEV = (20.0, 600.0)
PROTON_DECAY_KAON_MOMENTUM_MEV = 339.0  # p -> K+ nu-bar at rest
PHOTON_ENERGY_MEV = (50.0, 1000.0)
MAX_PI0_TRIES = 10_000


def _distance_to_boundary(position, direction, bounds) -> float:
    """Distance (cm) from ``position`` inside the box ``bounds`` (3, 2) along ``direction`` to its surface."""
    with np.errstate(divide="ignore"):
        to_face = np.where(direction > 0, (bounds[:, 1] - position) / direction,
                           np.where(direction < 0, (bounds[:, 0] - position) / direction, np.inf))
    return float(np.min(to_face))


def stopping_muon(detector, rng: np.random.Generator, *, margin_cm: float = 10.0):
    """A cosmic muon stopping in the fiducial volume (module docstring).

    Returns (position (3,) cm where it enters, direction (3,), kinetic energy MeV, pdg).
    """
    end = sample_vertex(detector, rng, margin_cm=margin_cm)
    cos_z = rng.random() ** (1 / 3)  # dN/dcos(zenith) ~ cos^2: the intensity through a volume element
    phi = rng.uniform(0, 2 * math.pi)
    s = math.sqrt(1 - cos_z**2)
    d = np.array([s * math.cos(phi), -cos_z, s * math.sin(phi)])
    length = max(_distance_to_boundary(end, -d, np.asarray(detector.bounds_cm, dtype=np.float64)) - 1e-6, 0.0)
    kinetic = float(range_table(13).kinetic_of(length))
    pdg = -13 if rng.random() < MU_PLUS_FRACTION else 13
    return end - length * d, d, kinetic, pdg


def charged_hadron(detector, rng: np.random.Generator, *, pdgs, kinetic_mev, margin_cm: float = 10.0) -> Interaction:
    """One of ``pdgs`` (equal shares), kinetic energy uniform in ``kinetic_mev``, from a fiducial point (the primary)."""
    pdg = int(pdgs[rng.integers(len(pdgs))])
    interaction = gun(detector, rng, pdg=pdg, energy_mev=kinetic_mev, margin_cm=margin_cm)
    interaction.flags = FLAG_NU_PRIMARY
    return interaction


def proton_decay(detector, rng: np.random.Generator, *, margin_cm: float = 10.0) -> Interaction:
    """p -> K+ nu-bar at rest: a 339 MeV/c K+ from a point of the fiducial volume (module docstring)."""
    position = sample_vertex(detector, rng, margin_cm=margin_cm)
    p = PROTON_DECAY_KAON_MOMENTUM_MEV
    kaon = Primary(321, np.concatenate([[math.hypot(p, particle_mass_mev(321))], p * isotropic(rng)]))
    return Interaction(position, [kaon], flags=FLAG_NU_PRIMARY)


def neutrino_interaction_with_pi0(detector, rng: np.random.Generator, *, current: str, beam: str = "dune",
                                  margin_cm: float = 10.0, max_tries: int = MAX_PI0_TRIES) -> Interaction:
    """A nu_mu ``current`` ("CC" or "NC") interaction holding at least one pi0 (drawn until one does)."""
    for _ in range(max_tries):
        interaction = neutrino_interaction(detector, rng, flavor="numu", current=current, beam=beam,
                                           margin_cm=margin_cm)
        if interaction.flags & FLAG_PI0:
            return interaction
    raise RuntimeError(f"no nu_mu {current} interaction with a pi0 in {max_tries} tries (beam {beam!r})")


def single_photon(detector, rng: np.random.Generator, *, margin_cm: float = 10.0) -> Interaction:
    """One photon, energy log-uniform in PHOTON_ENERGY_MEV, from a point of the fiducial volume (the primary)."""
    lo, hi = PHOTON_ENERGY_MEV
    interaction = gun(detector, rng, pdg=22, energy_mev=lo * (hi / lo) ** rng.random(), margin_cm=margin_cm)
    interaction.flags = FLAG_NU_PRIMARY
    return interaction


def enriched_source(sample: str, detector, rng: np.random.Generator, *, beam: str = "dune",
                    margin_cm: float = 10.0):
    """What one event of ``sample`` (one of ENRICHED_SAMPLES) starts from.

    Returns (interaction, loose): the Interaction whose position is the primary vertex (None for
    ``michel``) and the particles that start from no vertex, as (position, direction, kinetic MeV,
    pdg, time ns) like :func:`.sources.cosmic_muons`.
    """
    if sample == "michel":
        position, direction, kinetic, pdg = stopping_muon(detector, rng, margin_cm=margin_cm)
        return None, [(position, direction, kinetic, pdg, 0.0)]
    if sample == "pion":
        return charged_hadron(detector, rng, pdgs=(211, -211), kinetic_mev=PION_KINETIC_MEV, margin_cm=margin_cm), []
    if sample == "kaon":
        return charged_hadron(detector, rng, pdgs=(321, -321), kinetic_mev=KAON_KINETIC_MEV, margin_cm=margin_cm), []
    if sample == "proton-decay":
        return proton_decay(detector, rng, margin_cm=margin_cm), []
    if sample in ("nc-pi0", "cc-pi0"):
        current = "NC" if sample == "nc-pi0" else "CC"
        return neutrino_interaction_with_pi0(detector, rng, current=current, beam=beam, margin_cm=margin_cm), []
    if sample == "photon":
        return single_photon(detector, rng, margin_cm=margin_cm), []
    raise ValueError(f"sample must be one of {ENRICHED_SAMPLES}; Received: sample={sample!r}")
