"""Event records from channel-indexed frames and hit lists."""

import re

import numpy as np
import pytest

from vertexfinder.errors import BadEventError, InputError
from vertexfinder.inputs import event_from_frame, event_from_hits, frame_from_event
from vertexfinder.mapper import ImageMapper
from vertexfinder.simulation import simulate


@pytest.fixture(scope="module")
def event():
    return next(iter(simulate("test-detector", "numu-cc", events=1, seed=5)))


def _global(rec, mapper, v):
    return rec.planes[v].to_global(mapper.shape(v))


def test_frame_round_trip_rebuilds_the_images(event):
    mapper = ImageMapper("test-detector")
    frame, channels = frame_from_event(event, mapper)
    assert frame.shape == (len(channels), mapper.detector.ticks_per_readout)
    rec = event_from_frame(frame, channels, detector=mapper)
    z = mapper.view_index("Z")
    # the collection plane has one wire per channel: exact
    np.testing.assert_array_equal(_global(rec, mapper, z), _global(event, mapper, z))
    # wrapped planes: each channel's waveform is copied onto every segment it reads, so the rebuilt
    # image holds the original charge (and ghosts of it elsewhere)
    for v in (mapper.view_index("U"), mapper.view_index("V")):
        orig, again = _global(event, mapper, v) > 0, _global(rec, mapper, v) > 0
        assert (orig & again).sum() >= 0.9 * orig.sum()
        assert again.sum() > orig.sum()  # the ghosts


def test_frame_with_a_coarser_tick_period_lands_on_the_same_pixels(event):
    mapper = ImageMapper("test-detector")
    frame, channels = frame_from_event(event, mapper)
    coarse = frame.reshape(len(channels), -1, 2).max(axis=2)  # 1 us samples
    rec = event_from_frame(coarse, channels, detector=mapper, tick_us=1.0)
    z = mapper.view_index("Z")
    np.testing.assert_array_equal(_global(rec, mapper, z), _global(event, mapper, z))


def test_hits_are_rasterised_at_their_channel_and_tick():
    mapper = ImageMapper("test-detector")
    det = mapper.detector
    tpc = det.tpcs[1]
    zplane = tpc.plane_for_view("Z")
    wire, tick = 20, 301.0
    rec = event_from_hits([zplane.channels[wire]], [tick], [1000.0], detector=mapper, width_ticks=3.0)
    z = mapper.view_index("Z")
    img = _global(rec, mapper, z)
    gw, gd = mapper.to_global("Z", tpc.index, wire, int(tick))
    assert np.unravel_index(np.argmax(img), img.shape) == (gw, gd)
    # the pulse height is the integral over sqrt(2 pi) sigma
    assert img[gw, gd] == pytest.approx(1000.0 / (np.sqrt(2 * np.pi) * 3.0), abs=1.0)


@pytest.mark.parametrize("args,match", [
    (([1, 2], [10.0], [5.0]), "differ in length"),
    (([], [], []), "empty"),
    (([1], [np.nan], [5.0]), "finite"),
    (([1], [-3.0], [5.0]), r"peaks at tick -3 .*outside the test-detector readout window 0\.\.599"),
])
def test_bad_hit_lists_are_rejected(args, match):
    with pytest.raises(BadEventError, match=match):
        event_from_hits(*args, detector="test-detector")


def test_a_frame_without_charge_is_rejected():
    with pytest.raises(BadEventError, match="no charge"):
        event_from_frame(np.zeros((2, 100), np.float32), [0, 1], detector="test-detector")
    with pytest.raises(BadEventError, match="one row per channel"):
        event_from_frame(np.zeros((3, 100), np.float32), [0, 1], detector="test-detector")


# -- frames as the experiments write them -------------------------------------------------------------


def _z_track(mapper, *, n_ticks=None, value=60.0, tpc=1, wires=range(10, 20), ticks=(200, 230)):
    """A frame (collection channels of one TPC, detector ticks) with a short track."""
    det = mapper.detector
    plane = det.tpcs[tpc].plane_for_view("Z")
    channels = np.array([plane.channels[w] for w in wires])
    frame = np.zeros((len(channels), n_ticks or det.ticks_per_readout), np.float32)
    frame[:, ticks[0]:ticks[1]] = value
    return frame, channels


