"""Reading tens of thousands of rows into Python at once."""

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def cycle_collection_paused() -> Iterator[None]:
    """Reading thousands of rows makes hundreds of thousands of small objects without cycles
    (reference counting frees them); the cyclic collector, triggered by the allocations, walks
    the whole heap again and again meanwhile: half of "who is on call for 10,000 projects", a
    fifth of a root system's impact (measured with and without). Process-wide while it lasts,
    so kept to the read."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
