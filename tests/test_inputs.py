"""Event records from channel-indexed frames and hit lists."""

import numpy as np
import pytest

from vertexfinder.errors import BadEventError
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
    (([1], [-3.0], [5.0]), "negative peak tick"),
])
def test_bad_hit_lists_are_rejected(args, match):
    with pytest.raises(BadEventError, match=match):
        event_from_hits(*args, detector="test-detector")


def test_a_frame_without_charge_is_rejected():
    with pytest.raises(BadEventError, match="no charge"):
        event_from_frame(np.zeros((2, 100), np.float32), [0, 1], detector="test-detector")
    with pytest.raises(BadEventError, match="one row per channel"):
        event_from_frame(np.zeros((3, 100), np.float32), [0, 1], detector="test-detector")
