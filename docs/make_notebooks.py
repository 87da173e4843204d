"""Write the notebooks of notebooks/ from the cell sources below (outputs stripped).

    python docs/make_notebooks.py

The notebooks stay thin: the work is done by package functions (vertexfinder.plotting,
VertexFinder, evaluate), so a user gets the same pictures from their own scripts.
"""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

OUT = Path(__file__).resolve().parents[1] / "notebooks"

SETUP = """import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
import numpy as np
import vertexfinder as vf
from vertexfinder import plotting"""

def md(text):
    return ("md", text)


NOTEBOOKS = {
    "glimpses": [
        md("# Glimpses: what the network sees\n\nA simulated DUNE FD nu_e CC event, its three global-image crops with the truth vertices by class, and the multi-resolution glimpse stack at the primary vertex: K levels of 32x32 pixels, level k pooling 2^k x 2^k image pixels, so the coarsest level sees the whole event and the finest every wire."),
        SETUP + """
event = next(iter(vf.simulate('dune-fd-1x2x6', 'nue-cc', events=1, seed=12)))
fig = plotting.plot_event(event)
[(v.kind, np.round(v.position_cm, 1).tolist()) for v in event.vertices[:6]]""",
        md("The stack at the primary vertex on the collection plane (Z), with max pooling (the default) and mean pooling side by side: max keeps thin tracks visible at coarse levels, mean keeps their charge density."),
        """from generators import GlimpseSpec, Pyramid
z = 2
plane = event.planes[z]
centre = np.floor(np.asarray(event.primary.planes[z]) - plane.origin).astype(np.int64)[None]
fig, axes = plt.subplots(2, 5, figsize=(11, 4.8))
for row, pooling in enumerate(['max', 'mean']):
    spec = GlimpseSpec(num_levels=5, glimpse_size=(32, 32), pyramid_pooling=pooling)
    plotting.plot_glimpses(Pyramid(plane.pixels, spec).extract(centre)[0], axes=axes[row])
    axes[row, 0].set_ylabel(pooling)
fig.tight_layout()""",
        md("Rectangular glimpses: drift pixels are finer than wires in some detectors, so a glimpse can be longer in drift and pool the two axes differently (here 32x16 pixels, scales 2 along wire and 3 along drift)."),
        """rect = GlimpseSpec(num_levels=4, glimpse_size=(32, 16), scale=(2, 3))
stack = Pyramid(plane.pixels, rect).extract(centre)[0]
print(stack.shape, 'field of view (wire, drift pixels):', rect.field_of_view())
axes = plotting.plot_glimpses(stack, scale=rect.scale)""",
        md("Augmentation: a training walk mirrored along wire, along drift, and transposed. The walk keeps its glimpse pixel (the cross) and its step target is mirrored with it."),
        """from generators.features import flip_batch, walk_features
spec = GlimpseSpec()
pos = np.asarray(event.primary.planes[z]) - plane.origin + [20.3, -12.6]
x = {'glimpses': Pyramid(plane.pixels, spec).extract(np.floor(pos).astype(np.int64)[None])[:, None],
     'features': walk_features(pos[None, None], z, 3, spec)}
y = {'step': (np.asarray(event.primary.planes[z]) - plane.origin - pos)[None, None].astype(np.float32)}
fig, axes = plt.subplots(4, 5, figsize=(11, 9))
for row, (fw, fd, tr, name) in enumerate([(0, 0, 0, 'as drawn'), (1, 0, 0, 'mirrored in wire'),
                                          (0, 1, 0, 'mirrored in drift'), (0, 0, 1, 'transposed')]):
    ax_, ay_ = flip_batch(x, y, np.array([fw], bool), np.array([fd], bool), np.array([tr], bool))
    plotting.plot_glimpses(ax_['glimpses'][0, 0], axes=axes[row])
    axes[row, 0].set_ylabel(f"{name}\\nstep {np.round(ay_['step'][0, 0], 1)}", fontsize=8)
fig.tight_layout()""",
    ],
    "finder_at_work": [
        md("# The finder at work\n\nThe bundled model on seeded DUNE FD events: the walks of every seed on the three planes, the glimpse stacks a walk saw at each step, and a gallery of the events where the primary vertex was missed by more than 2 cm."),
        SETUP + """
finder = vf.VertexFinder.load()  # the bundled default model
events = [e for e in vf.simulate('dune-fd-1x2x6', 'nu-mix', events=12, seed=505)
          if e.primary is not None and any(p.pixels.any() for p in e.planes)]
results = finder.find_many(events, mode='all')
dist = [np.linalg.norm(r.vertices[0].position_cm - e.primary.position_cm) if r.vertices and r.vertices[0].position_cm is not None else np.inf
        for e, r in zip(events, results)]
np.round(dist, 2)""",
        md("One event with its truth vertices (circles), the found vertices (crosses) and every walk (orange)."),
        """from vertexfinder.demo import show_event
res = show_event(finder, events[0], None)
fig = plt.gcf()
for v in res.vertices:
    print(v.kind, round(v.score, 3), None if v.position_cm is None else np.round(v.position_cm, 1))""",
        md("## Every vertex: decays and conversions, their parents and gaps\n\n`mode='all'` returns every vertex with its class, a score (for vertices other than the primary, the vertex score's probability that a true vertex is within 2 cm), the vertex it descends from (`parent`, an index into the same list) and, for a conversion, the 3D gap to its parent (the photon's flight). Below: a stopping muon whose Michel electron starts at its end, a charged kaon at rest (a nucleon-decay-like `K+` decaying to a muon), and an NC pi0 event whose photons convert away from the vertex. Circles are the true vertices, crosses the found ones, both coloured by class (red interaction, green decay, blue conversion); a dashed line joins each found vertex to its parent, labelled with a conversion's gap."),
        """from vertexfinder.demo import first_found  # the first event of a seeded sample with such a vertex found

def describe(ev, res):
    for i, v in enumerate(res.vertices):
        gap = f'  gap {v.gap_cm:.1f} cm' if np.isfinite(v.gap_cm) else ''
        near = min((np.linalg.norm(v.position_cm - t.position_cm), t.kind) for t in ev.vertices) if v.position_cm is not None else (np.inf, '')
        print(f'{i}: {v.kind:<12} score {v.score:.2f}  parent {v.parent:>2}{gap}   nearest true vertex {near[0]:.1f} cm ({near[1]})')

ev, res = first_found(finder, 'michel', 3, 'decay')
fig = plotting.plot_vertices(ev, res.vertices, title='stopping muon and Michel electron')
describe(ev, res)""",
        """ev, res = first_found(finder, 'proton-decay', 4, 'decay')
fig = plotting.plot_vertices(ev, res.vertices, title='K+ at rest (p -> K+ nu like): K+ -> mu+ nu, then the muon decays')
describe(ev, res)""",
        """ev, res = first_found(finder, 'nc-pi0', 5, 'conversion')
fig = plotting.plot_vertices(ev, res.vertices, title='NC pi0: the photons convert away from the vertex')
describe(ev, res)""",
        md("## Cosmic muons at the surface\n\nSBND, MicroBooNE and ProtoDUNE sit at the surface: every readout holds cosmic muons (`cosmics='auto'`: the sea-level flux over the detector's top and readout window, about 14 per SBND readout), arriving at random times, so their charge is shifted in drift and cut at the window's edges. Their track ends, kinks and Michel decays look like vertices. On a surface detector the finder searches wider (`surface_search`), and the candidate score weighs, besides the walks, the refiner and the fit, the distance to the top, bottom, upstream and downstream faces (cosmic muons enter and leave there), the distance to a cathode (where a crossing track changes drift volume) and the neutrino tagger's probability (`tagger.keras`: a CNN over the walker's glimpse stacks on every view, whose coarsest level spans metres: a cosmic muon is a straight track across it). Below: six SBND events, one of them with its candidates and the decision; then the same event restricted to the neutrino's slice (`find(event, region=...)`)."),
        """from vertexfinder.records import vertex_visible
from vertexfinder.slices import NEUTRINO_SLICE, with_truth_slices
sample = [e for e in vf.simulate('sbnd', 'nu-mix', events=6, seed=7301, beam='booster', cosmics='auto')
          if e.primary is not None and vertex_visible(e, e.primary)]
first = [finder.find(e)[0] for e in sample]
off = [np.linalg.norm(v.position_cm - e.primary.position_cm) for v, e in zip(first, sample)]
print('primary vertex found within 1 cm in', sum(d <= 1 for d in off), 'of', len(sample), 'events:', np.round(off, 1))
ev = sample[int(np.argmin(off))]  # one where the neutrino vertex won, to see why
print('cosmic vertices', sum(v.is_cosmic for v in ev.vertices), 'neutrino vertices', sum(not v.is_cosmic for v in ev.vertices))
for c in finder.primary_candidates(ev)[:8]:
    f = c['features']
    print(f"score {c['score']:6.2f}  {np.linalg.norm(c['position_cm'] - ev.primary.position_cm):7.1f} cm from the neutrino vertex  "
          f"neutrino tagger {f['neutrino']:.2f}  face {f['face_cm']:5.1f} cm  cathode {f['cathode_cm']:4.1f} cm  primary {f['primary_sum']:.2f}")""",
        """res = finder.find_detailed(ev, mode='all')
fig = plotting.plot_vertices(ev, res.vertices, title='SBND with cosmic muons: found vertices (cosmic ones flagged in the list)')
for v in res.vertices:
    print(v.kind, 'primary' if v.primary else ('cosmic' if v.cosmic else 'neutrino'), None if v.position_cm is None else np.round(v.position_cm, 1))""",
        """sliced = with_truth_slices(ev)  # simulated events: the true neutrino charge is slice 0
v = finder.find(sliced, region=NEUTRINO_SLICE)[0]
print('in the neutrino slice:', np.round(v.position_cm, 1), f'{np.linalg.norm(v.position_cm - ev.primary.position_cm):.1f} cm from the truth')""",
        md("The glimpse stacks along one primary walk on the collection plane, step by step: the walk looks, steps, and looks again."),
        """from generators import Pyramid
z = 2
ev, res = events[0], results[0]
pyr = Pyramid(ev.planes[z].pixels, finder.spec)
walk = np.asarray(res.walks[z][0]) - ev.planes[z].origin
fig = plotting.plot_walk_steps(pyr, walk, max_steps=5)""",
        md("Failures: events whose primary vertex was found more than 2 cm away (or not in 3D)."),
        """bad = [i for i, d in enumerate(dist) if d > 2.0]
print(len(bad), 'of', len(events), 'events missed by more than 2 cm')
for i in bad[:3]:
    show_event(finder, events[i], None, title=f'event {events[i].event}: missed by {dist[i]:.1f} cm')""",
        md("The choice: the 3D candidates the primary vertex was chosen among (each looked at again on every view), with the candidate score that ranked them and some of the numbers it weighs (walk share, the refiner's primary probability over the views, the 3D residual, the share of charge upstream along the beam). A miss is a search failure when no candidate is near the truth, a choice failure when one is but scored lower (`benchmarks/diagnose_primary.py` counts both over a sample)."),
        """for i in (bad[:2] or [0]):
    ev = events[i]
    print(f'event {ev.event}')
    for c in finder.primary_candidates(ev):
        f = c['features']
        print(f"  score {c['score']:6.2f}  {np.linalg.norm(c['position_cm'] - ev.primary.position_cm):7.1f} cm from the truth  "
              f"share {f['share_sum']:.2f}  primary {f['primary_sum']:.2f}  residual {f['residual_cm']:.2f} cm  upstream {f['upstream']:.2f}")""",
    ],
    "evaluation": [
        md("# Evaluation\n\nThe figures of `vertexfinder evaluate` on a small seeded sample, as pictures: fraction of events with the primary vertex within a distance, in 3D and per plane; the class confusion of all found vertices; the dependence on neutrino energy; and how the figures move when the detector's noise and gain change."),
        SETUP + """
from vertexfinder.evaluation import evaluate, format_report
from vertexfinder.simulation import SimulationConfig
from vertexfinder.simulation.response import ResponseConfig
finder = vf.VertexFinder.load()
events = [e for e in vf.simulate('dune-fd-1x2x6', 'nu-mix', events=24, seed=606)
          if e.primary is not None and any(p.pixels.any() for p in e.planes)]
m = evaluate(finder, events, progress=False)
print(format_report(m))""",
        """results = finder.find_many(events, mode='primary')
d3, d2 = [], {v: [] for v in 'UVZ'}
mapper = finder.mapper(events[0])
for e, r in zip(events, results):
    v = r.vertices[0]
    d3.append(np.inf if v.position_cm is None else np.linalg.norm(v.position_cm - e.primary.position_cm))
    for p, view in enumerate(mapper.views):
        pv = v.planes[p]
        d2[view].append(np.inf if pv is None else np.linalg.norm((np.array([pv.global_wire, pv.global_drift]) - e.primary.planes[p]) * mapper.pixel_cm(p)))
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
plotting.plot_efficiency({'3D': d3}, ax=axes[0], title='primary vertex, 3D')
plotting.plot_efficiency(d2, ax=axes[1], title='primary vertex, per plane (2D)')
fig.tight_layout()""",
        md("Per class: for every visible true vertex, the distance to the nearest vertex found with its class (`all` mode)."),
        """from vertexfinder.evaluation import vertex_visible
found_all = finder.find_many(events, mode='all')
per_class = {k: [] for k in vf.VERTEX_KINDS}
for e, r in zip(events, found_all):
    for t in e.vertices:
        if not vertex_visible(e, t):
            continue
        same = [v.position_cm for v in r.vertices if v.kind == t.kind and v.position_cm is not None]
        per_class[t.kind].append(min((np.linalg.norm(p - t.position_cm) for p in same), default=np.inf))
ax = plotting.plot_efficiency(per_class, title='true vertices found with their class')""",
        """ax = plotting.plot_confusion(m['confusion']['matrix'], m['confusion']['classes'])""",
        md("## Class-rich samples\n\nDecays and conversions are rare in neutrino events; the samples of `vertexfinder simulate` where each class is plentiful show the `all`-mode figures class by class: efficiency and purity within 2 cm in 3D, the class accuracy of found vertices, whether each found vertex names the right parent, and the conversion gap (found minus true). `python benchmarks/diagnose_secondary.py` shows where the vertices that are not found are lost."),
        """rows = []
for sample in ('michel', 'proton-decay', 'nc-pi0', 'photon'):
    evs = [e for e in vf.simulate('dune-fd-1x2x6', sample, events=10, seed=707) if any(p.pixels.any() for p in e.planes)]
    ms = evaluate(finder, evs, progress=False)
    eff, pur = ms['efficiency'], ms['purity']
    print(f"{sample:<13}" + '  '.join(f"{k[:4]} {eff[k]['2cm']:.2f}/{pur[k]['2cm']:.2f} ({ms['efficiency_counts'][k]})" for k in vf.VERTEX_KINDS)
          + f"  class acc {ms['class_accuracy']:.2f}  parent {ms['parent_accuracy']:.2f}  gap<1cm {ms['conversion_gap']['within_1cm']:.2f}")""",
        md("Dependence on the neutrino energy (events in two bins around the median)."),
        """energy = np.array([e.energy_gev for e in events])
cut = np.median(energy)
for name, sel in (('low', energy <= cut), ('high', energy > cut)):
    d = np.array(d3)[sel]
    print(f'{name} energy ({energy[sel].min():.1f}-{energy[sel].max():.1f} GeV): within 1 cm {np.mean(d <= 1):.2f}, within 2 cm {np.mean(d <= 2):.2f} ({sel.sum()} events)')""",
        md("Systematic variations: the same events simulated with twice the noise, and with the collection gain 20% lower (the model was trained on the nominal response)."),
        """variations = {'nominal': ResponseConfig(), 'noise x2': ResponseConfig(noise_adc=3.0, coherent_noise_adc=1.4),
              'gain -20%': ResponseConfig(adc_per_electron=0.8 / 120.0)}
for name, response in variations.items():
    cfg = SimulationConfig(detector='dune-fd-1x2x6', sample='nu-mix', response=response)
    evs = [e for e in vf.simulate(events=12, seed=606, config=cfg) if e.primary is not None]  # evaluate() counts empty events
    mv = evaluate(finder, evs, progress=False)
    print(f"{name:<10} primary within 1 cm {mv['primary_within_1cm_3d']:.2f}, 2 cm {mv['primary_within_2cm_3d']:.2f}, class accuracy {mv['class_accuracy']:.2f}")""",
        md("The same events seen with another detector response (`vertexfinder evaluate --variation`): the charge in other units, smeared, or with low-level noise over the whole crop. The finder normalises the charge and cuts spread-out noise, so the figures barely move (`benchmarks/bench_robustness.py` runs the full table)."),
        """from vertexfinder.evaluation import parse_variation, vary_event
for text in ('gain=0.25', 'gain=4', 'smear=1', 'noise=2.6'):
    mv = evaluate(finder, [vary_event(e, parse_variation(text)) for e in events], progress=False)
    print(f"{text:<10} primary within 1 cm {mv['primary_within_1cm_3d']:.2f}, 2 cm {mv['primary_within_2cm_3d']:.2f} (nominal {m['primary_within_1cm_3d']:.2f}, {m['primary_within_2cm_3d']:.2f})")""",
    ],
    "training_diagnostics": [
        md("# Training diagnostics\n\nA tiny training run (seconds, on the small test detector), its loss and validation curves read back from the TensorBoard logs, the batch composition the generator chose over the epochs, and the curves of the bundled default model's own training run (`models/default/history.csv`)."),
        SETUP + """
import tempfile, pathlib
from vertexfinder.training import config_from_toml, train
run = pathlib.Path(tempfile.mkdtemp()) / 'run'
cfg = config_from_toml(None, ["detector='test-detector'", "sample='numu-cc'", 'train_events=20', 'validation_events=4',
                              'validation_walks=24', 'num_levels=3', 'glimpse_size=[16, 16]', 'num_steps=4', 'max_step=32.0',
                              'filters=[8, 16]', 'encoder_units=16', 'recurrent_units=16', 'batch_size=16',
                              'steps_per_epoch=4', 'epochs=3', 'composition_every=2'])
model = train(cfg, run, verbose=0)
sorted(p.name for p in run.iterdir())""",
        md("Curves from the TensorBoard event files (`run/logs/train`, `run/logs/validation`)."),
        """from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
acc = EventAccumulator(str(run / 'logs' / 'train'))
acc.Reload()
tags = acc.Tags()['scalars']
print(tags)
fig, ax = plt.subplots(figsize=(5, 3.4))
for tag in [t for t in tags if t.startswith('epoch_') and 'loss' in t]:
    ev = acc.Scalars(tag)
    ax.plot([e.step for e in ev], [e.value for e in ev], label=tag)
ax.set_xlabel('epoch'); ax.legend(fontsize=7)""",
        md("Batch composition: the share of walks per class and per distance bin that the composition control drew, epoch by epoch (its weights follow the model's loss per category)."),
        """from generators.composition import CompositionControl
from vertexfinder.training import event_sources, make_dataset
source, _ = event_sources(cfg, validation=False)
ds = make_dataset(cfg, source)
ds.composition = CompositionControl(floor=0.1, momentum=0.0)
rows = []
for epoch in range(4):
    for i in range(4):
        inputs, targets, cats = ds.generate(epoch, i)
        ds.composition.count(cats[cats >= 0])
    # pretend the model finds class 'none' hard: its weight rises
    losses = np.where(ds.composition.decode(cats)['class'] == 3, 3.0, 1.0)[cats >= 0]
    ds.composition.update(losses, cats[cats >= 0])
    rows.append(ds.composition.log_epoch(epoch))
for r in rows:
    print(r['epoch'], {k: round(v, 2) for k, v in r['class'].items()})""",
        md("The bundled model's training run: validation figures per epoch (walks of the model's own, rolled out from fixed starts)."),
        """import csv
from vertexfinder.finder import default_model_path
with open(default_model_path() / 'history.csv') as f:
    hist = list(csv.DictReader(f))
epoch = [int(r['epoch']) for r in hist]
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
for key in ('loss', 'step_loss', 'kind_loss', 'distance_loss'):
    axes[0].plot(epoch, [float(r[key]) for r in hist], label=key)
axes[0].set_yscale('log'); axes[0].legend(fontsize=7); axes[0].set_xlabel('epoch')
for key in ('val_within_1cm', 'val_within_2cm', 'val_origin_within_1cm', 'val_class_accuracy'):
    axes[1].plot(epoch, [float(r[key]) for r in hist], label=key)
axes[1].axvline(next((e for e, r in zip(epoch, hist) if float(r.get('policy_fraction') or 0) > 0), epoch[-1]), color='0.6', ls='--', lw=0.8)
axes[1].legend(fontsize=7); axes[1].set_xlabel('epoch (dashed: on-policy walks start)')
fig.tight_layout()""",
        md("The bundled refiner's training (`models/default/refiner_history.csv`: run R-e, then R-g started from its weights; the `run` column says which, the dotted line where R-g begins): how far the refined points of the fixed validation set lie from their vertex, and its class and primary heads. The points start 2.2 px (median) from their vertex."),
        """with open(default_model_path() / 'refiner_history.csv') as f:
    rh = list(csv.DictReader(f))
ep = [int(r['epoch']) for r in rh]
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
axes[0].plot(ep, [float(r['val_offset_median_px']) for r in rh], label='median distance after refining (px)')
axes[0].axhline(float(rh[0]['val_start_median_px']), color='0.6', ls='--', lw=0.8, label='before refining')
axes[0].legend(fontsize=7); axes[0].set_xlabel('epoch')
for key in ('val_within_1px', 'val_class_accuracy', 'val_primary_accuracy'):
    axes[1].plot(ep, [float(r[key]) for r in rh], label=key)
axes[1].legend(fontsize=7); axes[1].set_xlabel('epoch')
for ax in axes:  # where a warm-started run begins
    for e, (a, b) in zip(ep[1:], zip(rh, rh[1:])):
        if a.get('run') != b.get('run'):
            ax.axvline(e - 0.5, color='0.6', ls=':', lw=0.8)
fig.tight_layout()""",
    ],
}


def main():
    for name, cells in NOTEBOOKS.items():
        nb = new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        for src in cells:
            nb.cells.append(new_markdown_cell(src[1]) if isinstance(src, tuple) else new_code_cell(src))
        nbformat.write(nb, OUT / f"{name}.ipynb")
        print("wrote", OUT / f"{name}.ipynb")


if __name__ == "__main__":
    main()
