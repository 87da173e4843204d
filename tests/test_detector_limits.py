"""Detector descriptions: declared sizes are bounded before anything is allocated, and every error
names the file and the value (regressions of issue 14)."""

import bz2
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

import vertexfinder.detectors as detectors
from vertexfinder.detectors import MAX_VIEW_PIXELS, get_detector
from vertexfinder.detectors.wirecell import MAX_CHANNEL, clear_wires_cache, read_wires
from vertexfinder.errors import DetectorSchemaError
from vertexfinder.mapper import ImageMapper

BUILTIN = Path(detectors.__file__).parent / "builtin"
TEXT = (BUILTIN / "test-detector.toml").read_text()


def _file(tmp_path, text, name="det.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _edited(tmp_path, old, new, name="det.toml"):
    assert old in TEXT
    return _file(tmp_path, TEXT.replace(old, new, 1), name)


def _refused(path, *needles):
    with pytest.raises(DetectorSchemaError) as err:
        get_detector(str(path))
    msg = str(err.value)
    assert str(path) in msg and "\n" not in msg, msg
    for needle in needles:
        assert needle in msg, msg
    return msg


@pytest.mark.parametrize("old,new,needles", [
    ("ticks_per_readout = 600", "ticks_per_readout = 1000000000000", ["ticks_per_readout", "1000000000000"]),
    ("height_cm = 60.0", "height_cm = 1e12", ["height_cm", "1000000000000.0"]),
    ('pitch_cm = 0.479', "pitch_cm = 1e-7", ["pitch_cm", "1e-07"]),
    ("tick_us = 0.5", "tick_us = 1e-9", ["tick_us"]),
    ("drift_velocity_cm_per_us = 0.1606", "drift_velocity_cm_per_us = 1e-9", ["drift_velocity_cm_per_us"]),
    ("channels = 80", "channels = 100000000000", ["channels"]),
    ("wires_per_face = 48", "wires_per_face = 48000000", ["wires_per_face"]),
    ("drift_cm = [45.0, 45.0]", "drift_cm = [45.0, 1e9]", ["drift_cm"]),
    ("z_cm = [11.75, 35.5]", "z_cm = [11.75, 1e30]", ["center_cm"]),
    ("trigger_offset_ticks = 0", "trigger_offset_ticks = 99999999999", ["trigger_offset_ticks"]),
])
def test_declared_sizes_out_of_range_are_refused_before_allocating(tmp_path, old, new, needles):
    _refused(_edited(tmp_path, old, new), *needles)


def test_sizes_in_range_that_make_a_huge_image_together_are_refused(tmp_path):
    # every value within its range, but 1000 m of anodes at 0.01 cm pitch and 100000 ticks
    text = TEXT.replace("ticks_per_readout = 600", "ticks_per_readout = 100000").replace(
        "z_cm = [11.75, 35.5]", "z_cm = [" + ", ".join(str(11.75 + 23.5 * i) for i in range(400)) + "]")
    msg = _refused(_file(tmp_path, text), "pixels at drift window 1")
    assert f"{MAX_VIEW_PIXELS:.0e}" in msg


def test_built_in_detectors_are_well_within_the_limits():
    for name in ("dune-fd-1x2x6", "protodune-sp", "microboone", "sbnd", "test-detector"):
        m = ImageMapper(name, drift_window=1)
        assert all(m.shape(v)[0] * m.shape(v)[1] < MAX_VIEW_PIXELS / 10 for v in m.views)


@pytest.mark.parametrize("u,v", [(1e-12, -1e-12), (0.2, -0.2)])
def test_nearly_parallel_planes_are_refused(tmp_path, u, v):
    """Angles of +-1e-12 deg made every plane the Z view and the mapper stopped with StopIteration."""
    text = TEXT.replace("angle_deg = 35.7", f"angle_deg = {u}").replace("angle_deg = -35.7", f"angle_deg = {v}")
    text = text.replace("wrapped = true\nchannels = 80", "wires_per_face = 40")
    _refused(_file(tmp_path, text), "parallel")


def test_a_wrapped_plane_needs_slanted_wires(tmp_path):
    text = TEXT.replace("angle_deg = 35.7", "angle_deg = 1e-12")
    _refused(_file(tmp_path, text), "cannot wrap")


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_values_are_refused(tmp_path, value):
    _refused(_edited(tmp_path, "pitch_cm = 0.4667", f"pitch_cm = {value}"), "pitch_cm", "finite")


@pytest.mark.parametrize("old,new,needle", [
    ("wrapped = true\nchannels = 80", 'wrapped = "yes"\nchannels = 80', "wrapped"),
    ("channels = 80", 'channels = "80"', "channels"),
    ("faces = 2", "faces = 2.5", "faces"),
    ('views = ["U", "V", "Z"]', 'views = ["U", "V", 3]', "views"),
    ("thickness_cm = 2.0", 'thickness_cm = "2"', "thickness_cm"),
    ("trigger_offset_ticks = 0", "trigger_offset_ticks = 0.5", "trigger_offset_ticks"),
])
def test_wrong_types_are_refused_naming_the_key(tmp_path, old, new, needle):
    _refused(_edited(tmp_path, old, new), needle)


def test_checks_of_the_anode_and_planes_name_the_file(tmp_path):
    # were "plane U: ..." / "anode: ..." / a GeometryError with the detector's name only
    _refused(_edited(tmp_path, "channels = 80", "channels = 81"), "plane U", "even")
    _refused(_edited(tmp_path, "width_cm = 23.5", "width_cm = 10.0"), "wider than the anode")
    # the -x face's U wires join the V view: a V pitch 1.4% off made a GeometryError naming no file
    _refused(_edited(tmp_path, 'name = "V"\nangle_deg = -35.7\npitch_cm = 0.4667',
                     'name = "V"\nangle_deg = -35.7\npitch_cm = 0.46'), "pitches differ")


def test_deeply_nested_json_and_toml_are_named(tmp_path):
    for name, text in [("deep.json", "[" * 100_000 + "]" * 100_000), ("deep.toml", "a = " + "[" * 100_000 + "]" * 100_000)]:
        _refused(_file(tmp_path, text, name), "nested too deeply")


def test_unreadable_text_and_oversized_files_are_named(tmp_path):
    bad = tmp_path / "latin.toml"
    bad.write_bytes(TEXT.encode().replace(b"Small", b"Sm\xe4ll"))
    _refused(bad, "not valid TOML")
    _refused(_file(tmp_path, "#" * (2 << 20), "big.toml"), "larger than")
    _refused(_file(tmp_path, '{"a": ' + "1" * 5000 + "}", "digits.json"), "not valid JSON")


def test_huge_anode_grids_are_refused_before_the_grid_is_made(tmp_path):
    axis = "[" + ", ".join(str(float(i)) for i in range(200)) + "]"
    text = TEXT.replace("y_cm = [0.0]", f"y_cm = {axis}").replace("z_cm = [11.75, 35.5]", f"z_cm = {axis}")
    _refused(_file(tmp_path, text), "number of anodes", "40000")


# -- Wire-Cell wires files ------------------------------------------------------------------------------

def _tiny():
    import malformed

    return malformed._tiny_wires_store()


def _wires_detector(tmp_path, store=None, raw=None, **extra):
    wires = tmp_path / "tiny.json.bz2"
    wires.write_bytes(raw if raw is not None else bz2.compress(json.dumps(store).encode()))
    fields = {"name": '"tiny"', "wires": '"tiny.json.bz2"', "tick_us": "0.5", "drift_velocity_cm_per_us": "0.16",
              "ticks_per_readout": "600", "cathode_x_cm": "[40.0]", **extra}
    desc = tmp_path / "tiny.toml"
    desc.write_text("".join(f"{k} = {v}\n" for k, v in fields.items()))
    return wires, desc


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VERTEXFINDER_CACHE_DIR", str(tmp_path / "cache"))
    clear_wires_cache()


def test_a_huge_channel_number_is_refused_not_allocated(tmp_path):
    store = _tiny()
    store["Store"]["wires"][3]["Wire"]["channel"] = 10**15  # the channel map is an array over channels
    wires, desc = _wires_detector(tmp_path, store)
    with pytest.raises(DetectorSchemaError, match=f"outside 0..{MAX_CHANNEL}") as err:
        get_detector(str(desc))
    assert str(wires) in str(err.value)


@pytest.mark.parametrize("edit,match", [
    (lambda s: s["Store"]["points"][0]["Point"].update(x=10**400), "too large"),
    (lambda s: s["Store"]["points"][0]["Point"].update(y=1e12), "beyond"),
    (lambda s: s["Store"]["planes"][0]["Plane"].update(wires=[10**30]), "refers to wire"),
])
def test_huge_values_in_a_wires_file_are_named(tmp_path, edit, match):
    store = _tiny()
    edit(store)
    wires, desc = _wires_detector(tmp_path, store)
    with pytest.raises(DetectorSchemaError, match=match) as err:
        get_detector(str(desc))
    assert str(wires) in str(err.value)


def test_a_wires_file_that_decompresses_to_too_much_is_refused(tmp_path, monkeypatch):
    import vertexfinder.detectors.wirecell as wirecell

    monkeypatch.setattr(wirecell, "MAX_WIRES_FILE_BYTES", 2000)  # the file: 1 kB; its JSON: 10 kB
    wires, desc = _wires_detector(tmp_path, _tiny())
    with pytest.raises(DetectorSchemaError, match="decompresses to more than 2000 bytes"):
        read_wires(wires, use_cache=False)


def test_deeply_nested_wires_json_is_named(tmp_path):
    wires, desc = _wires_detector(tmp_path, raw=bz2.compress(b"[" * 100_000 + b"]" * 100_000))
    with pytest.raises(DetectorSchemaError, match="nested too deeply") as err:
        get_detector(str(desc))
    assert str(wires) in str(err.value)


def test_a_damaged_cache_zip_is_read_again_from_the_wires_file(tmp_path):
    """A truncated cache .npz raised zipfile.BadZipFile (not caught) on the next read."""
    wires, desc = _wires_detector(tmp_path, _tiny())
    first = read_wires(wires)
    cached = next((tmp_path / "cache").glob("wires-*.npz"))
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(_truncate(cached))
    clear_wires_cache()
    again = read_wires(wires)
    np.testing.assert_array_equal(again.tail_cm, first.tail_cm)


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


def test_a_description_whose_cathodes_face_no_plane_names_the_description(tmp_path):
    wires, desc = _wires_detector(tmp_path, _tiny(), cathode_x_cm="[-40.0]")
    with pytest.raises(DetectorSchemaError, match="no face looks at a cathode") as err:
        get_detector(str(desc))
    assert str(desc) in str(err.value)


def test_a_wires_name_the_system_refuses_is_named(tmp_path):
    _, desc = _wires_detector(tmp_path, _tiny(), wires='"bad\\u0000name.json.bz2"')
    with pytest.raises(DetectorSchemaError, match="does not exist") as err:
        get_detector(str(desc))
    assert str(desc) in str(err.value)


# -- detectors that cannot be real (issue 21) ------------------------------------------------------------------


def test_two_anodes_at_the_same_place_are_refused_naming_the_file(tmp_path):
    """``z_cm = [11.75, 11.75]`` simulated happily into overlapping TPCs."""
    _refused(_edited(tmp_path, "z_cm = [11.75, 35.5]", "z_cm = [11.75, 11.75]"), "TPC 0 (anode 0 at center_cm=[0.0, "
             "0.0, 11.75]", "TPC 2 (anode 1 at center_cm=[0.0, 0.0, 11.75]", "overlap by 45 x 60 x 23.5 cm")
    _refused(_edited(tmp_path, "z_cm = [11.75, 35.5]", "z_cm = [11.75, 30.0]"), "overlap by 45 x 60 x 5.25 cm")
    # a drift length reaching past the next anode
    _refused(_edited(tmp_path, "x_cm = [0.0]", "x_cm = [0.0, 60.0]"), "TPC 1 (anode 0", "+x side",
             "center_cm=[60.0, 0.0, 11.75], -x side", "overlap by 32 x")


def test_tpcs_that_share_a_face_are_fine(tmp_path):
    touching = get_detector(str(_edited(tmp_path, "z_cm = [11.75, 35.5]", "z_cm = [11.75, 35.25]", "touch.toml")))
    assert touching.tpcs[0].box[5] == touching.tpcs[2].box[4] == 23.5
    facing = get_detector(str(_edited(tmp_path, "x_cm = [0.0]", "x_cm = [0.0, 92.0]", "facing.toml")))  # one cathode
    assert facing.tpcs[1].box[1] == facing.tpcs[2].box[0] == 46.0
    # within the tolerance (0.01 cm): rounding, not an overlap
    get_detector(str(_edited(tmp_path, "z_cm = [11.75, 35.5]", "z_cm = [11.75, 35.245]", "rounded.toml")))


def test_built_in_and_documented_detectors_pass_the_geometry_checks():
    from vertexfinder.detectors import list_detectors
    from vertexfinder.detectors.checks import check_geometry

    docs = sorted((Path(detectors.__file__).parents[2] / "docs" / "detectors").glob("*.toml"))
    assert docs and set(list_detectors()) >= {"dune-fd-1x2x6", "protodune-sp", "microboone", "sbnd", "test-detector"}
    for name in list_detectors() + [str(p) for p in docs]:
        check_geometry(get_detector(name))  # built (and checked) when loaded; checked again here


def test_wires_files_with_overlapping_tpcs_or_coincident_planes_are_refused_naming_the_file(tmp_path):
    import malformed

    for faces, needles in [
        ([(0.0, 0.0, -6.0)], ["planes U (ident 0) and V (ident 1) both at x = 0.0000 cm", "one place"]),
        ([(0.0, -6.0, -6.0)], ["planes V (ident 1) and Z (ident 2) both at x = -0.6000 cm"]),
        ([(0.0, -3.0, -6.0)] * 2, ["TPC 0 (the file's anode #0", "TPC 1 (the file's anode #1", "overlap by 40 x"]),
        ([(0.0, -3.0, -6.0), (100.0, 97.0, 94.0)], ["wires at x = 10 cm", "overlap by 30 x"]),
    ]:
        wires, desc = _wires_detector(tmp_path, malformed._tiny_wires_store(faces=faces))
        clear_wires_cache()
        msg = _refused(desc, *needles)
        assert str(wires) in msg
    # two anodes drifting to one cathode plane from both sides: touching, fine
    facing = malformed._tiny_wires_store(faces=[(0.0, -3.0, -6.0), (200.0, 203.0, 206.0)])
    wires, desc = _wires_detector(tmp_path, facing, cathode_x_cm="[10.0]")
    clear_wires_cache()
    det = get_detector(str(desc))
    assert [t.box[:2] for t in det.tpcs] == [(0.0, 10.0), (10.0, 20.0)]