def test_signal_processed_electrons_land_on_the_adc_scale():
    mapper = ImageMapper("test-detector")
    frame, channels = _z_track(mapper, value=30.0, ticks=(200, 236))
    adc = event_from_frame(frame, channels, detector=mapper)
    electrons = event_from_frame(frame * 2000.0, channels, detector=mapper, charge_unit="electrons",
                                 electrons_per_adc=2000.0)
    z = mapper.view_index("Z")
    np.testing.assert_array_equal(_global(adc, mapper, z), _global(electrons, mapper, z))
    assert _global(adc, mapper, z).max() == 30
    # the default gain is the simulation's (120 electrons per ADC); a rebinned sample holds k ticks' charge
    rebinned = frame.reshape(len(channels), -1, 4).sum(axis=2) * 120.0
    again = event_from_frame(rebinned, channels, detector=mapper, tick_us=2.0, charge_unit="electrons")
    np.testing.assert_array_equal(_global(again, mapper, z), _global(adc, mapper, z))
    with pytest.raises(InputError, match="charge_unit must be one of"):
        event_from_frame(frame, channels, detector=mapper, charge_unit="fC")


def test_start_tick_places_samples_and_a_pre_trigger_frame_may_start_before_the_window():
    mapper = ImageMapper("test-detector")
    frame, channels = _z_track(mapper)
    ref = event_from_frame(frame, channels, detector=mapper)
    # the same charge, in a frame that starts 120 ticks before the readout window (empty there)
    early = np.concatenate([np.zeros((len(channels), 120), np.float32), frame[:, :-120]], axis=1)
    got = event_from_frame(early, channels, detector=mapper, start_tick=-120)
    z = mapper.view_index("Z")
    np.testing.assert_array_equal(_global(got, mapper, z), _global(ref, mapper, z))
    # and one that starts late: its sample 0 is tick 60
    late = event_from_frame(frame[:, 60:], channels, detector=mapper, start_tick=60)
    np.testing.assert_array_equal(_global(late, mapper, z), _global(ref, mapper, z))


def test_charge_outside_the_readout_window_is_cropped_and_reported_or_refused_on_request():
    mapper = ImageMapper("test-detector")
    frame, channels = _z_track(mapper, ticks=(60, 100))  # from start_tick -80: ticks -20..20, half before the window
    reports = []
    rec = event_from_frame(frame[:, :500], channels, detector=mapper, start_tick=-80, event=4, source="frame.npz",
                           report=reports.append)
    inside, inside_channels = _z_track(mapper, ticks=(0, 20))
    z = mapper.view_index("Z")
    ref = event_from_frame(inside, inside_channels, detector=mapper)
    np.testing.assert_array_equal(_global(rec, mapper, z), _global(ref, mapper, z))  # the window's half is kept
    assert len(reports) == 1 and re.fullmatch(  # the rest is cut, and said so: file, event, samples, ticks, charge
        r"cropped frame\.npz: event 4: 200 samples on 10 channels held charge outside the test-detector readout window "
        r"0\.\.599 \(ticks -19\.5\.\.-0\.5\): 1\.2e\+04 ADC summed over samples, 50% of the frame's charge, dropped",
        reports[0]), reports
    with pytest.raises(BadEventError, match=r"frame\.npz: event 4: frame channel \d+ sample 60 \(tick -19\.5\) holds "
                                            r"60 ADC outside the test-detector readout window 0\.\.599 .*"
                                            r"outside_window='refuse'"):
        event_from_frame(frame[:, :500], channels, detector=mapper, start_tick=-80, event=4, source="frame.npz",
                         outside_window="refuse")
    frame, channels = _z_track(mapper, ticks=(540, 560))
    with pytest.raises(BadEventError, match=r"sample 540 \(tick 600\.5\) holds 60 ADC outside"):
        event_from_frame(frame[:, :560], channels, detector=mapper, start_tick=60, outside_window="refuse")
    # all the charge outside: nothing to image, refused with what lay outside
    with pytest.raises(BadEventError, match=r"event 0: no charge above threshold inside the test-detector readout "
                                            r"window; 200 samples on 10 channels held charge outside .*100% of the "
                                            r"frame's charge"):
        event_from_frame(frame[:, 540:560], channels, detector=mapper, start_tick=600, report=reports.append)
    with pytest.raises(InputError, match=r"outside_window must be one of \('crop', 'refuse'\)"):
        event_from_frame(frame, channels, detector=mapper, outside_window="keep")
    # longer than 4 readout windows: refused from its shape alone, before anything is allocated
    huge = np.broadcast_to(np.float32(0.0), (len(channels), 10**9))
    with pytest.raises(BadEventError, match=r"1000000000 samples .* longer than 4 test-detector readout windows "
                                            r"of 600 ticks"):
        event_from_frame(huge, channels, detector=mapper)
    too_many = np.broadcast_to(np.float32(0.0), (20_000, 10))
    with pytest.raises(BadEventError, match="20000 rows but test-detector has 512 channels"):
        event_from_frame(too_many, np.arange(20_000), detector=mapper)


