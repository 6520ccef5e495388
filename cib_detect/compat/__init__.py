"""Compatibility profiles of ``cib-detect network``: the co-action networks of
coordination-network-toolkit 1.5.2 (``cnt``) and CooRTweet 2.1 (``coortweet``),
reproduced exactly, and our own exact-window network (``native``).

Modules: :mod:`~cib_detect.compat.io` (inputs), :mod:`~cib_detect.compat.cnt`,
:mod:`~cib_detect.compat.coortweet`, :mod:`~cib_detect.compat.native` (the profiles),
:mod:`~cib_detect.compat.output` (CSV / GraphML). The heavy loops are the Numba kernels
of :mod:`cib_detect.kernels.compat`.
"""
