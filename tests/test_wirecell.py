"""Wire-Cell wires files: the shipped copies, reading and checking them, and the detectors made
from them agreeing exactly with the files (channels, segments, plane positions, channel of a point)."""

import bz2
import hashlib
import json
import math
from pathlib import Path

import malformed  # tests/malformed.py: the tiny wires file both use
import numpy as np
import pytest

import vertexfinder.detectors as detectors
from vertexfinder.detectors import get_detector, list_detectors
from vertexfinder.detectors.wirecell import clear_wires_cache, read_wires
from vertexfinder.errors import DetectorSchemaError
from vertexfinder.mapper import ImageMapper
from vertexfinder.simulation import simulate

WIRES = Path(detectors.__file__).parent / "wires"
# The SHA-256 of the files as committed to WireCell/wire-cell-data (SHA256SUMS of the reference copies).
SHA256 = {
    "dune10kt-1x2x6-wires-larsoft-v1.json.bz2": "5e1b865ebfbec46d6e443768d78274e1b93cbf7ff64f4ffc3b65ab77c25149ec",
    "microboone-celltree-wires-v2.1.json.bz2": "7d3db574cf16b8474e9145fc63391906fcb0b8f2b70b422ec48fd37ecb4923fe",
    "protodune-wires-larsoft-v4.json.bz2": "bd47cf748fecda71366f3a53691d0290f13cc92c84e39ef1b76e18a8e9bd0d7f",
    "sbnd-wires-geometry-v0200.json.bz2": "9e664a2334ef080675173a0433cf45e3761dbb2e04bc0736c2018f8321599d09",
}
FILE_OF = {
    "dune-fd-1x2x6": "dune10kt-1x2x6-wires-larsoft-v1.json.bz2",
    "protodune-sp": "protodune-wires-larsoft-v4.json.bz2",
    "microboone": "microboone-celltree-wires-v2.1.json.bz2",
    "sbnd": "sbnd-wires-geometry-v0200.json.bz2",
}
TPCS = {"dune-fd-1x2x6": 24, "protodune-sp": 6, "microboone": 1, "sbnd": 2}


def test_shipped_copies_are_the_reference_files():
    assert sorted(p.name for p in WIRES.glob("*.json.bz2")) == sorted(SHA256)
    for name, digest in SHA256.items():
        assert hashlib.sha256((WIRES / name).read_bytes()).hexdigest() == digest, name
    assert set(FILE_OF) <= set(list_detectors())
    for name, file in FILE_OF.items():
        d = get_detector(name)
        assert Path(d.wires_file) == (WIRES / file).resolve() and d.spec.wires_sha256 == SHA256[file]


# -- the built-in detectors against the files, read here without the package ------------------------


def _plain_read(path: Path) -> dict:
    """The wires of a file, read with json and NumPy alone: per wire channel, ends (cm), face."""
    store = json.loads(bz2.decompress(path.read_bytes()))["Store"]
    pts = np.array([[p["Point"][k] for k in "xyz"] for p in store["points"]]) / 10.0
    wires = [w["Wire"] for w in store["wires"]]
    face = np.full(len(wires), -1)
    for fi, f in enumerate(store["faces"]):
        for pi in f["Face"]["planes"]:
            face[store["planes"][pi]["Plane"]["wires"]] = fi
    return {
        "channel": np.array([w["channel"] for w in wires]),
        "tail": pts[[w["tail"] for w in wires]],
        "head": pts[[w["head"] for w in wires]],
        "face": face,
    }


@pytest.fixture(scope="module", params=list(FILE_OF))
def reference(request):
    return request.param, _plain_read(WIRES / FILE_OF[request.param])


def _active(name, ref):
    """The file's wires on faces that look at a drift volume (ProtoDUNE-SP: not the wall-side faces)."""
    mean_abs_x = {f: np.abs(ref["tail"][ref["face"] == f, 0]).mean() for f in np.unique(ref["face"])}
    if name == "protodune-sp":  # APA centres at |x| = 363.69 cm: the outer faces are further out
        return np.array([mean_abs_x[f] < 363.69 for f in ref["face"]])
    return np.ones(len(ref["face"]), bool)


