"""A seeded corpus of malformed inputs: detector descriptions, Wire-Cell wires files, training
configurations and model folders, each mutated (truncated, bytes flipped, values of the wrong type,
non-finite or huge, keys removed or added, nesting too deep), and event stores whose index values or
manifest keys were damaged and every digest sealed again, as a buggy writer would leave them.

Run as ``python tests/malformed.py KIND CASES SEED [FOLDER]``, KIND one of :data:`KINDS`.
Each case must either work or raise the package's own error (``vertexfinder.errors``) on one line
naming the mutated file; any other exception, a message on several lines or one that names no file
is a failure. Run as a script (``python tests/malformed.py KIND CASES SEED``) it prints a JSON
summary (cases, outcomes by kind of error, failures) and exits 1 if any case failed; the tests run
it in a subprocess whose address space is capped, so an allocation sized by a declared value fails
the run instead of swapping the machine.
"""

from __future__ import annotations

import bz2
import copy
import io
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time
import traceback
import zipfile
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

KINDS = ("detector-toml", "detector-json", "wires-toml", "wires-file", "train-toml", "model", "impossible-detector",
         "store")

# -- mutations -------------------------------------------------------------------------------------

_ODD_VALUES = [
    "", "x", "U", "nan", True, False, 0, -1, 1, 2, 10**30, -(10**30), 2**63, 2**64, "__HUGE_INT__", 1e300, -1e300,
    1e-300, 0.5, -0.5, math.nan, math.inf, -math.inf, [], {}, [1, 2, 3], [[1]], {"a": 1}, ["a", "b"], "z" * 5000,
]


def _paths(node, prefix=()):
    """Every path to a value in a tree of dicts and lists (not below depth 20)."""
    out = [prefix]
    if len(prefix) > 20:
        return out
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, prefix + (i,))
    return out


def _get(node, path):
    for k in path:
        node = node[k]
    return node


def _deep(depth: int):
    out = 1
    for _ in range(depth):
        out = [out]
    return out


def mutate_tree(data, rng: random.Random):
    """A copy of ``data`` with one to three random structural mutations; returns (tree, description)."""
    data = copy.deepcopy(data)
    done = []
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        paths = _paths(data)
        path = rng.choice(paths[1:]) if len(paths) > 1 else ()
        if not path:
            continue
        parent, key = _get(data, path[:-1]), path[-1]
        op = rng.choice(["replace", "replace", "replace", "delete", "add", "scale", "deep", "grow"])
        if op == "replace":
            parent[key] = copy.deepcopy(rng.choice(_ODD_VALUES))
        elif op == "delete":
            del parent[key]
        elif op == "add":
            target = parent if isinstance(parent, dict) else data
            target[rng.choice(["colour", "extra_key", "pitch", "x_cm"])] = copy.deepcopy(rng.choice(_ODD_VALUES))
        elif op == "scale":
            v = parent[key]
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                parent[key] = type(v)(v * rng.choice([1e6, 1e-6, -1, 1e12, 0])) if isinstance(v, float) else \
                    v * rng.choice([10**6, -1, 10**12, 0])
            else:
                parent[key] = copy.deepcopy(rng.choice(_ODD_VALUES))
        elif op == "deep":
            parent[key] = _deep(rng.choice([50, 3000]))
        elif op == "grow":
            v = parent[key]
            parent[key] = copy.deepcopy(v * rng.choice([2, 50]) if isinstance(v, list) else [v] * 3)
        done.append(f"{op} {'/'.join(map(str, path))}")
    return data, "; ".join(done) or "none"


def mutate_bytes(raw: bytes, rng: random.Random):
    """``raw`` truncated, with bytes flipped, inserted or a chunk repeated; returns (bytes, description)."""
    raw = bytearray(raw)
    op = rng.choice(["truncate", "flip", "flip", "insert", "repeat", "zero"])
    n = len(raw)
    if op == "truncate":
        cut = rng.randrange(0, max(1, n))
        return bytes(raw[:cut]), f"truncate at {cut} of {n}"
    if op == "flip":
        k = rng.choice([1, 1, 2, 8])
        for _ in range(k):
            i = rng.randrange(n)
            raw[i] ^= rng.randrange(1, 256)
        return bytes(raw), f"flip {k} bytes"
    if op == "insert":
        i = rng.randrange(n + 1)
        return bytes(raw[:i]) + bytes(rng.randrange(256) for _ in range(rng.choice([1, 7, 100]))) + bytes(raw[i:]), \
            f"insert at {i}"
    if op == "zero":
        i = rng.randrange(n)
        j = min(n, i + rng.choice([4, 64, 4096]))
        raw[i:j] = bytes(j - i)
        return bytes(raw), f"zero {i}:{j}"
    i = rng.randrange(n)
    j = min(n, i + rng.choice([16, 256]))
    return bytes(raw[:j]) + bytes(raw[i:]), f"repeat {i}:{j}"


