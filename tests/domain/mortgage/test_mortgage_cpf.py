"""CPF Valuation and Withdrawal Limits (FACTS A.7)."""

from __future__ import annotations

import pytest

from aibroker.domain.mortgage import cpf_limits


def test_bank_loan_wl_is_120pct_of_vl() -> None:
    # VL = min(1,000,000, 950,000) = 950,000; WL = 120 % × 950,000 = 1,140,000
    result = cpf_limits(1_000_000, 950_000, "bank")
    assert (result.valuation_limit, result.withdrawal_limit, result.withdrawal_limit_pct) == (
        950_000, 1_140_000, 120)
    assert {"cpf_valuation_limit", "cpf_withdrawal_limit_bank"} <= {c.key for c in result.facts}


def test_valuation_above_price_and_missing_valuation() -> None:
    assert cpf_limits(800_000, 850_000).valuation_limit == 800_000
    missing = cpf_limits(800_000)
    assert missing.valuation_limit == 800_000 and missing.withdrawal_limit == 960_000
    assert any("No valuation" in n for n in missing.notes)


def test_hdb_loan_resale_and_bto() -> None:
    resale = cpf_limits(500_000, 480_000, "hdb")
    assert resale.withdrawal_limit == 480_000 and resale.withdrawal_limit_pct == 100
    assert all(c.confidence == "M" for c in resale.facts if c.key == "cpf_withdrawal_limit_hdb_resale")
    bto = cpf_limits(400_000, loan_kind="hdb", hdb_bto=True)
    assert bto.valuation_limit is None and bto.withdrawal_limit is None


def test_edge_cases_are_flagged_for_a_human() -> None:
    assert any("age 95" in n for n in cpf_limits(1_000_000).notes)


@pytest.mark.parametrize(("price", "valuation", "kind"), [(-1, None, "bank"), (1, 0, "bank"), (1, 1, "cash")])
def test_rejections(price: int, valuation: int | None, kind: str) -> None:
    with pytest.raises(ValueError):
        cpf_limits(price, valuation, kind)  # type: ignore[arg-type]
