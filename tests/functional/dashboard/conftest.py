"""The dashboard tests' fixtures, defined in dashboard_harness.py with the helpers the test
modules import from there (every conftest.py of the suite is a module named ``conftest``:
importing one by that name finds whichever was loaded first)."""

from dashboard_harness import (  # noqa: F401
    attacker,
    board,
    browser,
    controller,
    dashboard,
    standin,
)