# -- writing ---------------------------------------------------------------------------------------

def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml_value(x)}" for k, x in v.items()) + "}"
    return '""'  # None: TOML has no null


_HUGE = ('"__HUGE_INT__"', "1" + "0" * 5000)  # an integer beyond what Python converts to text by default


def to_toml(data: dict) -> str:
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))
    return "".join(f"{json.dumps(str(k))} = {_toml_value(v)}\n" for k, v in data.items()).replace(*_HUGE)


def to_json(data) -> str:
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))
    return json.dumps(data).replace(*_HUGE)


# -- the inputs and how they are used ----------------------------------------------------------------

def _detector_base() -> dict:
    import tomllib

    return tomllib.loads((ROOT / "vertexfinder/detectors/builtin/test-detector.toml").read_text())


def _tiny_wires_store(n=12, faces=((0.0, -3.0, -6.0),)) -> dict:
    """A detector of one-face anodes (as tests/test_wirecell.py): U/V at +/-60 deg, vertical Z; mm.

    ``faces``: per anode, the x (mm) of its planes U, V, Z (its face drifts from Z towards U);
    each anode reads its own channels."""
    points, wires, planes, anodes, face_list = [], [], [], [], []
    for a_ident, xs in enumerate(faces):
        first = len(planes)
        for ident, (angle, x) in enumerate(zip((60.0, -60.0, 0.0), xs)):
            a = math.radians(angle)
            normal = np.array([math.sin(a), math.cos(a)]) * (1 if angle >= 0 else -1)
            along = np.array([normal[1], -normal[0]])
            idx = []
            for k in range(n):
                c = np.array([0.0, 50.0]) + (k - n / 2 + 0.5) * 5.0 * normal
                for e in (c - 40 * along, c + 40 * along):
                    points.append({"Point": {"x": x, "y": float(e[0]), "z": float(e[1])}})
                idx.append(len(wires))
                wires.append({"Wire": {"ident": len(wires), "channel": (3 * a_ident + ident) * n + k, "segment": 0,
                                       "tail": len(points) - 2, "head": len(points) - 1}})
            planes.append({"Plane": {"ident": ident, "wires": idx}})
        anodes.append({"Anode": {"ident": a_ident, "faces": [a_ident]}})
        face_list.append({"Face": {"ident": a_ident, "planes": list(range(first, first + 3))}})
    return {"Store": {"anodes": anodes, "faces": face_list, "planes": planes, "wires": wires, "points": points}}


def _wires_toml(wires_name: str) -> dict:
    return {"name": "tiny", "wires": wires_name, "tick_us": 0.5, "drift_velocity_cm_per_us": 0.16,
            "ticks_per_readout": 600, "cathode_x_cm": [40.0]}


# -- detectors that cannot be real (issue 21): refused naming the file; TPCs that only touch work ---------

def _grid_detector(work: Path, i: int, **grid) -> Path:
    tree = _detector_base()
    tree["anode_grid"].update(grid)
    path = work / f"geo{i}.toml"
    path.write_text(to_toml(tree))
    return path


def _listed_anodes(work: Path, i: int, anodes) -> Path:
    tree = _detector_base()
    del tree["anode_grid"]
    tree["anodes"] = [{"center_cm": list(c), "drift_cm": [45.0, 45.0]} for c in anodes]
    path = work / f"geo{i}.toml"
    path.write_text(to_toml(tree))
    return path


def _wires_detector(work: Path, i: int, faces, cathodes=(40.0,)) -> Path:
    wires = work / f"geo{i}.json.bz2"
    wires.write_bytes(bz2.compress(json.dumps(_tiny_wires_store(faces=faces)).encode()))
    path = work / f"geo{i}.toml"
    path.write_text(to_toml({**_wires_toml(wires.name), "cathode_x_cm": list(cathodes)}))
    return path


