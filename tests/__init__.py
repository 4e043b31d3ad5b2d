"""TierLab's test suite (a regular package: a dependency, ppi-python, installs a top-level ``tests`` package that would
otherwise shadow ``tests.servers`` and the other support modules)."""
