"""Names of the samples the simulation makes (kept light: the CLI imports it to build its parser)."""

#: The samples ``class-mix`` draws each event from, with their shares. Teacher walks start on
#: charged pixels, so what a class gets is its share of the charge, not of the vertices: nu-mix
#: holds a decay vertex per event but 1% of its charge (Michel electrons beside long muons);
#: proton-decay, kaon and pion events hold 43%, 19% and 8% decay charge, photon and nc-pi0
#: events 76% and 45% conversion charge (README, "Simulation").
CLASS_MIX = {
    "nu-mix": 0.40,
    "michel": 0.05,
    "pion": 0.05,
    "kaon": 0.10,
    "proton-decay": 0.15,
    "nc-pi0": 0.10,
    "cc-pi0": 0.05,
    "photon": 0.10,
}

#: One line per sample (the ``simulate`` help and the README list them in this order).
SAMPLE_DESCRIPTIONS = {
    "numu-cc": "nu_mu CC interactions",
    "nue-cc": "nu_e CC interactions",
    "nc": "nu_mu NC interactions",
    "nu-mix": "60% numu-cc, 10% nue-cc, 30% nc",
    "cosmics": "cosmic muons only",
    "gun": "one particle (--particle, --energy-mev) from a point in the fiducial volume",
    "michel": "cosmic muons stopping in the fiducial volume (mu+/mu- = 1.25): Michel decay vertices "
              "(75% of stopping mu- are captured without one)",
    "pion": "pi+ or pi-, 20-500 MeV, from a point: decays at rest and in flight, pi- absorption",
    "kaon": "K+ or K-, 20-600 MeV, from a point: decays at rest and in flight (PDG modes), K- absorption",
    "proton-decay": "p -> K+ nu-bar: a 339 MeV/c K+ from a point in the fiducial volume",
    "nc-pi0": "nu_mu NC interactions with at least one pi0: conversion vertices",
    "cc-pi0": "nu_mu CC interactions with at least one pi0: conversion vertices",
    "photon": "one photon, 50-1000 MeV (log-uniform), from a point: a conversion vertex",
    "class-mix": "every vertex class plentiful: " + ", ".join(f"{round(100 * f)}% {s}" for s, f in CLASS_MIX.items()),
}

SAMPLES = tuple(SAMPLE_DESCRIPTIONS)