#: (what, expected outcome, maker(work folder, case number) -> description file)
GEOMETRY_CASES = [
    ("two anodes at the same place (z_cm = [11.75, 11.75])", "refused",
     lambda w, i: _grid_detector(w, i, z_cm=[11.75, 11.75])),
    ("neighbouring anodes overlapping by 5.25 cm in z", "refused",
     lambda w, i: _grid_detector(w, i, z_cm=[11.75, 30.0])),
    ("a drift volume reaching past the next anode in x", "refused",
     lambda w, i: _grid_detector(w, i, x_cm=[0.0, 60.0])),
    ("[[anodes]] listing one anode twice", "refused", lambda w, i: _listed_anodes(w, i, [(0.0, 0.0, 11.75)] * 2)),
    ("a wires file with two anodes at one place", "refused",
     lambda w, i: _wires_detector(w, i, [(0.0, -3.0, -6.0)] * 2)),
    ("a wires file with an anode inside another's drift volume", "refused",
     lambda w, i: _wires_detector(w, i, [(0.0, -3.0, -6.0), (100.0, 97.0, 94.0)])),
    ("a wires file with planes U and V at one x", "refused", lambda w, i: _wires_detector(w, i, [(0.0, 0.0, -6.0)])),
    ("a wires file with planes V and Z at one x", "refused", lambda w, i: _wires_detector(w, i, [(0.0, -6.0, -6.0)])),
    ("anodes that touch in z (z_cm = [11.75, 35.25])", "works", lambda w, i: _grid_detector(w, i, z_cm=[11.75, 35.25])),
    ("facing anodes sharing a cathode plane (x_cm = [0, 92])", "works",
     lambda w, i: _grid_detector(w, i, x_cm=[0.0, 92.0])),
    ("a wires file whose two anodes share a cathode plane", "works",
     lambda w, i: _wires_detector(w, i, [(0.0, -3.0, -6.0), (200.0, 203.0, 206.0)], cathodes=(10.0,))),
]


TRAIN_BASE = {
    "detector": "test-detector", "sample": "numu-cc", "train_events": 20, "validation_events": 4,
    "validation_walks": 24, "num_levels": 3, "glimpse_size": [16, 16], "num_steps": 4, "max_step": 32.0,
    "filters": [8, 16], "encoder_units": 16, "recurrent_units": 16, "batch_size": 8, "steps_per_epoch": 3,
    "epochs": 2, "composition_every": 2, "learning_rate": 1e-3, "loss_weights": [1.0, 1.0, 0.5],
    "policy_fraction": 0.0, "ema_momentum": 0.0, "seed": 0, "workers": 1, "pyramid_pooling": "max",
    "scale": [2, 2], "cm_per_pixel": 0.48, "coord_channels": False,
}


def use_detector(path: Path) -> None:
    """Build the detector and its mappers; check the image sizes they would allocate."""
    from vertexfinder.detectors import MAX_VIEW_PIXELS, get_detector
    from vertexfinder.mapper import ImageMapper

    max_pixels = MAX_VIEW_PIXELS
    det = get_detector(str(path))
    for window in (1, 6):
        m = ImageMapper(det, drift_window=window)
        for v in m.views:
            w, d = m.shape(v)
            assert w * d <= 3 * max_pixels, f"{path}: view {v} image {w}x{d} at drift window {window}"
    det.channel_segments(0)


def use_train_config(path: Path) -> None:
    from vertexfinder.training import config_from_toml

    cfg = config_from_toml(path)
    cfg.glimpse_spec()
    cfg.walk_spec()


# -- model folders -------------------------------------------------------------------------------

def make_model_folder(folder: Path) -> None:
    """A tiny untrained walker with its config.json, and a tiny refiner with its refiner.json."""
    import keras

    from vertexfinder.model import RefineConfig
    from vertexfinder.training import TrainConfig, build_refiner

    keras.utils.set_random_seed(0)
    cfg = TrainConfig.from_dict(TRAIN_BASE)
    walker = cfg.build_walker(3)
    walker.build()
    walker.save(folder / "walker.keras")
    (folder / "config.json").write_text(json.dumps(cfg.to_dict()))
    rcfg = RefineConfig(num_levels=2, glimpse_size=(16, 16), filters=(8,), units=16, detector="test-detector")
    refiner = build_refiner(rcfg, 3)
    refiner.build()
    refiner.save(folder / "refiner.keras")
    (folder / "refiner.json").write_text(json.dumps(rcfg.to_dict()))


