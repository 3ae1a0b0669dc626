"""How often Python's cyclic garbage collector runs: set once per process, from settings.

Scoring allocates a few dozen container objects per event (the parsed event, state dicts,
outputs) and almost none of them end up in reference cycles: reference counting frees
them.  At Python's default pace a young-generation collection runs every 700 net
allocations, a few times per event, and each one walks every young object still alive,
the batch's states and outputs included.  Measured on the scoring floor (`make bench`
step 0) that walk was about a third of the CPU per event and freed almost nothing.

Objects alive at startup (modules, the app, the schemas) are frozen out of the collector's
walks altogether.  Garbage that does form cycles is still collected, only in larger steps.
"""

from __future__ import annotations

import gc


def pace_collector(young_threshold: int) -> None:
    """Freeze what exists now, and collect the young generation every ``young_threshold``
    net allocations of container objects (the older generations keep their ratios)."""
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(young_threshold, middle, old)
