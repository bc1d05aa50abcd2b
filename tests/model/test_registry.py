"""The family registry: names, aliases, lazy loading, every family importable and consistent."""

from __future__ import annotations

import pytest

from perfdeck.model.collector import Collector
from perfdeck.model.registry import FAMILIES, create_collectors, family, family_names


def test_core_families_listed() -> None:
    assert {"cpu", "mem", "disk", "net", "sensors", "proc"} <= set(family_names())


@pytest.mark.parametrize("fam", FAMILIES, ids=lambda f: f.name)
def test_every_family_loads_and_matches_its_name(fam: object) -> None:
    cls = fam.load()  # type: ignore[attr-defined]
    assert issubclass(cls, Collector)
    assert cls.family == fam.name  # type: ignore[attr-defined]  # the registry name is the id prefix


def test_aliases_and_unknown_names() -> None:
    assert family("memory").name == "mem"
    assert family("network").name == "net"
    assert family("processes").name == "proc"
    with pytest.raises(KeyError, match="known families: cpu"):
        family("fpga")  # not a family (gpu became one)


def test_create_collectors_in_registry_order() -> None:
    collectors = create_collectors(["proc", "cpu", "memory"])
    assert [c.family for c in collectors] == ["cpu", "mem", "proc"]
    assert len(create_collectors()) == len(FAMILIES)
