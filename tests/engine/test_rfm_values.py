"""RFM scores and cells against a plain pandas computation on the store's export."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from purchase_log import Row, at_day, generated, import_rows

import parcours
from parcours.errors import BadRequest
from parcours.segments.rfm import rfm

AS_OF = dt.date(2026, 8, 20)

# The R x F map as published in RFM notebooks (regular expressions on "RF"), lowest corner
# `lost`; written out here independently of parcours.segments.rfm.CELLS.
MAP = [
    (r"[1-2][1-2]", "hibernating"),
    (r"[1-2][3-4]", "at risk"),
    (r"[1-2]5", "can't lose them"),
    (r"3[1-2]", "about to sleep"),
    (r"33", "need attention"),
    (r"[3-4][4-5]", "loyal customers"),
    (r"41", "promising"),
    (r"51", "new customers"),
    (r"[4-5][2-3]", "potential loyalists"),
    (r"5[4-5]", "champions"),
]


def pandas_rfm(export: Path, as_of: dt.date, bins: int = 5) -> pd.DataFrame:
    """Recency (days from the last purchase's UTC date to as_of), frequency, monetary (exact
    decimal sums); boundary j = the sorted values' ceil(j*n/bins)-th; F and M = 1 + boundaries
    below the value, R = bins - boundaries below the days; cells from the R x F map."""
    events = pd.read_parquet(export)
    end = pd.Timestamp(as_of + dt.timedelta(days=1), tz="UTC")
    buys = events[(events["name"] == "Order Completed") & (events["occurred_at"] < end)]
    per = buys.groupby("customer_id").agg(
        last=("occurred_at", "max"),
        frequency=("occurred_at", "size"),
        monetary=(
            "amount",
            lambda a: float(sum((Decimal(x) for x in a if x is not None), Decimal(0))),
        ),
    )
    per["recency_days"] = per["last"].map(lambda t: (as_of - t.date()).days)
    n = len(per)
    for measure, column in (("recency_days", "r"), ("frequency", "f"), ("monetary", "m")):
        ordered = sorted(per[measure])
        bounds = [ordered[math.ceil(j * n / bins) - 1] for j in range(1, bins)]
        above = per[measure].map(lambda v, b=bounds: sum(v > x for x in b))
        per[column] = bins - above if column == "r" else 1 + above
    rf = per["r"].astype(str) + per["f"].astype(str)
    per["cell"] = ""
    for pattern, name in MAP:
        per.loc[rf.str.fullmatch(pattern), "cell"] = name
    per.loc[rf == "11", "cell"] = "lost"
    return per


@pytest.fixture
def shop(p: parcours.Parcours, tmp_path: Path) -> parcours.Parcours:
    import_rows(p, tmp_path, generated())
    return p


def stored_rfm(p: parcours.Parcours) -> pd.DataFrame:
    return (
        p.sql(
            "SELECT customer_id, CAST(value AS INT) AS value, label, "
            "CAST(details->>'r' AS INT) AS r, CAST(details->>'f' AS INT) AS f, "
            "CAST(details->>'m' AS INT) AS m, "
            "CAST(details->>'recency_days' AS INT) AS recency_days, "
            "CAST(details->>'frequency' AS INT) AS frequency, "
            "CAST(details->>'monetary' AS DOUBLE) AS monetary "
            "FROM customer_scores WHERE score = 'rfm' ORDER BY customer_id"
        )
        .to_pandas()
        .set_index("customer_id")
    )


def test_rfm_scores_and_cells_equal_pandas_on_the_export(
    shop: parcours.Parcours, tmp_path: Path
) -> None:
    result = rfm(shop.store, as_of=AS_OF)
    shop.export(tmp_path / "export.parquet")
    expected = pandas_rfm(tmp_path / "export.parquet", AS_OF)
    stored = stored_rfm(shop)
    assert list(stored.index) == sorted(expected.index)
    expected = expected.loc[stored.index]
    for column in ("recency_days", "frequency", "monetary", "r", "f", "m"):
        assert stored[column].tolist() == expected[column].tolist(), column
    assert stored["label"].tolist() == expected["cell"].tolist()
    assert (
        stored["value"].tolist()
        == (expected["r"] * 100 + expected["f"] * 10 + expected["m"]).tolist()
    )
    # the log has ties (few prices, equal counts): equal values score alike
    assert expected.groupby("monetary")["m"].nunique().max() == 1
    assert expected["monetary"].duplicated().any()
    # the cells and the R x F grid count the same customers and money
    cells = expected.groupby("cell").agg(customers=("cell", "size"), monetary=("monetary", "sum"))
    for cell in result.cells:
        want = cells.loc[cell["name"]] if cell["name"] in cells.index else None
        assert cell["customers"] == (0 if want is None else want["customers"])
        assert cell["monetary"] == pytest.approx(0 if want is None else want["monetary"], abs=0.01)
    grid = expected.groupby(["r", "f"]).size()
    assert {(g["r"], g["f"]): g["customers"] for g in result.grid if g["customers"]} == {
        key: int(n) for key, n in grid.items()
    }
    assert len(result.grid) == 25 and sum(c["customers"] for c in result.cells) == len(expected)


def test_rfm_in_other_bins_equals_pandas(shop: parcours.Parcours, tmp_path: Path) -> None:
    rfm(shop.store, as_of=AS_OF, bins=3)
    shop.export(tmp_path / "export.parquet")
    expected = pandas_rfm(tmp_path / "export.parquet", AS_OF, bins=3)
    stored = stored_rfm(shop)
    for column in ("r", "f", "m"):
        assert stored[column].tolist() == expected.loc[stored.index, column].tolist()


def test_touched_customers_are_scored_against_the_saved_boundaries(
    shop: parcours.Parcours, tmp_path: Path
) -> None:
    """After new purchases, scoring only the touched customers uses the boundaries of the last
    full run: each touched customer's scores are what those boundaries give their new values,
    and nobody else's score moves."""
    first = rfm(shop.store, as_of=AS_OF)
    before = stored_rfm(shop)
    extra = [Row("u0002", at_day(228), "Order Completed", amount="250") for _ in range(3)]
    import_rows(shop, tmp_path, extra, source="more")
    touched = "SELECT customer_id FROM identity_map WHERE value = 'u0002'"
    again = rfm(shop.store, as_of=AS_OF, customers=touched)
    assert again.boundaries == first.boundaries and again.customers == 1
    after = stored_rfm(shop)
    before = before.reindex(after.index)
    changed = [c for c in after.index if not after.loc[c].equals(before.loc[c])]
    (customer,) = shop.sql(touched).to_pydict()["customer_id"]
    assert changed == [customer]
    row = after.loc[customer]
    bounds = first.boundaries
    assert row["r"] == 5 - sum(row["recency_days"] > b for b in bounds["recency_days"])
    assert row["f"] == 1 + sum(row["frequency"] > b for b in bounds["frequency"])
    assert row["m"] == 1 + sum(row["monetary"] > b for b in bounds["monetary"])
    assert row["recency_days"] == (AS_OF - at_day(228).date()).days


def test_touched_customers_without_a_full_run_are_refused(shop: parcours.Parcours) -> None:
    with pytest.raises(BadRequest, match="run a full RFM first"):
        rfm(shop.store, customers="SELECT 'x' AS customer_id")
