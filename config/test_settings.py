"""Settings for pytest: the same settings module, read with FRESHLOOP_ENV=test.

pytest-django imports settings before any conftest runs, so the environment has to be set
here rather than in a fixture.
"""

import os

os.environ["FRESHLOOP_ENV"] = "test"

from config.settings import *  # noqa: F403
