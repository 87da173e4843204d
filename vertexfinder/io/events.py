"""Events in and out, whatever the file: event stores, ROOT dumps, frames and hit lists.

* :func:`read_events` yields EventRecords from an event store, a ROOT dump (historical layout),
  or a ``.npz`` of a channel-indexed frame, a hit list, or Wire-Cell frames;
* :func:`write_events` writes EventRecords as a ROOT dump (``.root``) or an event store;
* :func:`convert` turns ROOT dumps into an event store.

``.npz`` inputs (every array's shape and dtype is checked against what the detector allows
before it is read, see :mod:`vertexfinder.inputs`):

* a frame: ``frame`` (channels, samples), ``channels``, and optionally ``tick_us``, ``start_tick``,
  ``charge_unit`` ("adc" or "electrons"), ``electrons_per_adc``;
* a hit list: ``channel``, ``peak_tick``, ``integral``, and optionally ``width_ticks``,
  ``tick_us``, ``start_tick``, ``charge_unit``, ``electrons_per_adc``;
* either may name its event with ``run``, ``subrun``, ``event`` (whole numbers, 0 .. 2**31 - 1);
* Wire-Cell frames as its ``NumpyFrameSaver`` writes them: per saved frame ``n`` and tag ``T``,
  ``frame_T_n`` (channels, ticks), ``channels_T_n`` and ``tickinfo_T_n`` = (start time, tick
  period, tbin) in Wire-Cell's units (ns): column 0 is at time ``start + tbin * tick``. Every
  ``n`` is one event (event number ``n``); tags that differ only in trailing digits (``gauss0``,
  ``gauss1``, ... one per anode) are parts of the same frame. The tag family read is ``tag``,
  else the only one, else ``gauss`` (Wire-Cell's signal-processed charge). Times are taken as
  measured from the start of the readout window (detector tick 0; ``time_zero_tick`` moves
  that, e.g. to the detector's ``trigger_offset_ticks`` for frames timed from the trigger).
  Signal-processing tags (``gauss``, ``wiener``, ``dnnsp``, ...) hold electrons per sample, the
  others ADC, unless ``charge_unit`` says otherwise.

Bad events are skipped and passed to a ``report`` callback (default: logged as warnings on the
``vertexfinder`` logger); nothing here prints. Outputs appear only when complete.
"""

from __future__ import annotations

import logging
import re
import zipfile
from pathlib import Path

import numpy as np

from ..detectors import DEFAULT_DETECTOR, get_detector
from ..errors import BadEventError, InputError, RootFormatError
from ..records import DEFAULT_DRIFT_WINDOW

__all__ = ["read_events", "write_events", "convert", "read_npz", "npz_events", "dump_mapper", "WIRECELL_SP_TAGS"]

_log = logging.getLogger("vertexfinder")

#: Wire-Cell frame tags (families) that hold signal-processed charge in electrons per sample.
WIRECELL_SP_TAGS = ("gauss", "wiener", "dnnsp", "sp", "tight", "loose", "threshold")
_WCT_KEY = re.compile(r"^(frame|channels|tickinfo)_(.+)_(\d+)$")
_WCT_NS_PER_US = 1000.0  # Wire-Cell's system of units: times in ns
_MAX_ID = 2**31 - 1


def _report(report):
    return report or _log.warning


# ------------------------------------------------------------------------------------------------
# .npz inputs
# ------------------------------------------------------------------------------------------------
def _npz_headers(p: Path) -> dict:
    """{array name: (shape, dtype)} of a .npz, read from the members' headers only (nothing allocated)."""
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    out = {}
    try:
        with zipfile.ZipFile(p) as z:
            for info in z.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with z.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    if version == (1, 0):
                        shape, _, dtype = np.lib.format.read_array_header_1_0(f)
                    elif version == (2, 0):
                        shape, _, dtype = np.lib.format.read_array_header_2_0(f)
                    else:
                        raise ValueError(f"unsupported .npy version {version}")
                out[info.filename[:-4]] = (tuple(int(n) for n in shape), np.dtype(dtype))
    except Exception as exc:  # zipfile, zlib and numpy's header parser report damage with assorted exception types
        raise InputError(f"{p}: not a readable .npz file ({type(exc).__name__}: {' '.join(str(exc).split())})") from None
    return out


