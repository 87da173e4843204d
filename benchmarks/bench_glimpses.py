"""Glimpse-stack extraction speed on one core, against NumPy and TensorFlow; batch generation rate.

    python benchmarks/bench_glimpses.py [--stacks 20000]

Table 1: stacks of K=5 levels of 32x32 per second on one core (Numba and TF
pinned to one thread) for
  * generators.Pyramid.extract (pyramid built once per image, included once),
  * the slow NumPy reference of the tests (a pyramid, then one crop per level),
  * tf.image.crop_and_resize making the same output size (box of 32*2^k pixels
    resized to 32x32 per level, nearest neighbour), the TensorFlow way without
    a pyramid.
Table 2: walks per second from WalkDataset (T=8) on simulated DUNE events,
with 1 and 2 worker threads, against the walks per second a recurrent CNN of
the bundled walker's size (per-step CNN over the K glimpses, GRU(128),
step/class/distance heads, ~0.3M parameters) consumes in training on the same
2 cores (``--no-model`` skips it).
"""

import argparse
import os
import sys
import time
from pathlib import Path

MODEL_ONLY = "--model-only" in sys.argv
if not MODEL_ONLY:  # the model's consumption is measured in a child process with 2 threads
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "test_generators"))
from reference import glimpses_reference  # noqa: E402

from generators.glimpses import GlimpseSpec, Pyramid  # noqa: E402


def timed(fn, repeat=3):
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stacks", type=int, default=20000)
    ap.add_argument("--walk-batches", type=int, default=20)
    ap.add_argument("--no-model", action="store_true")
    ap.add_argument("--model-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.model_only:
        from generators.dataset import WalkDataset
        from generators.walks import WalkSpec
        from vertexfinder.simulation import simulate

        events = [e for e in simulate("dune-fd-1x2x6", "nu-mix", events=10, seed=3) if e.primary is not None]
        x, y = WalkDataset(events, walk=WalkSpec(num_steps=8, target="mixed"), batch_size=64, seed=0)[0]
        print(f"{consumption(x, y):.0f}")
        return
    spec = GlimpseSpec(num_levels=5, glimpse_size=(32, 32), scale=(2, 2), pyramid_pooling="max")
    rng = np.random.default_rng(0)
    img = (rng.random((800, 900)) < 0.05) * rng.integers(1, 255, (800, 900))
    img = img.astype(np.uint8)
    centres = np.stack([rng.integers(0, 800, args.stacks), rng.integers(0, 900, args.stacks)], axis=1)

    Pyramid(img, spec).extract(centres[:4])  # compile
    t_numba = timed(lambda: Pyramid(img, spec).extract(centres))
    pyr = Pyramid(img, spec)
    t_extract = timed(lambda: pyr.extract(centres))
    n_ref = max(args.stacks // 100, 50)
    t_ref = timed(lambda: glimpses_reference(img, centres[:n_ref], spec), repeat=1) * args.stacks / n_ref

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    image = tf.constant(img[None, :, :, None].astype(np.float32))
    H, W = img.shape
    boxes = []
    for c in centres:
        for k in range(spec.num_levels):
            half = 16 * 2**k
            boxes.append([(c[0] - half) / (H - 1), (c[1] - half) / (W - 1), (c[0] + half - 1) / (H - 1), (c[1] + half - 1) / (W - 1)])
    boxes = tf.constant(np.array(boxes, dtype=np.float32))
    idx = tf.zeros(len(boxes), dtype=tf.int32)
    fn = tf.function(lambda b, i: tf.image.crop_and_resize(image, b, i, (32, 32), method="nearest", extrapolation_value=0.0))
    fn(boxes[:10], idx[:10])
    t_tf = timed(lambda: fn(boxes, idx).numpy())

    print(f"glimpse stacks of K=5 levels of 32x32, {args.stacks} centres on an 800x900 image, one core")
    print(f"{'method':<40}{'stacks/s':>12}{'vs TF':>8}")
    rows = [("generators: pyramid + extraction", t_numba), ("generators: extraction (pyramid built)", t_extract),
            ("NumPy reference", t_ref), ("tf.image.crop_and_resize", t_tf)]
    for name, t in rows:
        print(f"{name:<40}{args.stacks / t:>12,.0f}{t_tf / t:>8.1f}x")

    from generators.dataset import WalkDataset
    from generators.walks import WalkSpec
    from vertexfinder.simulation import simulate

    events = [e for e in simulate("dune-fd-1x2x6", "nu-mix", events=40, seed=3) if e.primary is not None]
    print()
    print(f"{'batch generation (B=64, T=8, K=5)':<40}{'walks/s':>12}")
    for workers in (1, 2):
        ds = WalkDataset(events, walk=WalkSpec(num_steps=8, target="mixed"), batch_size=64,
                         batches_per_epoch=args.walk_batches, seed=0, workers=workers)
        ds[0]
        if workers == 1:
            t = timed(lambda: [ds[i] for i in range(args.walk_batches)], repeat=1)
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(workers) as ex:
                t = timed(lambda: list(ex.map(ds.__getitem__, range(args.walk_batches))), repeat=1)
        print(f"{f'WalkDataset, {workers} worker thread(s)':<40}{64 * args.walk_batches / t:>12,.0f}")
    if not args.no_model:
        import subprocess

        out = subprocess.run([sys.executable, __file__, "--model-only"], capture_output=True, text=True, check=True)
        rate = float(out.stdout.strip().splitlines()[-1])
        print(f"{'recurrent CNN training, 2 cores':<40}{rate:>12,.0f}")


def consumption(x, y, steps=10):
    """Walks/s of train steps of a recurrent CNN of the walker's size on one batch (2 threads)."""
    import keras
    import tensorflow as tf

    B, T, K, gw, gd = x["glimpses"].shape
    g_in = keras.Input((T, K, gw, gd), dtype="uint8", name="glimpses")
    f_in = keras.Input((T, x["features"].shape[-1]), name="features")
    h = keras.layers.Permute((1, 3, 4, 2))(keras.layers.Rescaling(1 / 64.0)(g_in))
    cnn = keras.Sequential([
        keras.Input((gw, gd, K)),
        keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu"),
        keras.layers.Conv2D(64, 3, strides=2, padding="same", activation="relu"),
        keras.layers.Conv2D(64, 3, strides=2, padding="same", activation="relu"),
        keras.layers.Conv2D(128, 3, strides=2, padding="same", activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
    ])
    h = keras.layers.TimeDistributed(cnn)(h)
    h = keras.layers.Concatenate()([h, f_in])
    h = keras.layers.GRU(128, return_sequences=True)(h)
    out = {
        "step": keras.layers.Dense(2, name="step")(h),
        "kind": keras.layers.Dense(4, activation="softmax", name="kind")(h),
        "distance": keras.layers.Dense(1, name="distance")(h),
    }
    model = keras.Model([g_in, f_in], out)
    model.compile("adam", loss={"step": "mse", "kind": "sparse_categorical_crossentropy", "distance": "mse"})
    inputs = [x["glimpses"], x["features"]]
    targets = {"step": y["step"], "kind": y["kind"], "distance": y["distance"][..., None]}
    model.train_on_batch(inputs, targets)
    t = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(inputs, targets)
    return B * steps / (time.perf_counter() - t)


if __name__ == "__main__":
    main()
