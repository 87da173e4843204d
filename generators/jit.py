"""The one place where Numba jit options are set, for every kernel of the project.

No blanket ``fastmath``: it silently breaks NaN/Inf logic. ``cache=True``
keeps compiled kernels on disk so a second process starts fast.
"""

from __future__ import annotations

import functools

import numba

__all__ = ["JIT_OPTIONS", "njit", "njit_parallel"]

JIT_OPTIONS = {"nopython": True, "cache": True, "nogil": True}

#: ``@njit`` with the project's options.
njit = functools.partial(numba.jit, **JIT_OPTIONS)
#: ``@njit_parallel`` for kernels with a ``numba.prange`` outer loop.
njit_parallel = functools.partial(numba.jit, parallel=True, **JIT_OPTIONS)
