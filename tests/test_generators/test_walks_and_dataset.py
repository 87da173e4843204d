"""Walk sampling, the Keras batch generator, and batch-composition control."""

import pickle
from types import SimpleNamespace

import numpy as np
import pytest

from generators.callbacks import CompositionCallback
from generators.composition import CompositionControl
from generators.dataset import WalkDataset
from generators.features import flip_batch, walk_features
from generators.glimpses import GlimpseSpec, Pyramid, extract_glimpses
from generators.walks import NONE_CLASS, WalkSpec, sample_walks


def toy_event(rng, shape=(200, 180)):
    """Two tracks from a primary vertex, a detached conversion with its own charge, per-pixel truth."""
    img = np.zeros(shape, np.uint8)
    truth = np.full(shape, -1, np.int16)
    vtx = np.array([[100.5, 90.5], [150.5, 40.5]])
    for angle in (0.3, 2.2):
        for r in range(70):
            w, d = (vtx[0] + r * np.array([np.cos(angle), np.sin(angle)])).astype(int)
            img[w, d], truth[w, d] = 80, 0
    for r in range(30):
        w, d = (vtx[1] + r * np.array([0.7, -0.7])).astype(int)
        img[w, d], truth[w, d] = 120, 1
    img[10:14, 170:174] = 60  # charge of no vertex
    return img, truth, vtx


def as_event(img, truth, vtx):
    plane = SimpleNamespace(pixels=img, truth=truth, origin=(1000, 500))
    verts = [SimpleNamespace(kind="interaction", flags=0x11, planes=np.tile(vtx[0] + (1000, 500), (3, 1))),
             SimpleNamespace(kind="conversion", flags=0x8, planes=np.tile(vtx[1] + (1000, 500), (3, 1)))]
    return SimpleNamespace(planes=[plane, plane, plane], vertices=verts)


def test_teacher_walks_converge_on_the_primary():
    rng = np.random.default_rng(0)
    img, truth, vtx = toy_event(rng)
    w = sample_walks(img, vtx, np.array([0, 2]), 300, WalkSpec(num_steps=8, max_step=32), rng)
    assert w.positions.shape == (300, 8, 2) and w.displacement.shape == (300, 8, 2)
    has = w.label != NONE_CLASS
    assert has.mean() > 0.8 and np.all(w.label[has] == 0)
    # displacement targets point at the target and respect the step limit
    np.testing.assert_allclose(np.linalg.norm(w.displacement, axis=-1).max(), 32, atol=1e-3)
    d = w.target[has, None, :] - w.positions[has]
    n = np.linalg.norm(d, axis=-1)
    np.testing.assert_allclose(w.distance[has], n, rtol=1e-5)
    cos = np.sum(d * w.displacement[has], axis=-1) / np.maximum(n * np.linalg.norm(w.displacement[has], axis=-1), 1e-9)
    assert np.all(cos[n > 1e-3] > 0.999)
    assert np.median(w.distance[has, -1]) < 3.0 < np.median(w.distance[has, 0])
    # none-walks have zero displacement and the reach as distance
    assert np.all(w.displacement[~has] == 0) and np.all(w.distance[~has] == WalkSpec().reach)


def test_origin_targets_follow_the_truth_map():
    rng = np.random.default_rng(1)
    img, truth, vtx = toy_event(rng)
    spec = WalkSpec(target="origin", start_mix={"charge": 1.0})
    w = sample_walks(img, vtx, np.array([0, 2]), 400, spec, rng, truth=truth)
    start = np.floor(w.positions[:, 0]).astype(int)
    origin = truth[start[:, 0], start[:, 1]]
    np.testing.assert_array_equal(w.vertex, origin)
    assert set(w.label) == {0, 2, NONE_CLASS}  # interaction, conversion, and the orphan blob
    np.testing.assert_array_equal(w.label[origin == 1], 2)
    with pytest.raises(ValueError, match="truth map"):
        sample_walks(img, vtx, np.array([0, 2]), 3, spec, rng)


def test_an_event_without_vertices_gives_walks_of_class_none():
    """A stopping mu- captured by the argon leaves charge but no vertex (class-mix, cosmics)."""
    rng = np.random.default_rng(2)
    img, truth, _ = toy_event(rng)
    w = sample_walks(img, np.zeros((0, 2)), np.zeros(0, np.int64), 50, WalkSpec(target="origin"), rng,
                     truth=np.full_like(truth, -1), primary=-1)
    assert len(w.label) == 50 and set(w.label) == {NONE_CLASS} and np.all(w.vertex == -1)