def mutate_keras(raw: bytes, rng: random.Random, other: bytes):
    """A .keras archive mutated inside (its config.json, metadata, members, weights) or as bytes."""
    op = rng.choice(["bytes", "bytes", "config", "config", "config", "metadata", "drop", "swap-weights", "extra"])
    if op == "bytes":
        return mutate_bytes(raw, rng)
    src = zipfile.ZipFile(io.BytesIO(raw))
    members = {i.filename: src.read(i.filename) for i in src.infolist()}
    what = op
    if op == "config":
        tree, what = mutate_tree(json.loads(members["config.json"]), rng)
        members["config.json"] = to_json(tree).encode()
    elif op == "metadata":
        members["metadata.json"] = rng.choice([b"", b"{", b"[]", b'{"keras_version": 3}'])
    elif op == "drop":
        name = rng.choice(sorted(members))
        del members[name]
        what = f"drop {name}"
    elif op == "swap-weights":  # the other model's weights under this model's configuration
        members["model.weights.h5"] = zipfile.ZipFile(io.BytesIO(other)).read("model.weights.h5")
    elif op == "extra":
        members["assets/extra.bin"] = os.urandom(64)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue(), what


def _tiny_event():
    from vertexfinder.simulation import simulate

    return next(iter(simulate("test-detector", "numu-cc", events=1, seed=3)))


def use_model_folder(folder: Path, event) -> None:
    from vertexfinder.finder import VertexFinder

    finder = VertexFinder.load(folder)
    finder.find(event, mode="all")


# -- event stores resealed over damaged values (issue 21): refused naming the store, or read -----------------

STORE_VIEWS = ["U", "V", "Z"]
_STORE_ODD_INTS = [0, 1, 2, 3, 4, 9, 200, 255, -1, -2, -7, 2**15, 2**31 - 1, 2**31, 2**32 - 1, 2**62, 2**63, 2**64 - 1]
_STORE_ODD_FLOATS = [math.nan, math.inf, -math.inf, -1.0, 0.0, 1e30, -1e30, 1e-300, 2.5]


def reseal_store(path: Path, edit=None) -> None:
    """Record every chunk file's size and digest in the manifest, apply ``edit(manifest)``, and seal the
    manifest's own digest again, as the writer does: what a buggy writer (or an edit followed by resealing)
    leaves, a store whose every digest matches."""
    from vertexfinder.io.store.layout import DIGEST_KEY, file_digest, manifest_digest

    m = json.loads((path / "manifest.json").read_text())
    for c in m["chunks"]:
        for name in c["files"]:
            c["files"][name] = {"bytes": (path / name).stat().st_size, "blake2b": file_digest(path / name)}
    if edit is not None:
        edit(m)
    m.pop(DIGEST_KEY, None)
    m[DIGEST_KEY] = manifest_digest(m)
    (path / "manifest.json").write_text(json.dumps(m, indent=1))


def set_index_value(path: Path, chunk: int, key: str, row: int, field: str, value, element=None) -> None:
    """Write ``value`` into one field of one row of a chunk's index (``key``: events, planes or vertices);
    ``element``: an index into a field holding an array (positions, projections). Not resealed."""
    f = path / f"chunk-{chunk:06d}.{key}.npy"
    a = np.load(f)
    if element is None:
        a[field][row] = value
    else:
        a[field][row][element] = value
    np.save(f, a)


def _store_record(rng: np.random.Generator, event: int):
    from vertexfinder.records import FLAG_NU_PRIMARY, EventRecord, PlaneImage, TruthVertex

    n_vertices = int(rng.integers(0, 4))
    verts = [TruthVertex(["interaction", "decay", "conversion"][i % 3], rng.normal(size=3) * 100,
                         flags=FLAG_NU_PRIMARY if i == 0 else 4, parent=-1 if i == 0 else 0,
                         planes=rng.normal(size=(3, 2)) * 50 + 200, pdg=[14, 13, 22][i % 3]) for i in range(n_vertices)]
    planes = []
    for v in STORE_VIEWS:
        pix = rng.integers(0, 256, size=(int(rng.integers(1, 9)), int(rng.integers(1, 9))), dtype=np.uint8)
        pix[rng.random(pix.shape) < 0.6] = 0
        truth = np.where(pix > 0, rng.integers(-1, n_vertices, size=pix.shape), -1).astype(np.int16) \
            if n_vertices else None
        planes.append(PlaneImage(v, pix, (int(rng.integers(0, 300)), int(rng.integers(0, 150))), truth))
    return EventRecord(run=7, subrun=0, event=event, detector="test-detector", drift_window=6, pooling="max",
                       planes=planes, vertices=verts, nu_pdg=14, interaction=["CC", "NC", ""][event % 3],
                       energy_gev=float(rng.uniform(0.5, 5)), tpc=int(rng.integers(-1, 2)))


