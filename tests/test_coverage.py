"""Every market has a coverage map; every rule it names exists and runs there; every rule a
market enables is mapped to a requirement."""

from __future__ import annotations

import pytest

from compliance.coverage import coverage_dir, load_coverage
from compliance.packs import SHARED_CODES, load_packs, shipped_pack_dir

PACKS = load_packs()
MAPS = sorted(coverage_dir(shipped_pack_dir()).glob("*.yaml"))


@pytest.mark.parametrize("path", MAPS, ids=lambda p: p.stem)
def test_coverage_map_names_rules_that_run_in_its_market(path):
    coverage = load_coverage(path)
    assert path.stem.upper() == coverage.market
    market = PACKS.markets.get(coverage.market)
    generic = {r.id for r in PACKS.generic_rules()}
    enabled = set(market.rules) if market is not None else set()
    for requirement in coverage.requirements:
        for rule_id in requirement.rules:
            assert rule_id in PACKS.rules, (path.name, rule_id)
            assert rule_id in enabled | generic or coverage.market in SHARED_CODES, (
                path.name,
                rule_id,
            )
        if requirement.gate is not None and market is not None:
            assert getattr(market.parameters, requirement.gate) not in (None, []), (
                path.name,
                requirement.gate,
            )


@pytest.mark.parametrize("code", sorted(PACKS.markets), ids=str)
def test_every_market_rule_is_mapped(code):
    path = coverage_dir(shipped_pack_dir()) / f"{code.lower()}.yaml"
    assert path.is_file(), f"market {code} has no coverage map at {path}"
    mapped = {rule for r in load_coverage(path).requirements for rule in r.rules}
    assert set(PACKS.markets[code].rules) <= mapped, set(PACKS.markets[code].rules) - mapped