def _direction(tail, head):
    d = head - tail
    d /= np.linalg.norm(d, axis=1)[:, None]
    return d * np.where(d[:, 1] < 0, -1.0, 1.0)[:, None]  # a line's direction, pointing up


def test_every_channel_reads_the_files_segments(reference):
    """Every channel has the file's wire segments: same count, centres and directions, plane x."""
    name, ref = reference
    d = get_detector(name)
    assert len(d.tpcs) == TPCS[name] and d.n_channels == ref["channel"].max() + 1
    ch, ends = [], []
    for t in d.tpcs:
        for p in t.planes:
            ch.append(p.channels)
            ends.append(p.endpoints)
            assert np.abs(p.endpoints[:, :, 0] - p.x_cm).max() < 1e-9  # every wire at the plane's x
    ch, ends = np.concatenate(ch), np.concatenate(ends)
    act = _active(name, ref)
    r_ch, r_tail, r_head = ref["channel"][act], ref["tail"][act], ref["head"][act]
    assert len(ch) == len(r_ch)
    c, rc = ends.mean(axis=1), 0.5 * (r_tail + r_head)
    i = np.lexsort((c[:, 1], c[:, 2], c[:, 0], ch))
    j = np.lexsort((rc[:, 1], rc[:, 2], rc[:, 0], r_ch))
    np.testing.assert_array_equal(ch[i], r_ch[j])
    assert np.abs(c[i] - rc[j]).max() < 0.01  # 0.1 mm
    cos = np.abs(np.sum(_direction(ends[i, 0], ends[i, 1]) * _direction(r_tail[j], r_head[j]), axis=1))
    assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() < 0.01
    # a channel no active face reads has no segment; all others have theirs
    assert set(np.unique(ch)) == set(np.unique(r_ch))


def test_random_points_hit_the_files_nearest_wire(reference):
    """300 points per TPC: the channel on every plane is the one of the nearest wire segment in the file."""
    name, ref = reference
    m = ImageMapper(name)
    d = m.detector
    rng = np.random.default_rng(12)
    for t in d.tpcs:
        x0, x1, y0, y1, z0, z1 = t.box
        pts = np.stack([rng.uniform(x0, x1, 300), rng.uniform(y0, y1, 300), rng.uniform(z0, z1, 300)], axis=1)
        for p in t.planes:
            # the file's wires of this face's plane: at the plane's x, within the TPC's (y, z) range
            lo, hi = np.minimum(ref["tail"], ref["head"]), np.maximum(ref["tail"], ref["head"])
            sel = ((np.abs(ref["tail"][:, 0] - p.x_cm) < 1e-3) & (hi[:, 1] > y0 - 1) & (lo[:, 1] < y1 + 1)
                   & (hi[:, 2] > z0 - 1) & (lo[:, 2] < z1 + 1))
            a, b = ref["tail"][sel][:, 1:], ref["head"][sel][:, 1:]
            ab = b - a
            q = pts[:, None, 1:] - a[None]
            s = np.clip(np.sum(q * ab, axis=2) / np.sum(ab * ab, axis=1), 0.0, 1.0)
            dist = np.linalg.norm(q - s[..., None] * ab, axis=2)
            expected = ref["channel"][sel][np.argmin(dist, axis=1)]
            w = np.floor(p.wire_coordinate(pts[:, 1], pts[:, 2])).astype(int)
            assert np.all((w >= 0) & (w < p.n_wires))
            np.testing.assert_array_equal(p.channels[w], expected)
        for xyz in pts[:5]:  # the mapper reports the same channels
            for v in m.views:
                pr = m.project(xyz, v)
                plane = t.plane_for_view(v)
                assert pr.channel == plane.channels[int(math.floor(plane.wire_coordinate(xyz[1], xyz[2])))]