def test_a_frame_longer_than_the_window_reads_when_nothing_lies_beyond_it():
    """Issue 21: a frame of 1.5 readout windows was refused ("crop it to the readout window") though empty beyond."""
    mapper = ImageMapper("test-detector")
    frame, channels = _z_track(mapper)
    ref = event_from_frame(frame, channels, detector=mapper)
    reports = []
    longer = np.concatenate([frame, np.zeros((len(channels), 300), np.float32)], axis=1)
    longer[:, 650] = 0.2  # below half an ADC count: makes no pixel, is no charge
    got = event_from_frame(longer, channels, detector=mapper, report=reports.append)
    z = mapper.view_index("Z")
    np.testing.assert_array_equal(_global(got, mapper, z), _global(ref, mapper, z))
    assert reports == []


@pytest.mark.parametrize("frame,channels,match", [
    (np.full((2, 100), np.nan), [0, 1], r"channel 0 sample 0 is nan; samples must be finite"),
    (np.ones((2, 100), np.complex64), [0, 1], r"frame must hold real numbers .*complex64"),
    (np.zeros((2, 100), "datetime64[ns]"), [0, 1], r"frame must hold real numbers .*datetime64"),
    (np.ones((2, 100), bool), [0, 1], r"frame must hold real numbers .*bool"),
    (np.ones((2, 100)), [0.0, 1.5], r"frame channel must be whole channel numbers; Received: 1\.5"),
    (np.ones((2, 100)), [0, 512], r"frame channel 512 out of range: test-detector has channels 0\.\.511"),
    (np.ones((2, 100)), [3, 3], r"channel 3 has more than one row"),
    (np.ones((100,)), [0], r"must be 2D"),
])
def test_malformed_frames_are_refused(frame, channels, match):
    with pytest.raises(BadEventError, match=match):
        event_from_frame(frame, channels, detector="test-detector")


def test_frame_timing_arguments_are_checked():
    frame, channels = np.ones((2, 100)), [0, 1]
    for kwargs, match in [(dict(tick_us=0.0), "tick_us"), (dict(tick_us=float("nan")), "tick_us"),
                          (dict(tick_us=0.05), "finer than a quarter"), (dict(start_tick=float("inf")), "start_tick"),
                          (dict(start_tick=1e12), "far outside")]:
        with pytest.raises(BadEventError, match=match):
            event_from_frame(frame, channels, detector="test-detector", **kwargs)


def test_huge_charge_saturates_without_warnings():
    mapper = ImageMapper("test-detector")
    frame, channels = _z_track(mapper)
    rec = event_from_frame(frame.astype(np.float64) * 1e300, channels, detector=mapper, charge_unit="electrons",
                           electrons_per_adc=1e-10)
    assert _global(rec, mapper, mapper.view_index("Z")).max() == 255