class _Npz:
    """A .npz whose arrays are checked (dtype, size) before each is read."""

    def __init__(self, path: Path):
        self.path = path
        self.headers = _npz_headers(path)
        self._z = None

    def __enter__(self):
        try:
            self._z = np.load(self.path, allow_pickle=False)
        except Exception as exc:  # numpy reports bad archives with assorted exception types
            raise InputError(f"{self.path}: not a readable .npz file ({type(exc).__name__}: {exc})") from None
        return self

    def __exit__(self, *exc):
        self._z.close()
        return False

    def __contains__(self, key):
        return key in self.headers

    def keys(self):
        return list(self.headers)

    def array(self, key: str, *, kinds: str = "iuf", max_elements: int | None = None, ndim=None) -> np.ndarray:
        shape, dtype = self.headers[key]
        if dtype.kind not in kinds or dtype.fields is not None or dtype.subdtype is not None:
            wanted = {"i": "integer", "u": "unsigned", "f": "float", "U": "text", "S": "bytes"}
            raise InputError(f"{self.path}: array {key!r} has dtype {dtype}; expected "
                             f"{' or '.join(wanted[k] for k in kinds)}")
        if ndim is not None and len(shape) not in ((ndim,) if isinstance(ndim, int) else ndim):
            raise InputError(f"{self.path}: array {key!r} has shape {shape}; expected {ndim} dimension(s)")
        size = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if max_elements is not None and size > max_elements:
            raise InputError(f"{self.path}: array {key!r} has shape {shape} ({size} values), more than the "
                             f"{max_elements} the detector allows; not read")
        try:
            return self._z[key]
        except Exception as exc:  # a truncated or corrupt member
            raise InputError(f"{self.path}: array {key!r} does not read ({type(exc).__name__}: "
                             f"{' '.join(str(exc).split())})") from None

    def scalar(self, key: str, *, kinds: str = "iuf"):
        a = self.array(key, kinds=kinds, max_elements=1)
        if a.size != 1:
            raise InputError(f"{self.path}: {key!r} must be one value; Received: shape {a.shape}")
        return a.reshape(()).item()


def _whole(npz: _Npz, key: str, lo: int = 0, hi: int = _MAX_ID) -> int:
    value = npz.scalar(key)
    if isinstance(value, float) and (not np.isfinite(value) or value != round(value)):
        raise InputError(f"{npz.path}: {key} must be a whole number; Received: {key}={value!r}")
    value = int(value)
    if not lo <= value <= hi:
        raise InputError(f"{npz.path}: {key} must lie in {lo}..{hi}; Received: {key}={value}")
    return value


def _real(npz: _Npz, key: str):
    value = npz.scalar(key)
    return float(value)


def _charge_options(npz: _Npz, charge_unit, electrons_per_adc, default_unit: str = "adc"):
    from ..inputs import CHARGE_UNITS, DEFAULT_ELECTRONS_PER_ADC

    unit = charge_unit
    if unit is None and "charge_unit" in npz:
        unit = npz.scalar("charge_unit", kinds="US")
        if isinstance(unit, bytes):
            unit = unit.decode(errors="replace")
    unit = unit or default_unit
    if unit not in CHARGE_UNITS:
        raise InputError(f"{npz.path}: charge_unit must be one of {CHARGE_UNITS}; Received: {unit!r}")
    gain = electrons_per_adc
    if gain is None:
        gain = _real(npz, "electrons_per_adc") if "electrons_per_adc" in npz else DEFAULT_ELECTRONS_PER_ADC
    return unit, gain


def _limits(det) -> tuple[int, int]:
    """The most frame values (one row per channel, at a quarter of the detector's tick over the
    readout window) and hits (as many numbers as such a frame) a file may declare."""
    from ..inputs import MIN_TICK_FRACTION

    max_samples = int(np.ceil(det.ticks_per_readout / MIN_TICK_FRACTION))
    return det.n_channels * max_samples, det.n_channels * det.ticks_per_readout


