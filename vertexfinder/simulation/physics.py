"""Liquid-argon physics for the simulation: constants, stopping power, ranges, scattering, recombination.

Numbers (the PDG "Atomic and nuclear properties" page for liquid argon):
density 1.396 g/cm3, Z/A 18/39.948, mean excitation energy 188 eV, radiation
length X0 = 14.0 cm, Moliere radius 9.0 cm, critical energy 33 MeV (electrons),
nuclear interaction length 85.7 cm, W = 23.6 eV per ion pair, Modified Box
recombination (alpha 0.93, beta 0.212 (kV/cm)(g/cm2)/MeV), electron lifetime
10 ms, diffusion D_L 6.2 cm2/s and D_T 16.3 cm2/s.

Stopping power is Bethe-Bloch with the Sternheimer density-effect correction
for liquid argon (C 5.2146, x0 0.2, x1 3.0, a 0.19559, k 3.0); CSDA ranges are
its integral, tabulated once per particle mass on a log grid.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from particle import Particle

__all__ = [
    "LAR", "particle_mass_mev", "particle_charge", "particle_lifetime_ns", "pdg_from_name",
    "dedx_mev_per_cm", "RangeTable", "range_table", "highland_theta0", "recombination_box", "Argon",
]


class Argon:
    """Liquid-argon constants (cm, MeV, g)."""

    density_g_cm3 = 1.396
    z_over_a = 18.0 / 39.948
    mean_excitation_mev = 188.0e-6
    radiation_length_cm = 14.0
    moliere_radius_cm = 9.0
    critical_energy_mev = 33.0
    nuclear_interaction_length_cm = 85.7
    w_ion_mev = 23.6e-6
    recomb_alpha = 0.93
    recomb_beta = 0.212           # (kV/cm)(g/cm^2)/MeV
    electron_lifetime_us = 10_000.0
    diffusion_long_cm2_per_s = 6.2
    diffusion_trans_cm2_per_s = 16.3
    # Sternheimer density-effect parameters for liquid argon
    sternheimer = {"C": 5.2146, "x0": 0.2, "x1": 3.0, "a": 0.19559, "k": 3.0}


LAR = Argon()
_K = 0.307075  # MeV cm2 / mol
_ME = 0.51099895  # MeV
_C_CM_PER_NS = 29.9792458

_ALIASES = {"proton": "p", "antiproton": "p~", "neutron": "n", "photon": "gamma", "electron": "e-",
            "positron": "e+", "muon": "mu-", "antimuon": "mu+"}


@functools.lru_cache(maxsize=None)
def pdg_from_name(name: str) -> int:
    """PDG code of a particle name ('mu-', 'e-', 'gamma', 'proton', 'pi+', ...), via the `particle` package."""
    key = _ALIASES.get(name, name)
    try:
        return int(Particle.from_name(key).pdgid)
    except Exception:
        try:
            return int(Particle.from_string(key).pdgid)
        except Exception:
            raise ValueError(f"unknown particle name {name!r}; examples: mu-, mu+, e-, e+, gamma, proton, pi+, pi-, pi0, K+") from None


@functools.lru_cache(maxsize=None)
def _particle(pdg: int) -> Particle:
    return Particle.from_pdgid(pdg)


def particle_mass_mev(pdg: int) -> float:
    m = _particle(pdg).mass
    return 0.0 if m is None else float(m)


def particle_charge(pdg: int) -> float:
    return float(_particle(pdg).charge)


def particle_lifetime_ns(pdg: int) -> float:
    """Mean lifetime in ns (inf for stable particles)."""
    t = _particle(pdg).lifetime
    return math.inf if t is None or t <= 0 else float(t)


def _density_effect(bg):
    s = LAR.sternheimer
    x = np.log10(bg)
    delta = np.where(
        x >= s["x1"], 2 * np.log(10) * x - s["C"],
        np.where(x >= s["x0"], 2 * np.log(10) * x - s["C"] + s["a"] * (s["x1"] - x) ** s["k"], 0.0),
    )
    return delta


def dedx_mev_per_cm(kinetic_mev, mass_mev: float, charge: float = 1.0):
    """Mean stopping power (Bethe-Bloch, density effect) of a heavy charged particle in LAr, MeV/cm."""
    t = np.asarray(kinetic_mev, dtype=np.float64)
    gamma = 1.0 + t / mass_mev
    beta2 = np.clip(1.0 - 1.0 / gamma**2, 1e-12, None)
    bg = np.sqrt(beta2) * gamma
    tmax = 2 * _ME * bg**2 / (1 + 2 * gamma * _ME / mass_mev + (_ME / mass_mev) ** 2)
    arg = 2 * _ME * bg**2 * tmax / LAR.mean_excitation_mev**2
    dedx = _K * charge**2 * LAR.z_over_a / beta2 * (0.5 * np.log(arg) - beta2 - _density_effect(bg) / 2)
    return np.clip(dedx, 0.0, None) * LAR.density_g_cm3


class RangeTable:
    """CSDA range and stopping power of one particle mass, tabulated on a log grid of kinetic energy.

    Below 1 MeV, where Bethe-Bloch fails, the range is continued with the low-energy
    scaling R ~ T^1.75 (Bragg-Kleeman), which keeps the Bragg peak finite.
    """

    def __init__(self, mass_mev: float, *, t_min_mev: float = 0.01, t_max_mev: float = 1.0e5, n: int = 2000):
        self.mass_mev = mass_mev
        t = np.geomspace(t_min_mev, t_max_mev, n)
        dedx = dedx_mev_per_cm(t, mass_mev)
        t_join = 1.0 * max(mass_mev / 938.272, 0.1)  # scale the low-energy join with mass
        k = np.searchsorted(t, t_join)
        dedx_join = dedx[k]
        low = t < t[k]
        # Bragg-Kleeman: R = a T^1.75  =>  dE/dx = T^-0.75 / (1.75 a); matched at t_join
        dedx[low] = dedx_join * (t[low] / t[k]) ** (-0.75)
        r = np.zeros_like(t)
        r[0] = t[0] / (1.75 * dedx[0])  # integral of the T^-0.75 law from 0
        inv = 1.0 / dedx
        r[1:] = r[0] + np.cumsum(0.5 * (inv[1:] + inv[:-1]) * np.diff(t))
        self.kinetic_mev = t
        self.dedx = dedx
        self.range_cm = r

    def range_of(self, kinetic_mev):
        return np.interp(kinetic_mev, self.kinetic_mev, self.range_cm)

    def kinetic_of(self, range_cm):
        return np.interp(range_cm, self.range_cm, self.kinetic_mev)

    def dedx_of(self, kinetic_mev):
        return np.interp(kinetic_mev, self.kinetic_mev, self.dedx)

    @functools.cached_property
    def proper_time_ns(self):
        """Proper time (ns) a particle of each tabulated kinetic energy takes to stop (CSDA)."""
        t, m = self.kinetic_mev, self.mass_mev
        per_mev = m / (np.sqrt(t * (t + 2 * m)) * _C_CM_PER_NS * self.dedx)  # d(tau)/dT = 1 / (beta gamma c dE/dx)
        tau = np.zeros_like(t)
        tau[0] = per_mev[0] * t[0] / 1.25  # below the grid d(tau)/dT ~ T^0.25 (Bragg-Kleeman, beta gamma ~ T^0.5)
        tau[1:] = tau[0] + np.cumsum(0.5 * (per_mev[1:] + per_mev[:-1]) * np.diff(t))
        return tau

    def decay_distance_cm(self, kinetic_mev: float, proper_time_ns: float) -> float:
        """Path (cm, CSDA) after which a particle of ``kinetic_mev`` has aged ``proper_time_ns``:
        where it decays in flight, its slowing down included; inf if it stops first."""
        to_stop = float(np.interp(kinetic_mev, self.kinetic_mev, self.proper_time_ns))
        if proper_time_ns >= to_stop:
            return math.inf
        t_decay = float(np.interp(to_stop - proper_time_ns, self.proper_time_ns, self.kinetic_mev))
        return float(self.range_of(kinetic_mev) - self.range_of(t_decay))


@functools.lru_cache(maxsize=None)
def range_table(pdg: int) -> RangeTable:
    """The range table of a particle species (by PDG code)."""
    return RangeTable(particle_mass_mev(abs(pdg)))


def highland_theta0(p_mev, beta, step_cm, charge: float = 1.0):
    """Highland multiple-scattering angle (plane projected, rad) for a step of ``step_cm`` in LAr."""
    x = np.maximum(np.asarray(step_cm, dtype=np.float64), 1e-9) / LAR.radiation_length_cm
    bcp = np.asarray(beta) * np.asarray(p_mev)
    return 13.6 / bcp * abs(charge) * np.sqrt(x) * np.maximum(1 + 0.038 * np.log(x * charge**2 / np.asarray(beta) ** 2), 0.1)


def recombination_box(dedx_mev_cm, field_kv_cm: float = 0.5):
    """Fraction of ionization electrons escaping recombination, Modified Box model (ArgoNeuT)."""
    xi = LAR.recomb_beta * np.asarray(dedx_mev_cm) / (LAR.density_g_cm3 * field_kv_cm)
    return np.log(LAR.recomb_alpha + xi) / xi
