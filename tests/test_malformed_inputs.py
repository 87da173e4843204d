"""A corpus of malformed inputs, generated here from valid files by seeded mutation.

Four kinds of input: a frame ``.npz``, a hit ``.npz``, Wire-Cell frames (``NumpyFrameSaver``
layout) and a ROOT dump. Each is mutated at the byte level (truncation, flipped bytes, overwritten
blocks) and at the structure level (missing or extra arrays and branches, wrong dtypes and shapes,
non-finite, huge, negative and fractional values, headers declaring enormous arrays). Every case
must either read (its events valid, every skipped event reported naming the file) or raise the
package's error (a VertexFinderError naming the file, on one line), never another exception, and
within a bounded amount of memory (tracemalloc peak).

Event stores come from ``tests/malformed.py`` (kind ``store``): one index value, CRC, truth pair or
manifest key damaged and every digest sealed again, as a buggy writer leaves a store; each is read
whole and verified, or refused naming the store.

The default run takes 330 cases and 200 stores (about twenty seconds, most of it uproot); ``-m slow``
runs 5400 more and 3000 stores.
"""

from __future__ import annotations

import io
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
import uproot

from vertexfinder.errors import VertexFinderError
from vertexfinder.inputs import frame_from_event
from vertexfinder.io.events import read_events
from vertexfinder.io.root import write_dump
from vertexfinder.mapper import ImageMapper
from vertexfinder.simulation import simulate

DETECTOR = "test-detector"
KINDS = ("frame", "hits", "wirecell", "dump")
#: Peak of traced allocations allowed while reading one case (the valid files need ~1-3 MB).
MEMORY_LIMIT = 48 * 2**20
#: Cases per kind in the default run and in the slow one (a dump case costs ~15 times an npz case).
FAST_CASES = {"frame": 100, "hits": 100, "wirecell": 100, "dump": 30}
SLOW_CASES = {"frame": 1500, "hits": 1500, "wirecell": 1500, "dump": 900}


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    return make_sources(tmp_path_factory.mktemp("valid"))