def npz_events(path, *, detector=None, drift_window=None, pooling=None, charge_unit=None,
               electrons_per_adc=None, tag=None, time_zero_tick: float = 0.0):
    """The events of a ``.npz`` (module docstring), as (ids, record or None, error or None).

    A frame or hit file holds one event; a Wire-Cell file one per saved frame. File-level
    problems raise; a bad event comes back with its error so callers can skip and report it.

    Raises:
        InputError: the file is not a readable .npz, holds none of the known layouts, or declares
            arrays larger than the detector allows.
    """
    from ..inputs import event_from_frame, event_from_hits
    from ..mapper import ImageMapper

    p = Path(path)
    mapper = ImageMapper(DEFAULT_DETECTOR if detector is None else detector,
                         drift_window=DEFAULT_DRIFT_WINDOW if drift_window is None else drift_window,
                         pooling=pooling or "max")
    det = mapper.detector
    max_frame, max_hits = _limits(det)
    with _Npz(p) as npz:
        keys = set(npz.keys())
        is_frame = {"frame", "channels"} <= keys
        is_hits = {"channel", "peak_tick", "integral"} <= keys
        wct = _wirecell_frames(npz)
        if sum(map(bool, (is_frame, is_hits, wct))) > 1:
            raise InputError(f"{p}: holds more than one kind of input (frame, hit list, Wire-Cell frames); "
                             f"found {sorted(keys)}")
        if wct:
            yield from _wirecell_events(npz, wct, mapper, max_frame, charge_unit, electrons_per_adc, tag,
                                        time_zero_tick)
            return
        if not (is_frame or is_hits):
            raise InputError(f"{p}: expected arrays frame + channels, or channel + peak_tick + integral, or "
                             f"Wire-Cell frame_<tag>_<n> + channels_<tag>_<n> + tickinfo_<tag>_<n>; "
                             f"found {sorted(keys)}")
        ids = {k: _whole(npz, k) for k in ("run", "subrun", "event") if k in npz}
        key = (ids.get("run", 0), ids.get("subrun", 0), ids.get("event", 0))
        unit, gain = _charge_options(npz, charge_unit, electrons_per_adc)
        opts = dict(detector=mapper, charge_unit=unit, electrons_per_adc=gain, source=str(p), **ids)
        timing = dict(tick_us=_real(npz, "tick_us") if "tick_us" in npz else None,
                      start_tick=_real(npz, "start_tick") if "start_tick" in npz else 0.0)
        try:
            if is_frame:
                frame = npz.array("frame", max_elements=max_frame, ndim=2)
                channels = npz.array("channels", max_elements=det.n_channels)
                record = event_from_frame(frame, channels, **timing, **opts)
            else:
                cols = [npz.array(k, max_elements=max_hits) for k in ("channel", "peak_tick", "integral")]
                width = npz.array("width_ticks", max_elements=max_hits) if "width_ticks" in npz else None
                record = event_from_hits(*cols, width_ticks=width, **timing, **opts)
        except BadEventError as exc:
            yield key, None, str(exc)
        else:
            yield key, record, None


def _wirecell_frames(npz: _Npz) -> dict:
    """{count n: {tag: (frame key, channels key, tickinfo key)}} of Wire-Cell frame arrays."""
    found: dict = {}
    for key in npz.keys():
        m = _WCT_KEY.match(key)
        if m:
            found.setdefault(int(m[3]), {}).setdefault(m[2], {})[m[1]] = key
    out = {}
    for n, tags in found.items():
        for t, kinds in tags.items():
            if "frame" not in kinds:
                continue  # e.g. a channel mask of its own
            missing = [k for k in ("channels", "tickinfo") if k not in kinds]
            if missing:
                raise InputError(f"{npz.path}: Wire-Cell frame {kinds['frame']!r} has no "
                                 f"{' or '.join(f'{k}_{t}_{n}' for k in missing)}")
            out.setdefault(n, {})[t] = (kinds["frame"], kinds["channels"], kinds["tickinfo"])
    return out