# -- hits -----------------------------------------------------------------------------------------------


def test_hits_with_start_tick_negative_times_and_widths_in_their_own_ticks():
    mapper = ImageMapper("test-detector")
    det = mapper.detector
    ch = det.tpcs[1].plane_for_view("Z").channels[20]
    ref = event_from_hits([ch], [301.0], [1000.0], detector=mapper, width_ticks=4.0)
    # times in 2 us ticks from tick 401: peak -25 -> tick 301; width 1 tick of 2 us = 4 detector ticks
    got = event_from_hits([ch], [-25.0], [250.0], detector=mapper, width_ticks=1.0, tick_us=2.0, start_tick=401)
    z = mapper.view_index("Z")
    np.testing.assert_array_equal(_global(got, mapper, z), _global(ref, mapper, z))


@pytest.mark.parametrize("peak", [1e8, 1e9, 1e300, -1e9])
def test_a_hit_far_outside_the_window_is_refused_before_allocating(peak):
    import tracemalloc

    tracemalloc.start()
    try:
        with pytest.raises(BadEventError, match=r"hit 1 \(channel 7\) peaks at tick .* outside the test-detector "
                                                r"readout window"):
            event_from_hits([5, 7], [100.0, peak], [10.0, 10.0], detector="test-detector", source="hits.npz")
        peak_bytes = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak_bytes < 16 * 2**20


@pytest.mark.parametrize("kwargs,match", [
    (dict(width_ticks=[1.0, -1.0]), r"hit 1 \(channel 7\) has width -1\.0"),
    (dict(width_ticks=1e9), r"has width 1000000000\.0 ticks"),
    (dict(width_ticks=[1.0, 2.0, 3.0]), "one value or one per hit"),
])
def test_bad_hit_widths_are_refused(kwargs, match):
    with pytest.raises(BadEventError, match=match):
        event_from_hits([5, 7], [100.0, 200.0], [10.0, 10.0], detector="test-detector", **kwargs)


def test_hit_values_are_checked():
    with pytest.raises(BadEventError, match=r"hit 0 \(channel 5\) has a negative integral -10\.0"):
        event_from_hits([5], [100.0], [-10.0], detector="test-detector")
    with pytest.raises(BadEventError, match=r"hit channel must be whole channel numbers; Received: 5\.5"):
        event_from_hits([5.5], [100.0], [10.0], detector="test-detector")
    rec = event_from_hits([5], [100.0], [1e300], detector="test-detector")  # saturates, no overflow warning
    assert max(int(p.pixels.max()) for p in rec.planes if p.pixels.size) == 255


# -- the doubled collection charge of overlapping APAs ------------------------------------------------------


def test_frame_round_trip_does_not_double_charge_where_upper_and_lower_apas_overlap():
    event = next(iter(simulate("dune-fd-1x2x6", "numu-cc", events=1, seed=3)))
    mapper = ImageMapper(event.get_detector())
    z = mapper.view_index("Z")
    tpcs = mapper.detector.tpcs
    placed = {(mapper.wire_offset(z, t.index), mapper.drift_block(t.index, z)[0]) for t in tpcs}
    assert len(placed) < len(tpcs)  # upper and lower APAs share their collection-view pixels
    frame, channels = frame_from_event(event, mapper)
    rec = event_from_frame(frame, channels, detector=mapper)
    orig, again = _global(event, mapper, z), _global(rec, mapper, z)
    covered = np.zeros(orig.shape, bool)  # pixels some TPC reads (the simulation leaves a few between blocks)
    for t in mapper.detector.tpcs:
        start, n, _ = mapper.drift_block(t.index, z)
        off = mapper.wire_offset(z, t.index)
        covered[off : off + mapper.tpc_plane(z, t.index).n_wires, start : start + n] = True
    np.testing.assert_array_equal(again[covered], orig[covered])
    for v in (mapper.view_index("U"), mapper.view_index("V")):
        o, a = _global(event, mapper, v), _global(rec, mapper, v)
        charged = o > 0
        assert (a[charged] == o[charged]).mean() > 0.99  # not doubled (ghosts land elsewhere)