def make_sources(folder: Path):
    """The valid file of each kind, as bytes, and the arrays the npz kinds hold."""
    mapper = ImageMapper(DETECTOR)
    events = list(simulate(DETECTOR, "numu-cc", events=2, seed=11))
    frame, channels = frame_from_event(events[0], mapper)
    rows, cols = np.nonzero(frame[:, ::6] > 10)
    arrays = {
        "frame": {"frame": frame, "channels": channels, "tick_us": np.float64(0.5), "start_tick": np.int64(0),
                  "run": np.int64(1), "event": np.int64(3)},
        "hits": {"channel": channels[rows], "peak_tick": cols * 6.0 + 3.0, "integral": frame[rows, cols * 6] * 8.0,
                 "width_ticks": np.full(len(rows), 2.5), "event": np.int64(4)},
        "wirecell": {"frame_gauss0_0": frame[: len(frame) // 2] * 120.0, "channels_gauss0_0": channels[: len(frame) // 2],
                     "tickinfo_gauss0_0": np.array([0.0, 500.0, 0.0]),
                     "frame_gauss1_0": frame[len(frame) // 2:] * 120.0, "channels_gauss1_0": channels[len(frame) // 2:],
                     "tickinfo_gauss1_0": np.array([-10_000.0, 500.0, 20.0]),
                     "frame_gauss0_1": frame * 60.0, "channels_gauss0_1": channels,
                     "tickinfo_gauss0_1": np.array([0.0, 500.0, 0.0])},
    }
    blobs = {}
    for kind, content in arrays.items():
        buf = io.BytesIO()
        np.savez_compressed(buf, **content) if kind == "wirecell" else np.savez(buf, **content)
        blobs[kind] = buf.getvalue()
    dump = folder / "dump.root"
    write_dump(dump, events, mapper=mapper)
    blobs["dump"] = dump.read_bytes()
    for kind in ("frame", "hits", "wirecell", "dump"):  # the valid files read
        path = folder / f"valid-{kind}{'.root' if kind == 'dump' else '.npz'}"
        path.write_bytes(blobs[kind])
        assert len(list(read_events(path, detector=DETECTOR))) >= 1
    return blobs, arrays


# -- mutations -------------------------------------------------------------------------------------------------


def _bytes_mutation(blob: bytes, rng) -> tuple[bytes, str]:
    data = bytearray(blob)
    how = rng.integers(3)
    if how == 0:
        cut = int(rng.integers(0, len(data)))
        return bytes(data[:cut]), f"truncated at {cut}"
    if how == 1:
        n = int(rng.integers(1, 9))
        at = rng.integers(0, len(data), n)
        for i in at:
            data[i] ^= int(rng.integers(1, 256))
        return bytes(data), f"{n} bytes flipped at {sorted(at.tolist())}"
    start = int(rng.integers(0, len(data)))
    length = int(rng.integers(1, 64))
    data[start:start + length] = bytes(rng.integers(0, 256, min(length, len(data) - start), dtype=np.uint8))
    return bytes(data), f"block {start}+{length} overwritten"


_SPECIAL = [np.nan, np.inf, -np.inf, 1e30, -1e30, 1e300, -1e300, 2.0**62, -1.0, -7.0, 0.5, 1e9, -1e9, 0.0]


def _value_mutation(value: np.ndarray, rng) -> tuple[object, str]:
    """A wrong version of one array."""
    a = np.asarray(value)
    if a.dtype.kind not in "biuf":  # already mutated into something else: start again from numbers
        a = np.zeros(a.shape)
    how = int(rng.integers(12))
    if how == 0:
        return a.astype(np.complex64), "complex"
    if how == 1:
        return np.zeros(a.shape, "datetime64[ns]"), "datetime"
    if how == 2:
        return a.astype(bool), "bool"
    if how == 3:
        return np.array(["x"] * max(a.size, 1)), "text"
    if how == 4:
        return (a.reshape(-1)[:0] if rng.integers(2) else np.zeros((0,) * max(a.ndim, 1))), "empty"
    if how == 5:
        return a.reshape(-1), "flattened"
    if how == 6:
        return a.reshape(1, *a.shape) if a.size else a[None], "extra dimension"
    if how == 7:
        return (a.T if a.ndim == 2 else np.repeat(a.reshape(-1), 2)), "transposed / doubled"
    if how == 8:
        b = np.array(a, dtype=np.float64).reshape(-1) if a.size else np.zeros(1)
        k = int(rng.integers(1, 4))
        for _ in range(k):
            b[rng.integers(b.size)] = _SPECIAL[rng.integers(len(_SPECIAL))]
        return b.reshape(a.shape) if a.size else b, f"{k} special values"
    if how == 9:
        return np.array(a, dtype=np.float64) + 0.5, "fractional"
    if how == 10:
        return -np.abs(np.array(a, dtype=np.float64)) - 1, "negative"
    return np.array([_SPECIAL[rng.integers(len(_SPECIAL))]]), "one special value"


def _npz_bytes(content: dict, *, compressed: bool) -> bytes:
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **content)
    return buf.getvalue()


def _forged_header(shape, descr="<f4") -> bytes:
    """A .npy member whose header declares ``shape`` but holds only a few bytes."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue() + b"\x00" * 64


def _structure_mutation_npz(kind: str, arrays: dict, rng) -> tuple[bytes, str]:
    content = dict(arrays[kind])
    keys = sorted(content)
    how = int(rng.integers(5))
    if how == 0:
        key = keys[rng.integers(len(keys))]
        del content[key]
        note = f"{key} missing"
    elif how == 1:
        key = keys[rng.integers(len(keys))]
        content[key], what = _value_mutation(content[key], rng)
        note = f"{key}: {what}"
    elif how == 2:
        for _ in range(2):
            key = keys[rng.integers(len(keys))]
            content[key], what = _value_mutation(content[key], rng)
        note = "two arrays wrong"
    elif how == 3:
        extra = ["frame", "channel", "frame_orig_0", "tickinfo_gauss0_5", "charge_unit", "peak_tick"]
        key = extra[rng.integers(len(extra))]
        content[key] = np.array(["electrons"]) if key == "charge_unit" else np.ones((3, 4))
        note = f"extra {key}"
    else:
        key = keys[rng.integers(len(keys))]
        shape = [(10**6, 10**6), (2**40,), (20_000, 10_000), (10**9, 3), (5, 10**12)][rng.integers(5)]
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for k, v in content.items():
                if k == key:
                    z.writestr(f"{k}.npy", _forged_header(shape, ("<f4", "<i8", "<f8")[rng.integers(3)]))
                else:
                    member = io.BytesIO()
                    np.save(member, v)
                    z.writestr(f"{k}.npy", member.getvalue())
        return buf.getvalue(), f"{key} header declares {shape}"
    try:
        return _npz_bytes(content, compressed=bool(rng.integers(2))), note
    except ValueError:  # savez refuses some objects itself
        return _npz_bytes({}, compressed=False), note + " (unsavable: empty archive)"


def _structure_mutation_dump(blob: bytes, tmp: Path, rng) -> tuple[bytes, str]:
    src = tmp / "src.root"
    src.write_bytes(blob)
    dst = tmp / "mutated.root"
    how = int(rng.integers(4))
    note = ""
    with uproot.open(src) as f, uproot.recreate(dst) as g:
        d = f["vertexdump"]
        names = [n for n, _ in d.iterclassnames(cycle=False)]
        target = names[rng.integers(len(names))]
        for name, cls in d.iterclassnames(cycle=False):
            if name == target and how == 0:
                note = f"{name} dropped"
                continue
            if cls == "TObjString":
                text = str(d[name])
                if name == target and how == 1:
                    text = ["", "{}", "not json", text[: len(text) // 2], '{"format": "vertexfinder-dump"}'][
                        rng.integers(5)]
                    note = f"metadata {text[:20]!r}"
                g[f"vertexdump/{name}"] = text
            elif cls == "TTree":
                t = d[name]
                arrays = t.arrays(library="np")
                types = {b: t[b].interpretation.numpy_dtype.newbyteorder("=") for b in t.keys()}
                if name == target or how == 2:
                    branches = sorted(arrays)
                    b = branches[rng.integers(len(branches))]
                    if how == 0 or rng.integers(4) == 0:
                        del arrays[b], types[b]
                        note += f" {name}.{b} dropped"
                    elif len(arrays[b]):
                        arrays[b] = arrays[b].astype(np.float64)
                        types[b] = np.float64
                        arrays[b][rng.integers(len(arrays[b]))] = _SPECIAL[rng.integers(len(_SPECIAL))]
                        note += f" {name}.{b} special value"
                if arrays:
                    g.mktree(f"vertexdump/{name}", types).extend(arrays)
            else:
                h = d[name]
                if name == target and how == 3:
                    values = h.values()
                    kind = rng.integers(3)
                    if kind == 0:  # a TH2F of float values, some non-finite
                        v = values.astype(np.float64)
                        v.reshape(-1)[rng.integers(v.size)] = _SPECIAL[rng.integers(len(_SPECIAL))]
                        g[f"vertexdump/{name}"] = (v, h.axis(0).edges(), h.axis(1).edges())
                        note = f"{name} as TH2F"
                    elif kind == 1:  # huge axis range
                        g[f"vertexdump/{name}"] = (values.astype(np.float64), h.axis(0).edges() * 1e6,
                                                   h.axis(1).edges() - 1e9)
                        note = f"{name} axes far out"
                    else:
                        g[f"vertexdump/{name}"] = (np.ones(3), np.arange(4.0))
                        note = f"{name} as TH1"
                else:
                    g[f"vertexdump/{name}"] = h
    return dst.read_bytes(), note or "rewritten"


def _case(kind: str, i: int, sources, tmp: Path) -> tuple[bytes, str]:
    blobs, arrays = sources
    rng = np.random.default_rng([KINDS.index(kind), i])
    if rng.integers(2) == 0:
        return _bytes_mutation(blobs[kind], rng)
    if kind == "dump":
        return _structure_mutation_dump(blobs[kind], tmp, rng)
    return _structure_mutation_npz(kind, arrays, rng)


# -- the check ----------------------------------------------------------------------------------------------------


def _check(path: Path, description: str) -> str:
    """Read one case; returns its outcome ('read', 'read, skipped N' or the error class)."""
    reports: list[str] = []
    tracemalloc.start()
    try:
        try:
            records = list(read_events(path, detector=DETECTOR, report=reports.append))
            outcome = "read" + (f", skipped {len(reports)}" if reports else "")
        except VertexFinderError as exc:
            message = str(exc)
            assert path.name in message, f"{description}: the error does not name the file: {message}"
            assert "\n" not in message, f"{description}: the error spans lines: {message!r}"
            return type(exc).__name__
        except Exception as exc:  # noqa: BLE001 - the point of the corpus
            raise AssertionError(f"{description}: {type(exc).__name__} escaped: {exc}") from exc
        finally:
            peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_LIMIT, f"{description}: {peak / 2**20:.0f} MB allocated"
    for message in reports:
        assert path.name in message, f"{description}: a skipped event's report does not name the file: {message}"
    for rec in records:
        assert [p.view for p in rec.planes] == ["U", "V", "Z"]
        assert all(p.pixels.dtype == np.uint8 and p.pixels.ndim == 2 for p in rec.planes)
        assert all(np.isfinite(v.position_cm).all() for v in rec.vertices)
    return outcome


def _run(kind: str, cases, sources, tmp_path) -> dict:
    outcomes: dict[str, int] = {}
    suffix = ".root" if kind == "dump" else ".npz"
    for i in cases:
        blob, note = _case(kind, i, sources, tmp_path)
        path = tmp_path / f"case-{kind}-{i}{suffix}"
        path.write_bytes(blob)
        outcome = _check(path, f"{kind} case {i} ({note})")
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        path.unlink()
    return outcomes


@pytest.mark.parametrize("kind", KINDS)
def test_malformed_inputs_read_or_raise_the_package_error(kind, sources, tmp_path):
    outcomes = _run(kind, range(FAST_CASES[kind]), sources, tmp_path)
    assert sum(outcomes.values()) == FAST_CASES[kind]
    assert any(o.startswith("read") for o in outcomes) and any(not o.startswith("read") for o in outcomes)


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_malformed_inputs_many(kind, sources, tmp_path):
    first = FAST_CASES[kind]
    outcomes = _run(kind, range(first, first + SLOW_CASES[kind]), sources, tmp_path)
    assert sum(outcomes.values()) == SLOW_CASES[kind]


# -- event stores resealed over damaged values (tests/malformed.py, kind "store") -------------------------------

#: Cases in the default run and in the slow one (a case costs ~6 ms: copy, damage, reseal, open, read, verify).
STORE_CASES, STORE_SLOW_CASES = 200, 3000


def _store_corpus(tmp_path, monkeypatch, cases: int, seed: int) -> dict:
    """Index values, CRCs, truth pairs and manifest keys of small stores damaged and every digest resealed, as a
    buggy writer leaves them: each store is read whole (what it reads agrees with its totals) and verified, or
    refused with the package's error naming it on one line."""
    import malformed

    monkeypatch.setenv("VERTEXFINDER_CACHE_DIR", str(tmp_path / "cache"))  # the runner sets it: restored after
    tracemalloc.start()
    try:
        summary = malformed.run("store", cases, seed, tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert not summary["failures"], summary["failures"][:5]
    assert sum(summary["outcomes"].values()) == cases
    assert peak < MEMORY_LIMIT, f"{peak / 2**20:.0f} MB allocated"
    return summary


@pytest.mark.slow
def test_stores_resealed_over_damaged_values_are_read_or_refused_naming_the_store(tmp_path, monkeypatch):
    outcomes = _store_corpus(tmp_path, monkeypatch, STORE_CASES, seed=0)["outcomes"]
    assert set(outcomes) == {"works", "StoreCorruptError"} and outcomes["StoreCorruptError"] > STORE_CASES / 2


@pytest.mark.slow
def test_stores_resealed_over_damaged_values_many(tmp_path, monkeypatch):
    _store_corpus(tmp_path, monkeypatch, STORE_SLOW_CASES, seed=1)