def _family(tag: str) -> str:
    return tag.rstrip("0123456789") or tag


def _wirecell_events(npz, frames, mapper, max_frame, charge_unit, electrons_per_adc, tag, time_zero_tick):
    from ..inputs import CHARGE_UNITS, DEFAULT_ELECTRONS_PER_ADC, FramePart, event_from_frames

    det = mapper.detector
    tags = sorted({t for per_event in frames.values() for t in per_event})
    families = sorted({_family(t) for t in tags})
    if tag is None:
        if len(families) > 1 and "gauss" not in families:
            raise InputError(f"{npz.path}: holds Wire-Cell frames of several tags {families}; choose one (tag=...)")
        tag = families[0] if len(families) == 1 else "gauss"
    if tag in families:  # a family: all its anodes' parts
        family, selected = tag, (lambda t: _family(t) == tag)
    elif tag in tags:  # one exact tag
        family, selected = _family(tag), (lambda t: t == tag)
    else:
        raise InputError(f"{npz.path}: no Wire-Cell frames with tag {tag!r}; tags: {tags}")
    unit = charge_unit or ("electrons" if family in WIRECELL_SP_TAGS else "adc")
    if unit not in CHARGE_UNITS:
        raise InputError(f"{npz.path}: charge_unit must be one of {CHARGE_UNITS}; Received: charge_unit={unit!r}")
    if not np.isfinite(time_zero_tick):
        raise InputError(f"{npz.path}: time_zero_tick must be finite; Received: {time_zero_tick!r}")
    gain = DEFAULT_ELECTRONS_PER_ADC if electrons_per_adc is None else electrons_per_adc
    for n in sorted(frames):
        members = sorted(t for t in frames[n] if selected(t))
        if not members:
            continue
        if n > _MAX_ID:
            yield (0, 0, n), None, f"{npz.path} ({'+'.join(members)}): frame number {n} is too large for an event number"
            continue
        parts, total = [], 0
        try:
            for t in members:
                fkey, ckey, tkey = frames[n][t]
                shape = npz.headers[fkey][0]
                total += int(np.prod(shape, dtype=np.int64))
                if total > max_frame:
                    raise InputError(f"{npz.path}: Wire-Cell frames {members} of event {n} declare {total} values, "
                                     f"more than the {max_frame} {det.name} allows; not read")
                info = npz.array(tkey, kinds="iuf", max_elements=3).astype(np.float64).ravel()
                if info.size != 3 or not np.all(np.isfinite(info)) or info[1] <= 0:
                    raise InputError(f"{npz.path}: {tkey!r} must be (start time, tick period > 0, tbin) in ns; "
                                     f"Received: {info.tolist()}")
                start_ns, tick_ns, tbin = info
                tick_us = tick_ns / _WCT_NS_PER_US
                start_tick = time_zero_tick + (start_ns + tbin * tick_ns) / _WCT_NS_PER_US / det.tick_us
                parts.append(FramePart(npz.array(fkey, max_elements=max_frame, ndim=2),
                                       npz.array(ckey, max_elements=det.n_channels), tick_us, start_tick))
            record = event_from_frames(parts, detector=mapper, charge_unit=unit, electrons_per_adc=gain, event=n,
                                       source=f"{npz.path} ({'+'.join(members)})")
        except BadEventError as exc:
            yield (0, 0, n), None, str(exc)
        else:
            yield (0, 0, n), record, None


def read_npz(path, *, detector=None, drift_window=None, pooling=None, charge_unit=None, electrons_per_adc=None,
             tag=None, time_zero_tick: float = 0.0):
    """The EventRecord of a ``.npz`` holding one event: a frame, a hit list, or one Wire-Cell frame
    (module docstring; :func:`npz_events` reads files of several events).

    Raises:
        InputError: the file is unreadable or holds several events. BadEventError: its event is bad.
    """
    events = list(npz_events(path, detector=detector, drift_window=drift_window, pooling=pooling,
                             charge_unit=charge_unit, electrons_per_adc=electrons_per_adc, tag=tag,
                             time_zero_tick=time_zero_tick))
    if len(events) != 1:
        raise InputError(f"{path}: holds {len(events)} events; read them with read_events or npz_events")
    _, record, error = events[0]
    if record is None:
        raise BadEventError(error)
    return record


