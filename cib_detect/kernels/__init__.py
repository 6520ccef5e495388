"""Numba kernels: arrays in, arrays out. No I/O, no logging, no Python objects.

Every kernel is compiled with ``cache=True`` and is serial, so calling kernels from
several threads never touches Numba's (not thread-safe) default threading layer.
:func:`warm_up` compiles all of them on tiny inputs once at start-up.

``ids.py`` holds NumPy versions of the id checks (same results), used while Numba is
not loaded, so that reading a file for ``cib-detect ingest`` does not load Numba.
"""