def test_start_mixture_kinds():
    rng = np.random.default_rng(2)
    img, truth, vtx = toy_event(rng)
    near = sample_walks(img, vtx, np.array([0, 2]), 200, WalkSpec(start_mix={"near": 1.0}, near_radius=10), rng)
    d0 = np.linalg.norm(near.positions[:, 0] - vtx[0], axis=1)
    assert d0.max() < 12
    far = sample_walks(img, vtx, np.array([0, 2]), 200, WalkSpec(start_mix={"far": 1.0}, far_margin=50), rng)
    p = far.positions[:, 0]
    assert (p < 0).any() and p.min() >= -50 and (p[:, 0] > img.shape[0]).any()
    with pytest.raises(ValueError, match="start kind"):
        WalkSpec(start_mix={"anywhere": 1.0})


def _dataset(**kw):
    rng = np.random.default_rng(3)
    events = [as_event(*toy_event(rng)) for _ in range(4)]
    opts = dict(glimpse=GlimpseSpec(num_levels=3, glimpse_size=(16, 16)), walk=WalkSpec(num_steps=4, target="mixed"),
                batch_size=16, batches_per_epoch=5, seed=7)
    opts.update(kw)
    return WalkDataset(events, **opts)


def test_an_image_without_charge_gets_far_starts_whatever_the_mix():
    img = np.zeros((50, 40), np.uint8)
    spec = WalkSpec(num_steps=3, start_mix=(("near", 1.0),))
    w = sample_walks(img, np.array([[20.0, 20.0]]), np.array([0]), 6, spec, np.random.default_rng(1), primary=0)
    assert np.all(w.start_kind == 3)  # "far"
    assert np.all(np.isfinite(w.positions))


def test_batches_have_the_documented_shapes_and_match_the_kernels():
    ds = _dataset(augment=False)
    x, y = ds[0]
    assert x["glimpses"].shape == (16, 4, 3, 16, 16) and x["glimpses"].dtype == np.uint8
    assert x["features"].shape == (16, 4, 3 + 1 + 6) and x["features"].dtype == np.float32
    assert y["step"].shape == (16, 4, 2) and y["kind"].shape == (16, 4) and y["distance"].shape == (16, 4)
    # the glimpses are the kernel's stacks at the walk positions, and the features one-hot the plane
    inputs, targets, cats = ds.generate(0, 0)
    assert np.all(inputs["features"][..., :3].sum(-1) == 1)
    # the task feature is constant along a walk; both tasks occur with target="mixed"
    task = inputs["features"][..., 3]
    assert np.all(task == task[:, :1]) and set(np.unique(task)) == {0.0, 1.0}
    assert len(cats) == 16


def test_batches_reproducible_from_seed_epoch_index():
    a, b = _dataset(), _dataset()
    for i in (0, 3):
        xa, ya = a[i]
        xb, yb = b[i]
        for k in xa:
            np.testing.assert_array_equal(xa[k], xb[k])
        for k in ya:
            np.testing.assert_array_equal(ya[k], yb[k])
    x0, _ = a[1]
    a.on_epoch_end()
    x1, _ = a[1]
    assert not np.array_equal(x0["glimpses"], x1["glimpses"])  # a new epoch draws new walks
    c = _dataset(seed=8)
    assert not np.array_equal(c[0][0]["glimpses"], b[0][0]["glimpses"])


def test_dataset_pickles_without_its_cache():
    ds = _dataset()
    ds[0]
    assert len(ds._cache) > 0
    clone = pickle.loads(pickle.dumps(ds))
    assert len(clone._cache) == 0
    np.testing.assert_array_equal(clone[2][0]["glimpses"], ds[2][0]["glimpses"])


