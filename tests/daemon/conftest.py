"""Fixtures of this test package: ``dropin`` (a plugin drop-in directory)."""

from tests.dropin import dropin

__all__ = ["dropin"]
