"""``simulate(...)``: seeded, parallel event simulation yielding EventRecords."""

from __future__ import annotations

import functools
import multiprocessing as mp
from dataclasses import dataclass, field

import numpy as np

from ..detectors import Detector, get_detector
from ..mapper import ImageMapper
from ..records import FLAG_COSMIC, FLAG_NU_PRIMARY, EventRecord, PlaneImage, TruthVertex
from . import kernels
from .physics import particle_mass_mev, pdg_from_name
from .response import ResponseConfig, respond
from .enriched import ENRICHED_SAMPLES, enriched_source
from .sources import cosmic_muons, gun, neutrino_interaction
from .transport import Particle, Transport

from .samples import CLASS_MIX, SAMPLES

__all__ = ["SAMPLES", "SimulationConfig", "SimulatedEvents", "simulate", "simulate_event"]


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate (plain data; see :func:`simulate` for the meaning of each field)."""

    detector: str = "dune-fd-1x2x6"
    sample: str = "nu-mix"
    drift_window: int = 6
    pooling: str = "max"
    cosmics: int | str = 0
    particle: str = "mu-"
    energy_mev: tuple = (100.0, 1000.0)
    beam: str = "dune"
    fiducial_margin_cm: float = 10.0
    run: int = 1
    subrun: int = 0
    response: ResponseConfig = field(default_factory=ResponseConfig)

    def __post_init__(self):
        if self.sample not in SAMPLES:
            raise ValueError(f"sample must be one of {SAMPLES}; Received: sample={self.sample!r}")
        if self.cosmics != "auto" and (isinstance(self.cosmics, (bool, str)) or not isinstance(self.cosmics, int)
                                       or self.cosmics < 0):
            raise ValueError(f"cosmics must be an integer >= 0 or 'auto'; Received: cosmics={self.cosmics!r}")
        if self.sample == "gun":
            pdg_from_name(self.particle)


@functools.lru_cache(maxsize=8)
def _mapper(detector: str | Detector, drift_window: int, pooling: str) -> ImageMapper:
    return ImageMapper(get_detector(detector), drift_window=drift_window, pooling=pooling)


def _event_seeds(seed: int, index: int):
    ss = np.random.SeedSequence([int(seed), int(index)])
    return np.random.default_rng(ss), int(ss.generate_state(1)[0] & 0x7FFFFFFF)


def simulate_event(config: SimulationConfig, seed: int, index: int) -> EventRecord:
    """Event ``index`` of the sample with ``seed``: the same (seed, index) always gives the same event."""
    mapper = _mapper(config.detector, config.drift_window, config.pooling)
    det = mapper.detector
    rng, kseed = _event_seeds(seed, index)
    kernels.seed_kernels(kseed)
    tr = Transport(det.bounds_cm.ravel(), rng)
    nu_pdg, ccnc, energy = 0, "", float("nan")
    sample = config.sample
    interaction = None
    if sample == "class-mix":
        sample = str(rng.choice(list(CLASS_MIX), p=np.array(list(CLASS_MIX.values())) / sum(CLASS_MIX.values())))
    if sample == "nu-mix":
        sample = rng.choice(["numu-cc", "nue-cc", "nc"], p=[0.6, 0.1, 0.3])
    loose = []
    if sample in ("numu-cc", "nue-cc", "nc"):
        flavor = "nue" if sample == "nue-cc" else "numu"
        interaction = neutrino_interaction(det, rng, flavor=flavor, current="NC" if sample == "nc" else "CC",
                                           beam=config.beam, margin_cm=config.fiducial_margin_cm)
        nu_pdg, ccnc, energy = interaction.nu_pdg, interaction.ccnc, interaction.energy_gev
    elif sample == "gun":
        interaction = gun(det, rng, pdg=pdg_from_name(config.particle), energy_mev=config.energy_mev,
                          margin_cm=config.fiducial_margin_cm)
        interaction.flags = FLAG_NU_PRIMARY  # the gun's origin plays the primary vertex
    elif sample in ENRICHED_SAMPLES:
        interaction, loose = enriched_source(sample, det, rng, beam=config.beam, margin_cm=config.fiducial_margin_cm)
        if interaction is not None:
            nu_pdg, ccnc, energy = interaction.nu_pdg, interaction.ccnc, interaction.energy_gev
    if interaction is not None:
        v0 = tr.add_vertex("interaction", interaction.position, interaction.flags, -1, nu_pdg)
        for pr in interaction.primaries:
            pm = np.linalg.norm(pr.p4[1:])
            m = particle_mass_mev(abs(pr.pdg))
            d = pr.p4[1:] / pm if pm > 0 else np.array([0.0, 0.0, 1.0])
            tr.push(Particle(pr.pdg, interaction.position.copy(), d, max(pr.p4[0] - m, 0.0), v0, v0, 0.0,
                             tagged=(pr.pdg == 22)))
    for pos, d, e, pdg, t in loose:
        tr.push(Particle(pdg, pos, d, e, -1, -1, t))
    tr.run()  # the event's own particles first: their vertices come first
    n_event = len(tr.vertices)
    if sample == "cosmics":
        n_cosmics = None
    elif config.cosmics == "auto":
        n_cosmics = None if det.surface else 0
    else:
        n_cosmics = config.cosmics
    if n_cosmics != 0:
        for pos, d, e, pdg, t in cosmic_muons(det, rng, n_cosmics):
            tr.push(Particle(pdg, pos, d, e, -1, -1, t))
    deposits, vertices = tr.run()
    xyz, de, dedx, tns, origin = deposits.arrays()
    vpos = np.array([v.position for v in vertices]).reshape(-1, 3)
    vt = np.array([v.time_ns for v in vertices])
    planes, vplanes = respond(mapper, (xyz, de, dedx, tns, origin), vpos, vt, rng, config.response)
    records_planes = [PlaneImage(view, pix, org, truth) for view, (pix, org, truth) in zip(mapper.views, planes)]
    truth = [
        TruthVertex(v.kind, v.position, flags=v.flags | (FLAG_COSMIC if i >= n_event else 0),
                    parent=v.parent, planes=vplanes[i], pdg=v.pdg)
        for i, v in enumerate(vertices)
    ]
    tpc = int(det.tpc_of(interaction.position)) if interaction is not None else -1
    return EventRecord(
        run=config.run, subrun=config.subrun, event=index, detector=det, drift_window=mapper.drift_window,
        pooling=mapper.pooling, planes=records_planes, vertices=truth, nu_pdg=nu_pdg, interaction=ccnc,
        energy_gev=energy, tpc=tpc,
    )


def _work(args):
    config, seed, index, keep_going = args
    try:
        return simulate_event(config, seed, index)
    except Exception as exc:  # noqa: BLE001 - reported with the event that failed
        if not keep_going:
            raise
        return f"event {index} (seed {seed}): {type(exc).__name__}: {exc}"


def simulate(detector: str = "dune-fd-1x2x6", sample: str = "nu-mix", *, events: int = 1, seed: int = 0,
             first_event: int = 0, jobs: int = 1, config: SimulationConfig | None = None, errors: list | None = None,
             **options):
    """Simulate events; yields EventRecords in event order.

    Args:
        detector: built-in name or description file.
        sample: "numu-cc", "nue-cc", "nc", "nu-mix" (60% numu CC, 10% nue CC, 30% NC), "cosmics", "gun";
            the class-rich samples "michel", "pion", "kaon", "proton-decay", "nc-pi0", "cc-pi0",
            "photon" (:mod:`.enriched`) and "class-mix" (nu-mix and those, shares in ``CLASS_MIX``).
        events, seed, first_event: event ``first_event + i`` is simulated from (seed, first_event + i),
            so the same seed gives the same events whatever ``jobs`` is.
        jobs: worker processes.
        errors: if a list, an event whose simulation fails is skipped and a line naming it and the
            error is appended to the list; otherwise the error propagates.
        options: further SimulationConfig fields (drift_window, pooling, cosmics, particle, energy_mev,
            beam, fiducial_margin_cm, run, subrun, response).
    """
    cfg = config or SimulationConfig(detector=str(detector), sample=sample, **options)
    tasks = [(cfg, seed, first_event + i, errors is not None) for i in range(events)]
    if jobs <= 1:
        results = map(_work, tasks)
    else:
        pool = mp.get_context("spawn").Pool(jobs)
        results = pool.imap(_work, tasks, chunksize=1)
    try:
        for r in results:
            if isinstance(r, str):
                errors.append(r)
            else:
                yield r
    finally:
        if jobs > 1:
            pool.terminate()


class SimulatedEvents:
    """An event source that simulates event ``i`` when asked for it (training on the fly).

    ``len()`` is ``events``; ``source[i]`` is ``simulate_event(config, seed, i)``, the same event
    every time, so a training batch generator can draw from an unbounded, reproducible sample
    without storing it.
    """

    def __init__(self, config: SimulationConfig | None = None, *, seed: int = 0, events: int = 1_000_000, **options):
        self.config = config or SimulationConfig(**options)
        self.seed = int(seed)
        self.events = int(events)

    def __len__(self) -> int:
        return self.events

    def __getitem__(self, i: int) -> EventRecord:
        if not 0 <= i < self.events:
            raise IndexError(f"event {i} out of range 0..{self.events - 1}")
        return simulate_event(self.config, self.seed, int(i))