# -- Wire-Cell's own frame files (NumpyFrameSaver) -------------------------------------------------------


def _save_wirecell(path, frames):
    """Arrays as Wire-Cell's NumpyFrameSaver names them: frame_<tag>_<n>, channels_<tag>_<n>,
    tickinfo_<tag>_<n> = (start time, tick, tbin), times in ns."""
    arrays = {}
    for (tag, n), (frame, channels, start_ns, tick_ns, tbin) in frames.items():
        arrays[f"frame_{tag}_{n}"] = frame
        arrays[f"channels_{tag}_{n}"] = np.asarray(channels, np.int32)
        arrays[f"tickinfo_{tag}_{n}"] = np.array([start_ns, tick_ns, tbin], np.float64)
    np.savez_compressed(path, **arrays)


def test_wirecell_frame_files_are_read_per_event_with_their_anode_parts(tmp_path):
    from vertexfinder.io.events import read_events

    mapper = ImageMapper("test-detector")
    a, ca = _z_track(mapper, tpc=1, value=40.0, ticks=(200, 236))
    b, cb = _z_track(mapper, tpc=3, value=25.0, ticks=(300, 320))
    ref = event_from_frame(np.concatenate([a, b]), np.concatenate([ca, cb]), detector=mapper, event=1)
    path = tmp_path / "sp-frames.npz"
    # event 0: anode 1's part starts at tbin 100 of a frame starting at -50 us (tick -100 + 100 = 0)
    _save_wirecell(path, {
        ("gauss0", 0): (a[:, :500] * 120.0, ca, -50_000.0, 500.0, 100),
        ("gauss1", 0): (b * 120.0, cb, 0.0, 500.0, 0),
        ("gauss0", 1): (a * 120.0, ca, 0.0, 500.0, 0),
        ("gauss1", 1): (b * 120.0, cb, 0.0, 500.0, 0),
        ("wiener0", 1): (a * 0.0, ca, 0.0, 500.0, 0),
        ("gauss0", 2): (np.where(a > 0, np.nan, a), ca, 0.0, 500.0, 0),
    })
    reports = []
    events = list(read_events(path, detector="test-detector", report=reports.append))
    assert [e.event for e in events] == [0, 1]  # event 2 is skipped and reported
    assert len(reports) == 1 and re.search(r"sp-frames\.npz \(gauss0\): event 2: frame channel \d+ sample 200 is nan",
                                           reports[0])
    z = mapper.view_index("Z")
    for e in events:  # signal-processed tags are electrons: 120 per ADC by default
        np.testing.assert_array_equal(_global(e, mapper, z), _global(ref, mapper, z))
    with pytest.raises(BadEventError, match=r"sp-frames\.npz \(wiener0\): event 1: no charge above threshold"):
        list(read_events(path, detector="test-detector", tag="wiener"))


def test_wirecell_raw_adc_frames_and_tag_choice(tmp_path):
    from vertexfinder.io.events import read_npz

    mapper = ImageMapper("test-detector")
    a, ca = _z_track(mapper, value=40.0, ticks=(100, 130))
    path = tmp_path / "raw.npz"
    # digitized (int16) ADC at 1 us ticks, read out from 100 us before the trigger; timed from the trigger
    _save_wirecell(path, {("orig", 7): (a.reshape(len(ca), -1, 2).max(axis=2).astype(np.int16), ca, -100_000.0,
                                        1000.0, 0),
                          ("raw", 7): (a[:, :10].astype(np.int16), ca, 0.0, 500.0, 0)})
    with pytest.raises(InputError, match=r"raw\.npz: holds Wire-Cell frames of several tags \['orig', 'raw'\]"):
        read_npz(path, detector="test-detector")
    rec = read_npz(path, detector="test-detector", tag="orig", time_zero_tick=200)
    assert rec.event == 7
    ref = event_from_frame(a, ca, detector=mapper)
    z = mapper.view_index("Z")
    np.testing.assert_array_equal(_global(rec, mapper, z), _global(ref, mapper, z))
    # timed from the readout start, the track lies 200 ticks early, before the window: refused, with what lay there
    with pytest.raises(BadEventError, match=r"raw\.npz \(orig\): event 7: no charge above threshold inside the "
                                            r"test-detector readout window; 150 samples on 10 channels held charge "
                                            r"outside .* \(ticks -99\.\.-71\): 6000 ADC summed over samples, 100%"):
        read_npz(path, detector="test-detector", tag="orig")