def test_flips_mirror_glimpses_steps_and_features_consistently():
    ds = _dataset(augment=False)
    x, y, _ = ds.generate(0, 1)
    fw = np.zeros(16, bool)
    fw[:8] = True
    fx, fy = flip_batch(x, y, fw, np.zeros(16, bool))
    # pixel j comes from pixel 2 * 8 - j (the walk's pixel 8 stays), pixel 0 from beyond the glimpse
    np.testing.assert_array_equal(fx["glimpses"][:8, :, :, 1:], x["glimpses"][:8, :, :, 15:0:-1])
    assert not fx["glimpses"][:8, :, :, 0].any()
    np.testing.assert_array_equal(fx["glimpses"][8:], x["glimpses"][8:])
    np.testing.assert_array_equal(fy["step"][:8, :, 0], -y["step"][:8, :, 0])
    np.testing.assert_array_equal(fy["step"][:, :, 1], y["step"][:, :, 1])
    twice, _ = flip_batch(fx, fy, fw, np.zeros(16, bool))
    np.testing.assert_array_equal(twice["glimpses"][:, :, :, 1:], x["glimpses"][:, :, :, 1:])


def test_a_mirrored_glimpse_is_the_glimpse_of_the_mirrored_image():
    spec = GlimpseSpec(num_levels=3, glimpse_size=(8, 8))
    rng = np.random.default_rng(5)
    img = (rng.random((64, 48)) < 0.1).astype(np.uint8) * rng.integers(1, 255, (64, 48), dtype=np.uint8)
    pos = np.array([[23.3, 17.8], [40.6, 30.1], [5.2, 44.7]])
    steps = np.zeros((3, 1, 2), np.float32)
    x = {"glimpses": Pyramid(img, spec).extract(np.floor(pos).astype(np.int64))[:, None],
         "features": walk_features(pos[:, None], 0, 3, spec)}
    fx, _ = flip_batch(x, {"step": steps}, np.ones(3, bool), np.zeros(3, bool))
    mpos = pos * [-1, 1] + [img.shape[0], 0]  # x -> n - x mirrors the image's continuous coordinates
    want = Pyramid(img[::-1].copy(), spec).extract(np.floor(mpos).astype(np.int64))
    np.testing.assert_array_equal(fx["glimpses"][:, 0, :, 1:], want[:, :, 1:])
    np.testing.assert_allclose(fx["features"][:, 0], walk_features(mpos, 0, 3, spec), atol=1e-6)


def test_walk_features_fractional_positions():
    spec = GlimpseSpec(num_levels=2, scale=(2, 4))
    f = walk_features(np.array([[5.25, 9.0]]), plane=1, n_planes=3, spec=spec)
    np.testing.assert_allclose(f[0], [0, 1, 0, 1, 0.25, 0.0, (5.25 / 2) % 1, (9.0 / 4) % 1])
    # the task per walk: walks (N, T, 2) with one task value each
    f = walk_features(np.zeros((2, 3, 2)), plane=0, n_planes=3, spec=spec, task=np.array([0.0, 1.0]))
    np.testing.assert_array_equal(f[..., 3], [[0, 0, 0], [1, 1, 1]])


def test_a_category_made_hard_gets_a_larger_share():
    ds = _dataset(oversample=4, composition=CompositionControl(floor=0.1, momentum=0.0))
    hard_class = NONE_CLASS

    def share_of_hard():
        kinds = np.concatenate([ds.generate(5, i)[1]["kind"][:, 0] for i in range(20)])
        return np.mean(kinds == hard_class)

    before = share_of_hard()

    class FakeModel:
        """Loss 10 on walks of the hard class, 1 elsewhere (as a model that has not learnt it would)."""

        def __call__(self, inputs, training=False):
            return {"kind": None}

    def loss_fn(targets, outputs):
        return np.where(targets["kind"][:, 0] == hard_class, 10.0, 1.0)

    cb = CompositionCallback(ds, loss_fn, probe_batches=4, every=1)
    cb.set_model(FakeModel())
    cb.on_train_batch_end(0)
    after = share_of_hard()
    assert after > before + 0.1
    assert np.all(ds.composition.weights >= 0.1)  # the floor: no category starves


def test_composition_is_logged_per_epoch():
    ds = _dataset()
    for i in range(len(ds)):
        ds[i]
    ds.on_epoch_end()
    entry = ds.composition.history[-1]
    assert entry["epoch"] == 0 and entry["walks"] == 5 * 16
    assert sum(entry["class"].values()) == pytest.approx(1.0)
    assert sum(entry["plane"]) == pytest.approx(1.0)


