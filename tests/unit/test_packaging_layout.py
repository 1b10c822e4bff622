"""The wheel's package list covers the source tree: every directory with an ``__init__.py``
under agent/, server/, graph/ and collectors/ installs as ``cmdb.<path>``, and nothing else
does (a package missing from pyproject.toml would be left out of ``pip install cmdb``)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_pyproject_lists_every_package_under_the_cmdb_namespace():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping = config["package-dir"]
    assert mapping == {f"cmdb.{d}": d for d in ("agent", "server", "graph", "collectors")}
    in_tree = {
        "cmdb." + ".".join(init.parent.relative_to(ROOT).parts)
        for top in mapping.values()
        for init in (ROOT / top).rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert set(config["packages"]) == in_tree


def test_the_namespace_is_what_gets_imported():
    import cmdb.graph.schema
    import cmdb.server.cli

    assert Path(cmdb.server.cli.__file__).is_relative_to(ROOT / "server")
    assert Path(cmdb.graph.schema.__file__).is_relative_to(ROOT / "graph")