# -- a user's own description pointing at a wires file --------------------------------------------


def test_user_toml_with_a_wires_file_works_end_to_end(tmp_path):
    (tmp_path / "geometry").mkdir()
    (tmp_path / "geometry" / "my-wires.json.bz2").write_bytes((WIRES / FILE_OF["sbnd"]).read_bytes())
    toml = tmp_path / "mine.toml"
    toml.write_text(
        'name = "my-sbnd"\nwires = "geometry/my-wires.json.bz2"\ntick_us = 0.5\ndrift_velocity_cm_per_us = 0.1563\n'
        "ticks_per_readout = 3400\ntrigger_offset_ticks = 400\ncathode_x_cm = [-0.45, 0.45]\n"
    )
    d = get_detector(str(toml))
    assert d.name == "my-sbnd" and d.views == ("U", "V", "Z") and len(d.tpcs) == 2
    ev = next(simulate(str(toml), "gun", events=1, seed=4, particle="muon", energy_mev=(300.0, 300.0)))
    assert ev.detector == "my-sbnd" and ev.primary is not None
    assert all(int((p.pixels > 0).sum()) > 30 for p in ev.planes)
    m = ImageMapper(str(toml))
    prim = ev.primary
    for v, plane in enumerate(ev.planes):  # the vertex projects into its plane's crop, next to charge
        w, dr = np.floor(prim.planes[v]).astype(int) - np.array(plane.origin)
        assert 0 <= w < plane.pixels.shape[0] and 0 <= dr < plane.pixels.shape[1]
        assert plane.pixels[max(w - 3, 0): w + 4, max(dr - 3, 0): dr + 4].any()
    bp = m.backproject({v: tuple(prim.planes[i]) for i, v in enumerate(m.views)})
    np.testing.assert_allclose(bp.position_cm, prim.position_cm, atol=1e-6)


# -- malformed files and descriptions ----------------------------------------------------------------


def _tiny_store(n=12):
    """A one-face detector: U/V wires at +/-60 deg, vertical Z wires, planes at x = 0, -0.3, -0.6 cm (mm here)."""
    return malformed._tiny_wires_store(n)


def _write(folder: Path, store, name="tiny.json.bz2", raw: bytes | None = None) -> Path:
    path = folder / name
    path.write_bytes(raw if raw is not None else bz2.compress(json.dumps(store).encode()))
    return path


def _toml(folder: Path, wires: str, **extra) -> Path:
    fields = {"name": '"tiny"', "wires": f'"{wires}"', "tick_us": "0.5", "drift_velocity_cm_per_us": "0.16",
              "ticks_per_readout": "600", "cathode_x_cm": "[40.0]"}
    fields.update({k: str(v) for k, v in extra.items()})
    path = folder / "tiny.toml"
    path.write_text("".join(f"{k} = {v}\n" for k, v in fields.items()))
    return path


def test_a_small_wires_file_makes_a_working_detector(tmp_path):
    _write(tmp_path, _tiny_store())
    d = get_detector(str(_toml(tmp_path, "tiny.json.bz2")))
    assert len(d.tpcs) == 1 and d.n_channels == 36 and d.tpcs[0].side == 1
    assert d.tpcs[0].drift_cm == pytest.approx(40.0)
    assert [p.x_cm for p in d.tpcs[0].planes] == pytest.approx([0.0, -0.3, -0.6])
    assert [p.pitch_cm for p in d.tpcs[0].planes] == pytest.approx([0.5, 0.5, 0.5])
    m = ImageMapper(d)
    xyz = np.array([20.0, 0.5, 5.2])
    pr = {v: m.project(xyz, v) for v in m.views}
    assert [pr[v].channel for v in m.views] == [
        int(np.floor(p.wire_coordinate(xyz[1], xyz[2]))) + 12 * k for k, p in enumerate(d.tpcs[0].planes)]
    bp = m.backproject({v: (p.global_wire, p.global_drift) for v, p in pr.items()})
    np.testing.assert_allclose(bp.position_cm, xyz, atol=1e-9)