def test_dune_fd_wirecell_frames_of_6000_ticks_read_and_charge_beyond_4492_is_cropped_and_reported(tmp_path):
    """Issue 21: Wire-Cell simulates DUNE FD frames of 6000 ticks, the LArSoft readout window is 4492: such a frame
    was refused ("crop it to the readout window") though nothing lay beyond the window."""
    from vertexfinder.io.events import read_events

    mapper = ImageMapper("dune-fd-1x2x6")
    assert mapper.detector.ticks_per_readout == 4492
    frame, channels = _z_track(mapper, n_ticks=6000, value=50.0 * 120, wires=range(300, 340), ticks=(2000, 2060))
    ref = event_from_frame(frame[:, :4492], channels, detector=mapper, charge_unit="electrons")
    beyond = frame.copy()
    beyond[:5, 5000:5010] = 30.0 * 120  # 50 samples of 30 ADC, 1508 to 1517 ticks beyond the window
    path = tmp_path / "dune-sp.npz"
    _save_wirecell(path, {("gauss0", 0): (frame, channels, 0.0, 500.0, 0),
                          ("gauss0", 1): (beyond, channels, 0.0, 500.0, 0)})
    reports = []
    events = list(read_events(path, detector="dune-fd-1x2x6", report=reports.append))
    assert [e.event for e in events] == [0, 1]
    z = mapper.view_index("Z")
    for e in events:
        np.testing.assert_array_equal(_global(e, mapper, z), _global(ref, mapper, z))
    assert reports == [  # event 0: nothing to say; event 1: what was dropped, on one line
        f"cropped {path} (gauss0): event 1: 50 samples on 5 channels held charge outside the dune-fd-1x2x6 readout "
        f"window 0..4491 (ticks 5000.5..5009.5): 1.8e+05 electrons, 1.23% of the frame's charge, dropped"]
    # asked to refuse such frames, the event is skipped and reported like any bad event
    reports = []
    kept = list(read_events(path, detector="dune-fd-1x2x6", outside_window="refuse", report=reports.append))
    assert [e.event for e in kept] == [0] and len(reports) == 1
    assert re.fullmatch(r"skipped .*dune-sp\.npz \(gauss0\): event 1: frame channel \d+ sample 5000 \(tick 5000\.5\) "
                        r"holds 30 ADC outside the dune-fd-1x2x6 readout window .*", reports[0]), reports


def test_npz_frames_carry_their_charge_unit_and_ids_are_checked(tmp_path):
    from vertexfinder.io.events import read_npz

    mapper = ImageMapper("test-detector")
    a, ca = _z_track(mapper, value=40.0)
    path = tmp_path / "frame.npz"
    np.savez(path, frame=a * 500.0, channels=ca, charge_unit="electrons", electrons_per_adc=500.0, run=3, event=9)
    rec = read_npz(path, detector="test-detector")
    assert rec.ids == (3, 0, 9)
    assert _global(rec, mapper, mapper.view_index("Z")).max() == 40
    for bad, match in [(dict(event=2.5), r"frame\.npz: event must be a whole number; Received: event=2\.5"),
                       (dict(event=-1), r"frame\.npz: event must lie in 0\.\.2147483647"),
                       (dict(charge_unit="ADC counts"), r"frame\.npz: charge_unit must be one of"),
                       (dict(tick_us=np.array([0.5, 1.0])), r"frame\.npz: 'tick_us' must be one value|more than the 1")]:
        np.savez(path, frame=a, channels=ca, **bad)
        with pytest.raises(InputError, match=match):
            read_npz(path, detector="test-detector")
