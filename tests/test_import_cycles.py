"""No two of rosey's modules import each other, directly or through others.

The layers, the independence of wire and storage and the bot's ban on socket and SQL code are
import-linter contracts (.importlinter, run by `lint-imports` in CI). Its cycle contract compares
siblings, so it cannot see a package that imports a module which imports the package back; this
test checks every module against every other. Imports under TYPE_CHECKING count.
"""

from __future__ import annotations

import grimp

# One import of each cycle that is known today; remove the entry with the cycle (the test fails
# while an entry names an import that no longer exists).
KNOWN: set[tuple[str, str]] = set()


def imports_on_a_cycle(graph: grimp.ImportGraph) -> list[tuple[str, str]]:
    """Every direct import whose target leads back to its importer."""
    return sorted(
        (importer, imported)
        for importer in graph.modules
        for imported in graph.find_modules_directly_imported_by(importer)
        if graph.chain_exists(importer=imported, imported=importer)
    )


def test_no_module_imports_itself_through_others() -> None:
    graph = grimp.build_graph("rosey", exclude_type_checking_imports=False, cache_dir=None)
    for importer, imported in sorted(KNOWN):
        assert graph.direct_import_exists(importer=importer, imported=imported), (
            f"{importer} -> {imported} is gone: delete it from KNOWN"
        )
        graph.remove_import(importer=importer, imported=imported)
    assert imports_on_a_cycle(graph) == []


def test_the_check_sees_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for module in ("rosey", "rosey.a", "rosey.b", "rosey.c"):
        graph.add_module(module)
    graph.add_import(importer="rosey", imported="rosey.a")
    graph.add_import(importer="rosey.a", imported="rosey.b")
    graph.add_import(importer="rosey.b", imported="rosey")
    graph.add_import(importer="rosey.c", imported="rosey.a")
    assert imports_on_a_cycle(graph) == [
        ("rosey", "rosey.a"),
        ("rosey.a", "rosey.b"),
        ("rosey.b", "rosey"),
    ]
