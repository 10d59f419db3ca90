from __future__ import annotations

import os

from hypothesis import settings

# The property tests explore the same examples on every run, so a CI result can be
# reproduced here; run with HYPOTHESIS_PROFILE=explore to search new ground.
settings.register_profile("sandbox", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("explore", deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "sandbox"))