def make_stores(folder: Path) -> dict[str, Path]:
    """Two valid stores of 11 events in chunks of 4 (deflated, and uncompressed with sparse truth)."""
    from vertexfinder.io.store import EventStore

    stores = {}
    for compression in ("zlib", "none"):
        rng = np.random.default_rng(5)
        path = folder / f"base-{compression}.vfstore"
        with EventStore.create(path, detector="test-detector", views=STORE_VIEWS, drift_window=6, pooling="max",
                               chunk_events=4, compression=compression) as w:
            w.extend(_store_record(rng, e) for e in range(11))
        stores[compression] = path
    return stores


def _odd_value(value, dtype: np.dtype, rng: random.Random):
    if dtype.kind == "f":
        return rng.choice(_STORE_ODD_FLOATS + [float(value) * 2, -float(value)])
    info = np.iinfo(dtype)
    near = [int(value) + d for d in (1, -1, 1000, -1000)] + [int(value) * 2]
    return rng.choice([v for v in _STORE_ODD_INTS + near if info.min <= v <= info.max] or [0])


def damage_store(path: Path, rng: random.Random) -> str:
    """One damage to the store at ``path``, resealed like a writer's own output; returns what it was."""
    m = json.loads((path / "manifest.json").read_text())
    n_chunks = len(m["chunks"])
    c = rng.randrange(n_chunks)
    op = rng.choice(["value"] * 7 + ["crc", "manifest", "truth", "pixels"])
    if op in ("value", "crc"):
        key = rng.choice(["events", "planes", "planes", "vertices"]) if op == "value" else "planes"
        a = np.load(path / f"chunk-{c:06d}.{key}.npy")
        if not len(a):
            key, a = "events", np.load(path / f"chunk-{c:06d}.events.npy")
        row = rng.randrange(len(a))
        field = rng.choice(a.dtype.names) if op == "value" else rng.choice(["crc32", "truth_crc32"])
        fdtype, shape = a.dtype[field].base, a.dtype[field].shape
        element = tuple(rng.randrange(n) for n in shape) if shape else None
        old = a[field][row] if element is None else a[field][row][element]
        value = _odd_value(old, fdtype, rng) if op == "value" else int(old) ^ (1 << rng.randrange(32))
        set_index_value(path, c, key, row, field, value, element)
        reseal_store(path)
        return f"chunk {c} {key} row {row} {field}{list(element) if element else ''}: {old!r} -> {value!r}"
    if op == "manifest":
        target = rng.choice(["pixel_cm", "created_by", "detector_description", "compression", "views", "pooling",
                             "drift_window", "events", "chunks", "detector", "chunk events", "chunk vertices",
                             "chunk pixels"])
        value = copy.deepcopy(rng.choice(_ODD_VALUES + ["__delete__"] * 8))
        if value == "__HUGE_INT__":
            value = 10**400

        def edit(man):
            where, key = (man["chunks"][c], target.split()[1]) if target.startswith("chunk ") else (man, target)
            if value == "__delete__":
                where.pop(key, None)
            else:
                where[key] = value

        reseal_store(path, edit)
        return f"manifest {target} -> {shown_value(value)}"
    planes = np.load(path / f"chunk-{c:06d}.planes.npy")
    events = np.load(path / f"chunk-{c:06d}.events.npy")
    row = rng.randrange(len(planes))
    if op == "truth":  # a sparse truth pair pointing past the event's vertices, its CRC made to match
        rows = np.flatnonzero((planes["truth_code"] == 1) & (planes["truth_bytes"] > 0))
        if m["compression"] != "none" or not rows.size:
            return damage_store(path, rng)
        row = int(rows[rng.randrange(rows.size)])
        t = path / f"chunk-{c:06d}.truth"
        raw = bytearray(t.read_bytes())
        start = int(planes["truth_start"][row])
        pairs = np.frombuffer(raw, dtype=[("pixel", "<u4"), ("vertex", "<i2")],
                              count=int(planes["truth_bytes"][row]) // 6, offset=start).copy()
        k = rng.randrange(len(pairs))
        value = rng.choice([int(events["n_vertices"][row // 3]), 300, -5, 32767])
        pairs["vertex"][k] = value
        raw[start:start + pairs.nbytes] = pairs.tobytes()
        t.write_bytes(bytes(raw))
        set_index_value(path, c, "planes", row, "truth_crc32", zlib.crc32(pairs.tobytes()) & 0xFFFFFFFF)
        reseal_store(path)
        return f"chunk {c} plane row {row} truth pair {k} vertex -> {value} (CRC resealed)"
    # a crop byte changed with its CRC made to match: a different image, read as such
    p = path / f"chunk-{c:06d}.pixels"
    if m["compression"] != "none" or not planes["stored"][row]:
        return damage_store(path, rng)
    raw = bytearray(p.read_bytes())
    at = int(planes["offset"][row]) + rng.randrange(int(planes["stored"][row]))
    raw[at] ^= 0x5A
    p.write_bytes(bytes(raw))
    crop = bytes(raw[int(planes["offset"][row]):int(planes["offset"][row] + planes["stored"][row])])
    set_index_value(path, c, "planes", row, "crc32", zlib.crc32(crop) & 0xFFFFFFFF)
    reseal_store(path)
    return f"chunk {c} plane row {row} pixel byte {at} changed (CRC resealed)"


def shown_value(value) -> str:
    if isinstance(value, int) and value.bit_length() > 64:
        return f"<{value.bit_length()}-bit int>"
    return repr(value)[:60]


def use_store(path: Path) -> None:
    """Open, read every event and verify; what is read must agree with the manifest's totals."""
    from vertexfinder.io.store import EventStore

    with EventStore.open(path) as store:
        records = list(store)
        store.info()
        store.verify()
        total = sum(c["vertices"] for c in store.manifest["chunks"])
    if sum(len(r.vertices) for r in records) != total:  # an event given another's vertices: silently wrong
        raise AssertionError(f"read {sum(len(r.vertices) for r in records)} vertices, the store holds {total}")
    for r in records:
        if [p.view for p in r.planes] != STORE_VIEWS:
            raise AssertionError(f"event {r.event}: planes {[p.view for p in r.planes]}")


# -- the runner ------------------------------------------------------------------------------------

def _case(kind: str, i: int, rng: random.Random, work: Path, ctx: dict):
    """Make case ``i`` of ``kind``; returns (callable, mutated file, description, names the error may use)."""
    if kind == "store":
        path = work / f"store{i}.vfstore"
        shutil.copytree(ctx["stores"][rng.choice(["zlib", "none"])], path)
        what = damage_store(path, rng)
        return (lambda: use_store(path)), path, what, [path.name]
    if kind in ("detector-toml", "detector-json"):
        if rng.random() < 0.25:
            raw = (to_toml if kind == "detector-toml" else to_json)(ctx["detector"]).encode()
            raw, what = mutate_bytes(raw, rng)
        else:
            tree, what = mutate_tree(ctx["detector"], rng)
            raw = (to_toml(tree) if kind == "detector-toml" and isinstance(tree, dict) else to_json(tree)).encode()
        path = work / f"det{i}.{'toml' if kind == 'detector-toml' else 'json'}"
        path.write_bytes(raw)
        return (lambda: use_detector(path)), path, what, [path.name]
    if kind == "wires-toml":
        tree, what = mutate_tree(_wires_toml(ctx["wires"].name), rng)
        path = work / f"wd{i}.toml"
        path.write_text(to_toml(tree) if isinstance(tree, dict) else "x = 1")
        return (lambda: use_detector(path)), path, what, [path.name]
    if kind == "wires-file":
        if rng.random() < 0.4:
            raw = bz2.compress(json.dumps(ctx["store"]).encode())
            if rng.random() < 0.5:
                raw = json.dumps(ctx["store"]).encode()
            raw, what = mutate_bytes(raw, rng)
        else:
            tree, what = mutate_tree(ctx["store"], rng)
            raw = bz2.compress(to_json(tree).encode())
        wires = work / f"w{i}.json.bz2"
        wires.write_bytes(raw)
        desc = work / f"w{i}.toml"
        desc.write_text(to_toml(_wires_toml(wires.name)))
        return (lambda: use_detector(desc)), wires, what, [wires.name, desc.name]
    if kind == "impossible-detector":
        what, ctx["expect"], make = GEOMETRY_CASES[i % len(GEOMETRY_CASES)]
        path = make(work, i)
        return (lambda: use_detector(path)), path, what, [path.name]
    if kind == "train-toml":
        path = work / f"train{i}.toml"
        if rng.random() < 0.2:
            raw, what = mutate_bytes(to_toml(TRAIN_BASE).encode(), rng)
            path.write_bytes(raw)
        else:
            tree, what = mutate_tree(TRAIN_BASE, rng)
            path.write_text(to_toml(tree) if isinstance(tree, dict) else "x = 1")
        return (lambda: use_train_config(path)), path, what, [path.name]
    if kind == "model":
        folder = work / f"model{i}"
        folder.mkdir()
        for name, data in ctx["model"].items():
            (folder / name).write_bytes(data)
        target = rng.choice(["config.json", "config.json", "walker.keras", "walker.keras", "walker.keras",
                             "refiner.json", "refiner.keras"])
        raw = ctx["model"][target]
        if target.endswith(".keras"):
            other = ctx["model"]["refiner.keras" if target == "walker.keras" else "walker.keras"]
            raw, what = mutate_keras(raw, rng, other)
        elif rng.random() < 0.3:
            raw, what = mutate_bytes(raw, rng)
        else:
            tree, what = mutate_tree(json.loads(raw), rng)
            raw = to_json(tree).encode()
        (folder / target).write_bytes(raw)
        return (lambda: use_model_folder(folder, ctx["event"])), folder / target, f"{target}: {what}", [target]
    raise ValueError(kind)


def run(kind: str, cases: int, seed: int, work: Path | None = None) -> dict:
    from vertexfinder.errors import VertexFinderError

    rng = random.Random(f"{kind}-{seed}")
    work = Path(tempfile.mkdtemp(prefix=f"malformed-{kind}-", dir=work))
    os.environ["VERTEXFINDER_CACHE_DIR"] = str(work / "cache")  # mutated wires files stay out of the user's cache
    ctx: dict = {"detector": _detector_base(), "store": _tiny_wires_store()}
    ctx["wires"] = work / "tiny.json.bz2"
    ctx["wires"].write_bytes(bz2.compress(json.dumps(ctx["store"]).encode()))
    if kind == "model":
        base = work / "base"
        base.mkdir()
        make_model_folder(base)
        ctx["model"] = {p.name: p.read_bytes() for p in base.iterdir()}
        ctx["event"] = _tiny_event()
    if kind == "store":
        ctx["stores"] = make_stores(work)
    outcomes: dict[str, int] = {}
    failures = []
    start = time.perf_counter()
    for i in range(cases):
        fn, path, what, names = _case(kind, i, rng, work, ctx)
        msg = ""
        try:
            fn()
            outcome = "works"
        except VertexFinderError as exc:
            outcome = type(exc).__name__
            msg = str(exc)
            if "\n" in msg or not any(n in msg for n in names):
                failures.append({"case": i, "mutation": what, "error": f"{outcome}: {msg[:400]}",
                                 "why": "several lines" if "\n" in msg else "names no file"})
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - the point: no other kind may escape
            outcome = "other"
            failures.append({"case": i, "mutation": what, "error": f"{type(exc).__name__}: {str(exc)[:300]}",
                             "why": "not the package's error",
                             "where": traceback.format_exc().strip().splitlines()[-3:-1]})
        expect = ctx.pop("expect", None)  # impossible-detector cases: refused or, touching, working
        if expect is not None and (outcome == "works") != (expect == "works"):
            failures.append({"case": i, "mutation": what, "error": outcome if outcome == "works" else msg[:400],
                             "why": f"expected {expect}"})
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    shutil.rmtree(work, ignore_errors=True)
    return {"kind": kind, "cases": cases, "seed": seed, "seconds": round(time.perf_counter() - start, 2),
            "outcomes": outcomes, "failures": failures}


if __name__ == "__main__":
    kind, cases, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    summary = run(kind, cases, seed, Path(sys.argv[4]) if len(sys.argv) > 4 else None)
    print(json.dumps(summary))
    sys.exit(1 if summary["failures"] else 0)