def _mutate(path_key, value):
    def edit(store):
        node = store["Store"]
        for k in path_key[:-1]:
            node = node[k]
        node[path_key[-1]] = value
        return store
    return edit


def _shift_wire(store):
    store["Store"]["points"][10]["Point"]["z"] += 1.5  # 1.5 mm off its lattice line (pitch 5 mm)
    return store


def _other_x(store):
    store["Store"]["points"][0]["Point"]["x"] = 1.0
    return store


@pytest.mark.parametrize("edit,match", [
    (lambda s: {"Geometry": s["Store"]}, "'Store'"),
    (_mutate(["planes", 0, "Plane", "wires", 3], 999), "refers to wire 999"),
    (_mutate(["wires", 5, "Wire", "channel"], "seven"), "channel"),
    (_mutate(["wires", 5, "Wire", "head"], 10**6), "refer to no point"),
    (_mutate(["faces", 0, "Face", "planes"], [0, 1]), "names 3 planes"),
    (_shift_wire, "not parallel lines one pitch apart"),
    (_other_x, "not at one x"),
])
def test_malformed_wires_files_name_the_file_and_the_problem(tmp_path, edit, match):
    path = _write(tmp_path, edit(_tiny_store()))
    with pytest.raises(DetectorSchemaError, match=match) as err:
        get_detector(str(_toml(tmp_path, path.name)))
    assert str(path.resolve()) in str(err.value)


def test_unreadable_wires_files(tmp_path):
    for raw, match in [(b"BZh91AY&SYnot really", "bzip2"), (b"{not json", "not valid JSON")]:
        path = _write(tmp_path, None, raw=raw)
        with pytest.raises(DetectorSchemaError, match=match) as err:
            read_wires(path, use_cache=False)
        assert str(path.resolve()) in str(err.value)


@pytest.mark.parametrize("extra,match", [
    ({"wires_sha256": '"' + "0" * 64 + '"'}, "SHA-256"),
    ({"cathode_x_cm": "[-40.0]"}, "no face looks at a cathode"),
    ({"planes": '["U", "V"]'}, "names 2 planes"),
    ({"collection": '"W"'}, "collection plane 'W'"),
    ({"colour": '"blue"'}, "colour"),
])
def test_description_errors_for_wires_detectors(tmp_path, extra, match):
    _write(tmp_path, _tiny_store())
    with pytest.raises(DetectorSchemaError, match=match):
        get_detector(str(_toml(tmp_path, "tiny.json.bz2", **extra)))


def test_missing_wires_file_is_named(tmp_path):
    with pytest.raises(DetectorSchemaError, match="nowhere.json.bz2.*does not exist"):
        get_detector(str(_toml(tmp_path, "nowhere.json.bz2")))


def test_parsed_wires_are_cached_by_content(tmp_path, monkeypatch):
    monkeypatch.setenv("VERTEXFINDER_CACHE_DIR", str(tmp_path / "cache"))
    path = _write(tmp_path, _tiny_store())
    first = read_wires(path)
    cached = list((tmp_path / "cache").glob("wires-*.npz"))
    assert len(cached) == 1
    clear_wires_cache()
    again = read_wires(path)
    cached[0].write_bytes(b"garbage")  # a damaged cache is ignored
    clear_wires_cache()
    damaged = read_wires(path)
    for other in (again, damaged):
        assert other.sha256 == first.sha256
        np.testing.assert_array_equal(other.tail_cm, first.tail_cm)
        np.testing.assert_array_equal(other.channel, first.channel)
        assert other.anodes == first.anodes and other.faces == first.faces
        assert all(a[0] == b[0] and np.array_equal(a[1], b[1]) for a, b in zip(other.planes, first.planes))