# ------------------------------------------------------------------------------------------------
# dumps: the detector they were made with
# ------------------------------------------------------------------------------------------------
def dump_mapper(path, *, detector=None, drift_window=None, pooling=None):
    """The ImageMapper to read a ROOT dump with.

    A dump written by this package records its detector, drift window and pooling; what is not
    given is taken from there (else ``dune-fd-1x2x6``, 6, "max", what historical dumps were made
    with). What is given must agree with what the dump records (the same geometry, under any name).

    Raises:
        RootFormatError: the given detector, drift window or pooling differ from the recorded ones.
    """
    from ..mapper import ImageMapper
    from ..store import description_differences, detector_from_description
    from .root import dump_metadata

    meta = dump_metadata(path)
    if meta is None:
        return ImageMapper(DEFAULT_DETECTOR if detector is None else detector,
                           drift_window=DEFAULT_DRIFT_WINDOW if drift_window is None else drift_window,
                           pooling=pooling or "max")
    desc = meta["detector"]
    if detector is None:
        det = detector_from_description(desc, where=str(path), near=(Path(path).parent,), error=RootFormatError)
    else:
        det = get_detector(detector)
        differ = description_differences(det, desc)
        if differ:
            raise RootFormatError(
                f"{path}: made with detector {desc.get('name')!r}, which differs from the detector given "
                f"({det.name!r}) in {differ}; give that detector (its name or description file), or none"
            )
    for name, given in (("drift_window", drift_window), ("pooling", pooling)):
        if given is not None and given != meta[name]:
            raise RootFormatError(f"{path}: made with {name}={meta[name]!r}, not {given!r} as given")
    return ImageMapper(det, drift_window=meta["drift_window"], pooling=meta["pooling"])


# ------------------------------------------------------------------------------------------------
# reading, writing, converting
# ------------------------------------------------------------------------------------------------
def read_events(path, *, detector=None, drift_window=None, pooling=None, report=None, **npz_options):
    """EventRecords from an event store, a ROOT dump, or a ``.npz`` file of frames or hits.

    ``detector``, ``drift_window`` and ``pooling`` describe dumps, frames and hits; None means:
    what a dump records (:func:`dump_mapper`), else ``dune-fd-1x2x6``, 6 and "max". A store
    records its own. Bad events of a dump or of a Wire-Cell file are skipped and passed to
    ``report(message)``. ``npz_options``: ``charge_unit``, ``electrons_per_adc``, ``tag``,
    ``time_zero_tick`` (:func:`npz_events`).
    """
    p = Path(path)
    report = _report(report)
    if p.is_dir():
        from ..store import EventStore

        store = EventStore.open(p)
        for i in range(len(store)):
            yield store[i]
    elif p.suffix == ".root":
        from .root import read_dump

        mapper = dump_mapper(p, detector=detector, drift_window=drift_window, pooling=pooling)
        for entry in read_dump(p, mapper=mapper):
            if entry.record is None:
                report(f"skipped {p} run {entry.run} subrun {entry.subrun} event {entry.event}: {entry.error}")
            else:
                yield entry.record
    elif p.suffix == ".npz":
        events = list(npz_events(p, detector=detector, drift_window=drift_window, pooling=pooling, **npz_options))
        if len(events) == 1 and events[0][1] is None:
            raise BadEventError(events[0][2])  # a file of one event: its problem is the file's
        for ids, record, error in events:
            if record is None:
                report(f"skipped {error}")
            else:
                yield record
    elif not p.exists():
        raise InputError(f"{p}: no such file or event store")
    else:
        raise InputError(f"{p}: not an event store, a .root dump or a .npz of frames or hits")


