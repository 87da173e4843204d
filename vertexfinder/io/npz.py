"""A ``.npz`` input whose arrays are checked before they are read, and what frame, hit and
Wire-Cell files share: their ids, charge units, timing and the sizes a detector allows.

Every array's shape and dtype is read from its ``.npy`` header first (:func:`npz_headers`,
nothing allocated) and checked against what the detector allows (:func:`limits`) before the
array itself is read (:meth:`NpzFile.array`).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..errors import InputError

__all__ = ["NpzFile", "npz_headers", "MAX_ID", "whole_number", "real_number", "one_event", "charge_options",
           "limits"]

#: The largest run, subrun and event number (a ROOT Int_t).
MAX_ID = 2**31 - 1


def npz_headers(p: Path) -> dict:
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


class NpzFile:
    """A .npz whose arrays are checked (dtype, size) before each is read; open it with ``with``."""

    def __init__(self, path: Path):
        self.path = path
        self.headers = npz_headers(path)
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
        """Array ``key``, after its header is checked: dtype kind in ``kinds``, ``ndim`` dimensions
        (one number or several allowed), at most ``max_elements`` values."""
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
        """The one value of array ``key``."""
        a = self.array(key, kinds=kinds, max_elements=1)
        if a.size != 1:
            raise InputError(f"{self.path}: {key!r} must be one value; Received: shape {a.shape}")
        return a.reshape(()).item()


def whole_number(npz: NpzFile, key: str, lo: int = 0, hi: int = MAX_ID) -> int:
    """The one value of ``key``, a whole number in ``lo..hi``."""
    value = npz.scalar(key)
    if isinstance(value, float) and (not np.isfinite(value) or value != round(value)):
        raise InputError(f"{npz.path}: {key} must be a whole number; Received: {key}={value!r}")
    value = int(value)
    if not lo <= value <= hi:
        raise InputError(f"{npz.path}: {key} must lie in {lo}..{hi}; Received: {key}={value}")
    return value


def real_number(npz: NpzFile, key: str):
    """The one value of ``key`` as a float."""
    value = npz.scalar(key)
    return float(value)


def one_event(npz: NpzFile, mapper, charge_unit, electrons_per_adc) -> tuple[tuple[int, int, int], dict]:
    """What a frame or hit file says of its one event: its (run, subrun, event) (0 where not named)
    and the keyword arguments of :func:`~vertexfinder.inputs.event_from_frame` and
    :func:`~vertexfinder.inputs.event_from_hits` (detector, ids, charge unit, gain, timing, source)."""
    ids = {k: whole_number(npz, k) for k in ("run", "subrun", "event") if k in npz}
    key = (ids.get("run", 0), ids.get("subrun", 0), ids.get("event", 0))
    unit, gain = charge_options(npz, charge_unit, electrons_per_adc)
    options = dict(detector=mapper, charge_unit=unit, electrons_per_adc=gain, source=str(npz.path), **ids)
    timing = dict(tick_us=real_number(npz, "tick_us") if "tick_us" in npz else None,
                  start_tick=real_number(npz, "start_tick") if "start_tick" in npz else 0.0)
    return key, {**timing, **options}


def charge_options(npz: NpzFile, charge_unit, electrons_per_adc, default_unit: str = "adc"):
    """(charge unit, electrons per ADC): as given, else as the file says, else the defaults."""
    from ..inputs import CHARGE_UNITS, DEFAULT_ELECTRONS_PER_ADC  # numba loads only when an .npz is read

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
        gain = real_number(npz, "electrons_per_adc") if "electrons_per_adc" in npz else DEFAULT_ELECTRONS_PER_ADC
    return unit, gain


def limits(det) -> tuple[int, int]:
    """The most frame values (one row per channel, at a quarter of the detector's tick over the
    readout window) and hits (as many numbers as such a frame) a file may declare."""
    from ..inputs import MIN_TICK_FRACTION

    max_samples = int(np.ceil(det.ticks_per_readout / MIN_TICK_FRACTION))
    return det.n_channels * max_samples, det.n_channels * det.ticks_per_readout
