"""Scenario tests use the run-wide ``bundle`` and ``bundle_dir`` fixtures of tests/conftest.py."""