def _create_store(output, det, drift_window, pooling, overwrite):
    from ..store import EventStore, detector_description

    return EventStore.create(output, detector=det.name, views=list(det.views), drift_window=drift_window,
                             pooling=pooling, pixel_cm=None, detector_description=detector_description(det),
                             overwrite=overwrite)


def write_events(records, output, *, detector, drift_window, pooling, overwrite=False) -> int:
    """Write EventRecords to ``output``: a ROOT dump if it ends in ``.root``, else an event store.

    Either way the output appears only when complete (temporary name, then rename), and records
    the detector's description so it reopens without being told. Returns the number of events
    written.
    """
    det = get_detector(detector)
    if str(output).endswith(".root"):
        from ..mapper import ImageMapper
        from .root import write_dump

        if Path(output).exists() and not overwrite:
            raise InputError(f"{output}: exists (use --overwrite)")
        return write_dump(output, records, mapper=ImageMapper(det, drift_window=drift_window, pooling=pooling))
    n = 0
    with _create_store(output, det, drift_window, pooling, overwrite) as writer:
        for rec in records:
            writer.append(rec)
            n += 1
    return n


class _NothingConverted(Exception):
    pass


def convert(inputs, output, *, detector=None, drift_window=None, pooling=None, overwrite=False, progress=True,
            report=None) -> dict:
    """Convert ROOT dumps into an event store; bad events are skipped and passed to ``report``.

    ``detector``, ``drift_window``, ``pooling``: as in :func:`read_events` (None: what the first
    dump records, else ``dune-fd-1x2x6``, 6, "max"); every input must agree with them. An event
    whose (run, subrun, event) was already converted, from the same or an earlier input, is
    skipped and reported: a store holds each event once.

    Returns a summary dict (converted, skipped, errors, store). The store appears at ``output``
    only when the conversion finished (it is built under a temporary name, then renamed).

    Raises:
        InputError: an input file is missing or given twice, or no event could be converted (no
            store is written). RootFormatError: an input is not a dump, or was made with another
            detector.
    """
    from tqdm import tqdm

    from .root import read_dump

    inputs = [Path(p) for p in inputs]
    seen_paths: dict = {}
    for path in inputs:
        if not path.is_file():
            raise InputError(f"{path}: no such file")
        key = path.resolve()
        if key in seen_paths:
            raise InputError(f"{path}: given twice (as {seen_paths[key]} and {path}); each event would be read twice")
        seen_paths[key] = path
    if not inputs:
        raise InputError("convert: no input files")
    mapper = dump_mapper(inputs[0], detector=detector, drift_window=drift_window, pooling=pooling)
    det = mapper.detector
    mappers = [mapper] + [dump_mapper(p, detector=det, drift_window=mapper.drift_window, pooling=mapper.pooling)
                          for p in inputs[1:]]
    report = _report(report)
    converted, errors = 0, []
    first_seen: dict = {}
    try:
        with _create_store(output, det, mapper.drift_window, mapper.pooling, overwrite) as writer, \
                tqdm(desc="converting", unit="event", disable=not progress) as bar:
            for path, m in zip(inputs, mappers):
                for entry in read_dump(path, mapper=m):
                    where = f"{path} run {entry.run} subrun {entry.subrun} event {entry.event}"
                    if entry.record is None:
                        msg = f"skipped {where}: {entry.error}"
                    elif entry.ids in first_seen:
                        msg = (f"skipped {where}: the same run, subrun and event as an event already converted "
                               f"from {first_seen[entry.ids]}")
                    else:
                        writer.append(entry.record)
                        first_seen[entry.ids] = path
                        converted += 1
                        msg = None
                    if msg is not None:
                        errors.append(msg)
                        report(msg)
                    bar.update(1)
            if converted == 0:
                raise _NothingConverted
    except _NothingConverted:
        raise InputError(f"{', '.join(map(str, inputs))}: no event could be converted ({len(errors)} skipped); "
                         "no store written") from None
    return {"converted": converted, "skipped": len(errors), "errors": errors, "store": str(output)}

