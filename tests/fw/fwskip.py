# SPDX-License-Identifier: GPL-2.0-or-later
"""The one way a firmware-level test skips.

`make check` runs this layer strictly (VMM_REQUIRE_REAL=1): there, a test
that would skip fails instead, so a skip "when stderr mentions /dev/kvm" or
"unless root" cannot pass silently where the layer is meant to run."""
import os

import pytest


def strict():
    return os.environ.get("VMM_REQUIRE_REAL") == "1"


def unavailable(reason):
    """Skip the calling test, or fail it under the strict flag."""
    if strict():
        pytest.fail("firmware-level test cannot run, and VMM_REQUIRE_REAL=1: %s" % reason,
                    pytrace=False)
    pytest.skip(reason)
