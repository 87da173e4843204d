"""Detectors recorded with the data: what event stores and ROOT dumps keep of the detector their
images were made with, and how that record becomes a Detector again.

:func:`detector_description` turns a Detector into plain data (its description, plus the SHA-256
of its Wire-Cell wires file when it has one); :func:`detector_from_description` reads it back,
finding a wires file that moved by name or by content; :func:`description_differences` says in
which keys a Detector differs from a record (to refuse reading data with another geometry).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ..errors import StoreError
from ..text import shown

__all__ = ["WIRES_PATH_ENV", "detector_description", "detector_from_description", "description_differences"]

#: Folders (separated by os.pathsep) searched for a recorded wires file that is no longer where it was.
WIRES_PATH_ENV = "VERTEXFINDER_WIRES_PATH"

_IDENTITY_KEYS = ("name", "title", "wires")


def detector_description(detector) -> dict:
    """A detector as plain data to record beside events (stores, dumps): its description, and for a
    detector made from a Wire-Cell wires file that file's SHA-256, so the file can be found again
    (by name or content) after it moved. :func:`detector_from_description` reads it back."""
    desc = detector.spec.to_dict()
    if detector.wires_file is not None and not desc.get("wires_sha256"):
        desc["wires_sha256"] = _sha256_file(Path(detector.wires_file))
    return desc


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _wires_folders(near) -> list[Path]:
    from importlib import resources

    env = [Path(p) for p in os.environ.get(WIRES_PATH_ENV, "").split(os.pathsep) if p]
    builtin = Path(str(resources.files("vertexfinder.detectors") / "wires"))
    return env + [Path(p) for p in near] + [builtin]


def _find_wires(desc: dict, where: str, near, error) -> Path:
    """The wires file a description names: where it was recorded, else a file of the same SHA-256 found
    by name, then by content, in $VERTEXFINDER_WIRES_PATH, the folders ``near`` the data and the
    built-in wires folder."""
    recorded = Path(str(desc["wires"]))
    sha = str(desc.get("wires_sha256") or "")
    if recorded.is_file() and (not sha or _sha256_file(recorded) == sha):
        return recorded
    folders = _wires_folders(near)
    if sha:
        seen = set()
        by_name = [f / recorded.name for f in folders]
        by_content = [c for f in folders if f.is_dir() for c in sorted(f.iterdir())
                      if c.name.endswith((".json", ".json.bz2"))]
        for candidate in by_name + by_content:
            key = str(candidate.resolve()) if candidate.exists() else str(candidate)
            if key in seen or not candidate.is_file():
                continue
            seen.add(key)
            if _sha256_file(candidate) == sha:
                return candidate
    state = "has other content" if recorded.is_file() else "is missing"
    what = f"SHA-256 {sha}" if sha else "no SHA-256 recorded, so it is looked for only where it was"
    raise error(
        f"{where}: detector {desc.get('name')!r} was recorded with the wires file {recorded}, which {state} "
        f"({what}); searched {', '.join(str(f) for f in folders) if sha else 'nothing else'}. Put the file in "
        f"one of those folders, list its folder in ${WIRES_PATH_ENV}, or give the detector explicitly"
    )


def detector_from_description(desc: dict, *, where: str, near=(), error=StoreError):
    """The Detector of a recorded description (:func:`detector_description`).

    The built-in Detector object when the description is a built-in detector's. A wires file that
    is no longer at its recorded path is found by SHA-256 (see :func:`_find_wires`).

    Raises:
        ``error`` (naming ``where``): the description is malformed or its wires file cannot be found.
    """
    from ..detectors import parse_detector
    from ..errors import DetectorSchemaError
    from ..records import detector_from_spec

    if not isinstance(desc, dict):
        raise error(f"{where}: the recorded detector description is not an object: {shown(desc)}")
    if "wires" in desc:
        try:
            desc = dict(desc, wires=str(_find_wires(desc, where, near, error)))
        except error:
            builtin = _same_builtin(desc)  # stores written before descriptions carried the SHA-256
            if builtin is None:
                raise
            return builtin
    try:
        return detector_from_spec(parse_detector(desc, source=where))
    except DetectorSchemaError as exc:
        raise error(f"{where}: the recorded detector description does not load: {exc}") from None


def _same_builtin(desc: dict):
    """The built-in detector a description without the wires file's SHA-256 describes, if any: the
    same name, a wires file of the same name, the same numbers."""
    from ..detectors import get_detector, list_detectors

    name = desc.get("name")
    if name not in list_detectors():
        return None
    builtin = get_detector(name)
    if builtin.wires_file is None or Path(builtin.wires_file).name != Path(str(desc["wires"])).name:
        return None
    return builtin if set(description_differences(builtin, desc)) <= {"wires_sha256"} else None


def description_differences(detector, desc: dict) -> list[str]:
    """Keys in which a Detector's description differs from a recorded one (its name, title and wires
    file path left out: the same geometry under another name or path is the same detector)."""
    mine = {k: v for k, v in detector_description(detector).items() if k not in _IDENTITY_KEYS}
    theirs = {k: v for k, v in desc.items() if k not in _IDENTITY_KEYS}
    return sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
