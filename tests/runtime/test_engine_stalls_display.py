"""The display ring takes its memory's page faults when it is built, not while streaming.

NumPy asks for transparent huge pages for arrays over 4 MB; the first write into each 2 MB
page of an untouched ring had the kernel clear the page inside one chunk of the engine
thread (18-25 ms, issue 16). Counted with the kernel's per-thread page-fault counter, not
timed.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from emgfeedback.runtime.display import DisplayRing

resource = pytest.importorskip("resource")


@pytest.mark.skipif(not sys.platform.startswith("linux") or
                    not hasattr(resource, "RUSAGE_THREAD"),
                    reason="per-thread page-fault counts (Linux)")
def test_filling_a_new_display_ring_takes_no_page_faults():
    n_channels, capacity = 8, 60_000  # 30 s at 2 kHz: 7.7 MB of float64
    ring = DisplayRing(n_channels, capacity)
    filtered = np.ones((16, n_channels))
    envelope = np.full((16, n_channels), 2.0)
    ring.write(0, filtered, envelope, 0.0)  # the first write's own small allocations

    def faults() -> int:
        return resource.getrusage(resource.RUSAGE_THREAD).ru_minflt

    before = faults()
    for k in range(1, capacity // 16):
        ring.write(16 * k, filtered, envelope, 0.0)
    taken = faults() - before
    # An untouched ring takes one fault per 4 KiB page first written (about 2,000 here, or
    # a few huge-page faults of 2 MB each plus the 4 KiB pages around them).
    assert taken < 20
    block = ring.read_since(None)
    assert block.first_index == 0 and len(block.filtered_uv) == capacity - capacity % 16
    np.testing.assert_array_equal(block.envelope_uv[-1], 2.0)
