"""Package list for setuptools (the metadata is in pyproject.toml).

``migrations/`` stays at the repository's top level (where the plain ``alembic`` command finds
it) and ships inside the installed package as ``rosey.migrations``, so an installed rosey can
migrate its own database. ``twisted/plugins`` has no ``__init__.py`` on purpose: it is Twisted's
namespace for dropins.
"""

from setuptools import find_namespace_packages, setup

setup(
    packages=[
        *find_namespace_packages(include=["rosey", "rosey.*", "twisted.plugins"]),
        "rosey.migrations",
        "rosey.migrations.versions",
    ],
    package_dir={"rosey.migrations": "migrations"},
)
