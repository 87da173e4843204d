"""Particle transport in liquid argon: tracks, decays, hadronic interactions, photons and EM showers.

A :class:`Transport` takes primary particles at a vertex and follows every
particle and its descendants, producing energy deposits (3D points with their
energy, dE/dx, time and the truth vertex their charge is credited to) and the
truth vertices: hadronic interactions (``interaction``), decays (``decay``)
and the first interaction of photons from pi0 decays or from vertices
(``conversion``).

Processes:
* charged tracks (mu, pi, K, p, e): Bethe-Bloch loss (range tables) with
  Gamma-distributed fluctuations and delta rays above 2 MeV (1/T^2 spectrum),
  Highland multiple scattering (Numba kernel :func:`kernels.step_track`);
* stopping mu+ decays; stopping mu- is captured 75% of the time (a few MeV of
  de-excitation photons, no decay vertex), decays otherwise; Michel electrons
  from the V-A spectrum x^2 (3 - 2x), endpoint 52.8 MeV;
* pi+ decays at rest (4.1 MeV muon, then its Michel electron); pi- at rest is
  absorbed (a nuclear star of protons); pi and K decay in flight with their
  lifetimes (`particle` package), a kaon when its proper time runs out as it
  slows down (:meth:`.physics.RangeTable.decay_distance_cm`; pions keep the
  decay length of their momentum at each step); K+ at rest decays after an
  exponential delay; kaon decays follow the PDG modes and branching fractions (mu nu,
  pi pi0, three pions, Ke3, Kmu3; :mod:`.decays`), one decay vertex each;
  K- at rest is absorbed (K- N -> hyperon pi, an ``interaction`` vertex);
* hadronic inelastic interactions of pi and p with the LAr interaction length,
  producing protons, neutrons and pions;
* pi0 -> gamma gamma at once; photons: pair production (high-energy mean free
  path 9/7 X0 = 18 cm), Compton scattering (Klein-Nishina) and photoabsorption,
  with the LAr attenuation length of each energy;
* electrons radiate bremsstrahlung photons (complete-screening spectrum) above
  1 MeV; photons pair-produce; below the critical energy electrons ionize:
  EM showers emerge as a stochastic cascade.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..records import FLAG_CONVERSION, FLAG_DECAY, FLAG_HADRONIC, FLAG_PI0
from . import kernels
from .decays import kaon_absorption_at_rest, kaon_decay
from .kinematics import isotropic as _isotropic
from .kinematics import two_body
from .physics import LAR, particle_charge, particle_lifetime_ns, particle_mass_mev, range_table

__all__ = ["Particle", "Transport", "Deposits", "SimVertex"]

ME = 0.51099895
M_MU = 105.6583755
M_PI = 139.57039
M_K = 493.677
M_P = 938.27208816
M_N = 939.56542052
MICHEL_MAX = 52.83
C_CM_PER_NS = 29.9792458

PDG_E, PDG_MU, PDG_GAMMA, PDG_PI, PDG_PI0, PDG_K, PDG_P, PDG_N = 11, 13, 22, 211, 111, 321, 2212, 2112
NEUTRINOS = (12, 14, 16)

# Photon mass attenuation in argon (cm2/g, NIST XCOM totals without coherent scattering) and the
# pair-production share; log-log interpolated.
_GAMMA_E = np.array([0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 1000.0, 1e5])
_GAMMA_MU = np.array([0.88, 0.17, 0.107, 0.0797, 0.0575, 0.0407, 0.0268, 0.0229, 0.0225, 0.0262, 0.0295, 0.0372, 0.0398])
_PAIR_FRAC = np.array([0, 0, 0, 0, 0, 0.04, 0.25, 0.45, 0.65, 0.85, 0.92, 0.99, 1.0])
_PHOTO_FRAC = np.array([0.85, 0.35, 0.08, 0.01, 0, 0, 0, 0, 0, 0, 0, 0, 0])

# Electron collision stopping power in LAr (MeV/cm; ESTAR for argon scaled to 1.396 g/cm3)
_E_T = np.array([0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 1000.0, 1e5])
_E_DEDX = np.array([23.6, 13.9, 7.0, 4.7, 3.2, 2.3, 2.07, 2.05, 2.13, 2.22, 2.30, 2.40, 2.47, 2.65, 2.8])


def _electron_table():
    t = np.geomspace(0.01, 1e5, 800)
    dedx = np.exp(np.interp(np.log(t), np.log(_E_T), np.log(_E_DEDX)))
    r = np.zeros_like(t)
    r[0] = t[0] / dedx[0] / 1.75
    r[1:] = r[0] + np.cumsum(0.5 * (1 / dedx[1:] + 1 / dedx[:-1]) * np.diff(t))
    return t, dedx, r


_ELECTRON = _electron_table()


@dataclass
class Particle:
    """A particle to transport. ``origin``: truth vertex its charge is credited to; ``parent``:
    vertex where it was made; ``tagged``: its first interaction is a truth vertex (photons)."""

    pdg: int
    position: np.ndarray
    direction: np.ndarray
    kinetic_mev: float
    origin: int
    parent: int
    time_ns: float = 0.0
    tagged: bool = False


@dataclass
class SimVertex:
    kind: str
    position: np.ndarray
    flags: int
    parent: int
    pdg: int
    time_ns: float = 0.0


@dataclass
class Deposits:
    xyz: list = field(default_factory=list)
    de: list = field(default_factory=list)
    dedx: list = field(default_factory=list)
    time: list = field(default_factory=list)
    origin: list = field(default_factory=list)
    count: int = 0

    def add(self, xyz, de, dedx, time_ns, origin):
        if len(de):
            self.count += len(de)
            self.xyz.append(np.asarray(xyz, dtype=np.float64).reshape(-1, 3))
            self.de.append(np.asarray(de, dtype=np.float64))
            self.dedx.append(np.asarray(dedx, dtype=np.float64))
            self.time.append(np.full(len(de), time_ns, dtype=np.float64))
            self.origin.append(np.full(len(de), origin, dtype=np.int32))

    def arrays(self):
        if not self.de:
            z = np.zeros(0)
            return np.zeros((0, 3)), z, z, z, np.zeros(0, np.int32)
        return (np.concatenate(self.xyz), np.concatenate(self.de), np.concatenate(self.dedx),
                np.concatenate(self.time), np.concatenate(self.origin))


def _unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def _turn(d, cos_theta, rng):
    d = np.array(d, dtype=np.float64)
    kernels._rotate(d, math.acos(max(-1.0, min(1.0, cos_theta))), rng.uniform(0, 2 * math.pi))
    return d


class Transport:
    """Follow particles through LAr inside ``world`` = (x0, x1, y0, y1, z0, z1) cm."""

    step_cm = 0.3
    electron_step_cm = 0.1
    delta_cut_mev = 2.0
    brems_cut_mev = 1.0
    tracking_cut_mev = 0.1
    capture_fraction = 0.75  # mu- captured at rest in argon
    kaon_lifetime_ns = 12.38  # K+ decays at rest after an exponential delay
    fluctuation_shape = 12.0  # Gamma shape of the restricted loss per step (~Landau core width)

    def __init__(self, world, rng: np.random.Generator, *, max_deposits: int = 200_000):
        self.world = np.asarray(world, dtype=np.float64)
        self.rng = rng
        self.vertices: list[SimVertex] = []
        self.deposits = Deposits()
        self.max_deposits = max_deposits
        self._buf_xyz = np.zeros((20000, 3))
        self._buf_de = np.zeros(20000)
        self._buf_dedx = np.zeros(20000)
        self.stack: list[Particle] = []

    # -- bookkeeping ----------------------------------------------------------------------
    def add_vertex(self, kind, position, flags, parent, pdg, time_ns=0.0) -> int:
        self.vertices.append(SimVertex(kind, np.array(position, dtype=np.float64), flags, parent, pdg, time_ns))
        return len(self.vertices) - 1

    def push(self, p: Particle):
        self.stack.append(p)

    def run(self):
        while self.stack:
            p = self.stack.pop()
            apdg = abs(p.pdg)
            if apdg in NEUTRINOS or apdg == PDG_N or p.kinetic_mev <= 0:
                continue  # invisible (neutrons carry energy away unseen here)
            if apdg == PDG_GAMMA:
                self._photon(p)
            elif apdg == PDG_PI0:
                self._pi0(p)
            elif apdg == PDG_E:
                self._electron(p)
            elif apdg in (PDG_MU, PDG_PI, PDG_K, PDG_P):
                self._hadron_or_muon(p)
            else:
                # other charged particles are followed as their mass with charge +-1; neutral ones are not seen
                if particle_charge(p.pdg) != 0:
                    self._hadron_or_muon(p)
            if self.deposits.count > self.max_deposits:
                break
        return self.deposits, self.vertices

    def _inside(self, pos):
        w = self.world
        return w[0] <= pos[0] <= w[1] and w[2] <= pos[1] <= w[3] and w[4] <= pos[2] <= w[5]

    def _step(self, p: Particle, mass, charge, max_path, table, restricted, step_cm):
        t_tab, dedx_tab, r_tab = table
        e0 = p.kinetic_mev + mass
        beta0 = math.sqrt(max(1 - (mass / e0) ** 2, 0)) if e0 > 0 else 0.0
        pos = p.position.copy()
        d = p.direction.copy()
        status, kin, path, n = kernels.step_track(
            pos, d, p.kinetic_mev, mass, charge, max_path, step_cm, t_tab, dedx_tab, r_tab, restricted,
            self.fluctuation_shape, LAR.radiation_length_cm, self.world, self.tracking_cut_mev,
            self._buf_xyz, self._buf_de, self._buf_dedx, 0,
        )
        self.deposits.add(self._buf_xyz[:n].copy(), self._buf_de[:n].copy(), self._buf_dedx[:n].copy(), p.time_ns, p.origin)
        e1 = kin + mass
        beta1 = math.sqrt(max(1 - (mass / e1) ** 2, 0)) if e1 > 0 else 0.0
        # time of flight with the mean velocity over the stretch (a stopping particle's last
        # millimetres take picoseconds, not the 1/beta -> infinity of its end point)
        beta = max(0.5 * (beta0 + beta1), 0.05)
        p.time_ns += path / (beta * C_CM_PER_NS)
        p.position, p.direction, p.kinetic_mev = pos, d, kin
        return status, path

    # -- charged hadrons and muons ----------------------------------------------------------------
    def _hadron_or_muon(self, p: Particle):
        apdg = abs(p.pdg)
        mass = particle_mass_mev(apdg)
        charge = particle_charge(p.pdg)
        rt = range_table(apdg)
        table = (rt.kinetic_mev, rt.dedx, rt.range_cm)
        ctau = particle_lifetime_ns(apdg) * C_CM_PER_NS
        rng = self.rng
        if not self._inside(p.position):
            return
        while True:
            t = p.kinetic_mev
            e = t + mass
            pmom = math.sqrt(max(e * e - mass * mass, 0))
            beta = pmom / e
            tmax = 2 * ME * pmom**2 / (mass**2 + ME**2 + 2 * ME * e)
            # distances to discrete processes
            if apdg == PDG_K:  # the decay in the kaon's own time, as it slows down
                d_decay = rt.decay_distance_cm(t, -math.log(rng.random()) * ctau / C_CM_PER_NS)
            else:
                d_decay = -math.log(rng.random()) * ctau * pmom / mass if apdg == PDG_PI else math.inf
            lam = self._inelastic_length(apdg, t)
            d_inel = -math.log(rng.random()) * lam if math.isfinite(lam) else math.inf
            rate = 0.0
            if tmax > self.delta_cut_mev:
                rate = 0.0966 / beta**2 * (1 / self.delta_cut_mev - 1 / tmax)
            d_delta = -math.log(rng.random()) / rate if rate > 0 else math.inf
            restricted = 1.0
            if tmax > self.delta_cut_mev:
                frac = 0.0966 / beta**2 * math.log(tmax / self.delta_cut_mev) / max(rt.dedx_of(t), 1e-6)
                restricted = max(1.0 - frac, 0.6)
            d_next = min(d_decay, d_inel, d_delta, 30.0)
            status, path = self._step(p, mass, charge, d_next, table, restricted, self.step_cm)
            if status == kernels.ESCAPED:
                return
            if status == kernels.STOPPED:
                self._at_rest(p)
                return
            if d_next == d_delta:
                self._delta_ray(p, mass, tmax)
            elif d_next == d_decay:
                self._decay_in_flight(p)
                return
            elif d_next == d_inel:
                self._inelastic(p)
                return

    @staticmethod
    def _inelastic_length(apdg, t):
        lam = LAR.nuclear_interaction_length_cm
        if apdg == PDG_P:
            if t < 20:
                return math.inf
            return lam * (1 + 40.0 / t)
        if apdg == PDG_PI:
            if t < 10:
                return math.inf
            # Delta(1232) resonance: shorter interaction length around 160-200 MeV
            return lam / (1.0 + 0.8 * math.exp(-(((t - 180.0) / 90.0) ** 2)))
        if apdg == PDG_K:
            return lam * 1.3
        return math.inf

    def _delta_ray(self, p: Particle, mass, tmax):
        rng = self.rng
        lo = self.delta_cut_mev
        te = 1.0 / (1 / lo - rng.random() * (1 / lo - 1 / tmax))  # 1/T^2 spectrum
        te = min(te, p.kinetic_mev * 0.5)
        e_in = p.kinetic_mev + mass
        p_in = math.sqrt(max(e_in**2 - mass**2, 1e-9))
        pe = math.sqrt(te * (te + 2 * ME))
        cos_t = min(1.0, (te / pe) * ((e_in + ME) / p_in))
        d = _turn(p.direction, cos_t, rng)
        p.kinetic_mev -= te
        self.push(Particle(11, p.position.copy(), d, te, p.origin, p.parent, p.time_ns))

    def _p4(self, p: Particle, mass):
        e = p.kinetic_mev + mass
        pm = math.sqrt(max(e * e - mass * mass, 0))
        return np.concatenate([[e], pm * p.direction])

    def _emit(self, pdg, p4, mass, position, vertex, time_ns, tagged=False):
        pm = np.linalg.norm(p4[1:])
        if pm <= 0:
            d = _isotropic(self.rng)
        else:
            d = p4[1:] / pm
        self.push(Particle(pdg, position.copy(), d, max(p4[0] - mass, 0.0), vertex, vertex, time_ns, tagged))

    def _decay_in_flight(self, p: Particle):
        if abs(p.pdg) == PDG_K:
            self._kaon_decay(p, p.time_ns)
            return
        sign = 1 if p.pdg > 0 else -1
        v = self.add_vertex("decay", p.position, FLAG_DECAY, p.origin, p.pdg, p.time_ns)
        mass = particle_mass_mev(PDG_PI)
        mu, _ = two_body(mass, M_MU, 0.0, self._p4(p, mass), self.rng)
        self._emit(-13 * sign, mu, M_MU, p.position, v, p.time_ns)

    def _kaon_decay(self, p: Particle, time_ns: float):
        """A charged kaon decays where it is (in flight or, at ``time_ns``, at rest): one decay vertex."""
        _, products = kaon_decay(p.pdg, self._p4(p, M_K), self.rng)
        flags = FLAG_DECAY | (FLAG_PI0 if any(q == PDG_PI0 for q, _ in products) else 0)
        v = self.add_vertex("decay", p.position, flags, p.origin, p.pdg, time_ns)
        for pdg, p4 in products:
            if abs(pdg) not in NEUTRINOS:
                self._emit(pdg, p4, particle_mass_mev(abs(pdg)), p.position, v, time_ns)

    def _at_rest(self, p: Particle):
        rng = self.rng
        apdg = abs(p.pdg)
        at = np.zeros(4)
        if apdg == PDG_MU:
            if p.pdg == PDG_MU and rng.random() < self.capture_fraction:
                # nuclear capture: de-excitation photons, neutrons; no decay vertex
                t_delay = rng.exponential(337.0)  # mu- lifetime in argon, ns
                for _ in range(rng.poisson(1.5)):
                    self.push(Particle(22, p.position.copy(), _isotropic(rng), rng.uniform(0.5, 5.0), p.origin,
                                       p.origin, p.time_ns + t_delay))
                return
            t_delay = rng.exponential(2197.0 if p.pdg < 0 else 337.0)
            v = self.add_vertex("decay", p.position, FLAG_DECAY, p.origin, p.pdg, p.time_ns + t_delay)
            self.push(Particle(-11 if p.pdg < 0 else 11, p.position.copy(), _isotropic(rng), self._michel_energy() - ME,
                               v, v, p.time_ns + t_delay))
        elif apdg == PDG_PI:
            if p.pdg > 0:
                v = self.add_vertex("decay", p.position, FLAG_DECAY, p.origin, p.pdg, p.time_ns + 26.0)
                at[0] = M_PI
                mu, _ = two_body(M_PI, M_MU, 0.0, at, rng)
                self._emit(-13, mu, M_MU, p.position, v, p.time_ns + 26.0)
            else:
                v = self.add_vertex("interaction", p.position, FLAG_HADRONIC, p.origin, p.pdg, p.time_ns)
                for _ in range(1 + rng.poisson(0.8)):
                    self.push(Particle(2212, p.position.copy(), _isotropic(rng), rng.uniform(5, 60), v, v, p.time_ns))
        elif apdg == PDG_K and p.pdg > 0:
            self._kaon_decay(p, p.time_ns + rng.exponential(self.kaon_lifetime_ns))
        elif apdg == PDG_K:
            # K- is captured by a nucleus and absorbed: K- N -> hyperon pi (module decays)
            v = self.add_vertex("interaction", p.position, FLAG_HADRONIC, p.origin, p.pdg, p.time_ns)
            for pdg, p4 in kaon_absorption_at_rest(rng):
                if pdg == PDG_PI0:
                    self.vertices[v].flags |= FLAG_PI0
                self._emit(pdg, p4, particle_mass_mev(abs(pdg)), p.position, v, p.time_ns)

    def _michel_energy(self):
        rng = self.rng
        while True:  # x^2 (3 - 2x) on [0, 1], max 1 at x = 1
            x = rng.random()
            if rng.random() < x * x * (3 - 2 * x):
                return max(x * MICHEL_MAX, ME + 0.01)

    def _inelastic(self, p: Particle):
        """Hadronic inelastic interaction: the projectile is replaced by a few hadrons."""
        rng = self.rng
        apdg = abs(p.pdg)
        v = self.add_vertex("interaction", p.position, FLAG_HADRONIC, p.origin, p.pdg, p.time_ns)
        available = p.kinetic_mev - rng.uniform(8, 30)  # nuclear binding and excitation
        if available <= 1:
            return
        products = []
        # leading particle keeps a share of the energy, others share the rest
        lead_pdg = p.pdg if rng.random() < 0.6 else (2212 if apdg == PDG_P else 2112)
        n_p = rng.poisson(1.0)
        n_n = rng.poisson(1.0)
        n_pi = rng.poisson(max(available - 300, 0) / 400.0)
        products.append(lead_pdg)
        products += [2212] * n_p + [2112] * n_n
        products += [int(rng.choice([211, -211, 111])) for _ in range(n_pi)]
        shares = rng.dirichlet(np.full(len(products), 1.0))
        shares[0] += 1.0
        shares /= shares.sum()
        for pdg, share in zip(products, shares):
            t = available * share
            if t < 0.5:
                continue
            if pdg == lead_pdg and share == shares[0]:
                cos_t = 1 - rng.exponential(0.15)
            else:
                cos_t = rng.uniform(-0.2, 1.0)
            d = _turn(p.direction, max(cos_t, -1.0), rng)
            if pdg == 111:
                self.vertices[v].flags |= FLAG_PI0
            self.push(Particle(pdg, p.position.copy(), d, t, v, v, p.time_ns))

    # -- neutral pions, photons and electrons ---------------------------------------------------------
    def _pi0(self, p: Particle):
        m = 134.9768
        g1, g2 = two_body(m, 0.0, 0.0, self._p4(p, m), self.rng)
        for g in (g1, g2):
            self._emit(22, g, 0.0, p.position, p.parent, p.time_ns, tagged=True)

    def _photon(self, p: Particle):
        rng = self.rng
        while p.kinetic_mev > 0.02:
            e = p.kinetic_mev
            le = math.log(e)
            mu = math.exp(np.interp(le, np.log(_GAMMA_E), np.log(_GAMMA_MU))) * LAR.density_g_cm3
            dist = rng.exponential(1.0 / mu)
            p.position = p.position + dist * p.direction
            p.time_ns += dist / C_CM_PER_NS
            if not self._inside(p.position):
                return
            origin = p.origin
            if p.tagged:
                origin = self.add_vertex("conversion", p.position, FLAG_CONVERSION, p.parent, 22, p.time_ns)
                p.tagged = False
                p.origin = origin
            u = rng.random()
            pair = float(np.interp(le, np.log(_GAMMA_E), _PAIR_FRAC))
            photo = float(np.interp(le, np.log(_GAMMA_E), _PHOTO_FRAC))
            if e > 2 * ME and u < pair:
                y = self._pair_split()
                t_avail = e - 2 * ME
                for share, pdg in ((y, 11), (1 - y, -11)):
                    t = t_avail * share
                    theta = ME / max(e, 1.0) * rng.exponential(1.0)
                    d = _turn(p.direction, math.cos(theta), rng)
                    self.push(Particle(pdg, p.position.copy(), d, t, origin, origin, p.time_ns))
                return
            if u < pair + photo:
                self.deposits.add(p.position, [e], [2.1], p.time_ns, origin)
                return
            # Compton scattering (Klein-Nishina)
            eps, cos_g = self._klein_nishina(e)
            te = e * (1 - eps)
            if te > 0.01:
                pe = math.sqrt(te * (te + 2 * ME))
                cos_e = (e + ME) * te / (e * pe) if pe > 0 else 1.0
                self.push(Particle(11, p.position.copy(), _turn(p.direction, min(cos_e, 1.0), rng), te, origin, origin, p.time_ns))
            p.kinetic_mev = e * eps
            p.direction = _turn(p.direction, cos_g, rng)
        if p.kinetic_mev > 0 and self._inside(p.position):
            self.deposits.add(p.position, [p.kinetic_mev], [2.1], p.time_ns, p.origin)

    def _pair_split(self):
        rng = self.rng
        while True:  # Bethe-Heitler (complete screening) energy share, approx 1 - 4/3 y (1 - y)
            y = rng.random()
            if rng.random() < 1 - 4.0 / 3.0 * y * (1 - y):
                return y

    def _klein_nishina(self, e):
        rng = self.rng
        k = e / ME
        eps0 = 1 / (1 + 2 * k)
        while True:
            eps = eps0 + (1 - eps0) * rng.random()
            cos_g = 1 - (1 / eps - 1) / k
            g = eps + 1 / eps - (1 - cos_g**2)
            if rng.random() * (eps0 + 1 / eps0) < g:
                return eps, cos_g

    def _electron(self, p: Particle):
        rng = self.rng
        x0 = LAR.radiation_length_cm
        if not self._inside(p.position):
            return
        while p.kinetic_mev > self.tracking_cut_mev:
            e = p.kinetic_mev + ME
            kmin = self.brems_cut_mev
            if e > 2 * kmin:
                ym = kmin / e
                rate = (4 / 3 * math.log(1 / ym) - 4 / 3 * (1 - ym) + 0.5 * (1 - ym * ym)) / x0
                d_brem = rng.exponential(1.0 / rate)
            else:
                d_brem = math.inf
            step = self.electron_step_cm if p.kinetic_mev < 50 else self.step_cm
            status, _ = self._step(p, ME, -1.0 if p.pdg > 0 else 1.0, min(d_brem, 30.0), _ELECTRON, 1.0, step)
            if status != kernels.REACHED:
                return
            if d_brem <= 30.0 and p.kinetic_mev > kmin:
                ym = kmin / (p.kinetic_mev + ME)
                while True:
                    y = ym ** rng.random()
                    if rng.random() * 4 / 3 < 4 / 3 - 4 / 3 * y + y * y:
                        break
                k = min(y * (p.kinetic_mev + ME), p.kinetic_mev)
                theta = ME / (p.kinetic_mev + ME) * rng.exponential(1.0)
                self.push(Particle(22, p.position.copy(), _turn(p.direction, math.cos(theta), rng), k, p.origin, p.origin, p.time_ns))
                p.kinetic_mev -= k
