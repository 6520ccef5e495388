"""Seeded synthetic worlds: organic background, planted campaigns and organic traps.

A world is an event table (``event_id, account_id, action, target, timestamp, text``) plus
a ground truth naming the members of every planted campaign and of every organic *trap*
(behaviour that looks coordinated but is not: a viral burst, an album release, fan clubs,
sleep loops). Everything is vectorised numpy/pyarrow, so 10^7 events take seconds, and
everything is drawn from one :class:`numpy.random.SeedSequence` built from
``(version, seed, n_events, days, start)``: the same arguments give the same table, byte
for byte, whatever ``PYTHONHASHSEED`` is.

Sizes: one full set of campaigns and traps per 400k events
(``n_sets = max(1, round(n_events / 400_000))``); below 400k events the episode counts
scale by ``sqrt(n_events / 400k)`` (at least 6 episodes) and the trap sizes by
``n_events / 400k``, so that the organic background stays the bulk of a small world.

Modules: ``events`` (parts, kinds, units), ``catalog`` (targets and their popularity),
``text`` (vocabulary and posts), ``organic`` (background activity, daily rhythm,
sessions), ``planted`` (bookkeeping shared by campaigns and traps), ``campaigns`` (the
planted styles), ``traps`` (organic look-alikes), ``ids`` (id strings), ``world``
(assembly and truth) and ``output`` (writing files).
"""

from cib_detect.synthetic.campaigns import STYLES
from cib_detect.synthetic.output import truth_path_for, write_world
from cib_detect.synthetic.traps import ARCHETYPES
from cib_detect.synthetic.world import GENERATOR_VERSION, MIN_EVENTS, World, generate_world

__all__ = [
    "ARCHETYPES",
    "GENERATOR_VERSION",
    "MIN_EVENTS",
    "STYLES",
    "World",
    "generate_world",
    "truth_path_for",
    "write_world",
]