def test_dataset_reads_an_event_store_and_the_simulation(tmp_path):
    from vertexfinder.simulation import SimulatedEvents, simulate
    from vertexfinder.io.store import EventStore

    path = tmp_path / "s.vfstore"
    events = list(simulate("test-detector", "numu-cc", events=3, seed=1, fiducial_margin_cm=2.0))
    with EventStore.create(path, detector="test-detector", views=["U", "V", "Z"], drift_window=6, pooling="max") as w:
        w.extend(events)
    spec = dict(glimpse=GlimpseSpec(num_levels=3, glimpse_size=(16, 16)), walk=WalkSpec(num_steps=4),
                batch_size=8, batches_per_epoch=2, seed=1)
    from_store = WalkDataset(EventStore.open(path), **spec)
    from_sim = WalkDataset(SimulatedEvents(seed=1, events=3, detector="test-detector", sample="numu-cc",
                                           fiducial_margin_cm=2.0), **spec)
    for k in ("glimpses", "features"):
        np.testing.assert_array_equal(from_store[0][0][k], from_sim[0][0][k])
    assert from_store[0][0]["glimpses"].any()
    direct = extract_glimpses(events[0].planes[2].pixels, np.array([[5, 5]]), spec["glimpse"])
    assert direct.shape == (1, 3, 16, 16)


def test_transpose_swaps_axes_steps_and_features():
    ds = _dataset(augment=False)
    x, y, _ = ds.generate(0, 2)
    none = np.zeros(16, bool)
    tr = np.arange(16) % 2 == 0
    tx, ty = flip_batch(x, y, none, none, tr)
    np.testing.assert_array_equal(tx["glimpses"][tr], np.swapaxes(x["glimpses"][tr], -1, -2))
    np.testing.assert_array_equal(ty["step"][tr], y["step"][tr][..., ::-1])
    np.testing.assert_array_equal(tx["glimpses"][~tr], x["glimpses"][~tr])
    # the transposed walk is the walk on the transposed image: features swap their fractional pairs
    frac = x["features"][tr][..., 4:].reshape(8, 4, -1, 2)
    np.testing.assert_array_equal(tx["features"][tr][..., 4:].reshape(8, 4, -1, 2), frac[..., ::-1])
    np.testing.assert_array_equal(tx["features"][..., :4], x["features"][..., :4])
    rect = {"glimpses": np.zeros((2, 1, 1, 4, 3), np.uint8), "features": np.zeros((2, 1, 5), np.float32)}
    with pytest.raises(ValueError, match="square"):
        flip_batch(rect, {"step": np.zeros((2, 1, 2), np.float32)}, np.zeros(2, bool), np.zeros(2, bool), np.ones(2, bool))


def test_on_policy_walks_follow_the_model_and_carry_teacher_targets():
    from generators.rollout import rollout

    ds = _dataset(augment=False)
    pool = ds.policy_starts(n_events=2, walks_per_plane=5, seed=3)
    assert len(pool) == 2 * 3 * 5 and pool.positions.shape == (30, 1, 2)

    def drift_right(g, f, state):  # a "model" that always steps +3 pixels along wire
        return {"step": np.tile([3.0, 0.0], (len(g), 1))}, state

    res = rollout(drift_right, pool.pyramids, pool.which, pool.positions[:, 0], pool.planes, pool.n_planes,
                  ds.glimpse, ds.walk.num_steps, task=pool.task)
    pool.positions = res["positions"][:, : ds.walk.num_steps]
    np.testing.assert_allclose(np.diff(pool.positions[:, :, 0], axis=1), 3.0)
    ds.set_policy(pool, 0.5)
    x, y, cats = ds.generate(0, 0)
    assert (cats == -1).sum() == 8 and np.all(cats[:8] >= 0)
    # policy rows: glimpses at the model's positions, step targets toward the walk's own vertex
    tail = y["step"][8:]
    has = y["kind"][8:, 0] != NONE_CLASS
    assert np.all(tail[~has] == 0)
    norms = np.linalg.norm(tail[has], axis=-1)
    assert np.all(norms <= ds.walk.max_step + 1e-4)
    assert np.all(x["features"][8:, :, 3] == x["features"][8:, :1, 3])  # the task stays the walk's
    with pytest.raises(ValueError, match="fraction"):
        ds.set_policy(pool, 1.0)
