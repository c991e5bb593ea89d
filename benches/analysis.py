"""The analysis benchmark's peer: pandas + scipy computing the results table of `benches/analysis.rs` from the same
SQLite database, the way a data scientist would: load the exposures, orders and events into data frames, then
per metric build each unit's value in its window after first exposure and compare treatment with control.

Statistics as gbstats computes them (and intentlab claims to): Welch's t-test on the relative lift with the
delta-method variance, Welch–Satterthwaite degrees of freedom, binomial variance p(1 - p) for conversions, the
delta method for the ratio metric (AOV), capping at the 99th percentile of the non-zero values (numpy's linear
interpolation). Two-sided, alpha 0.05, no CUPED.

Usage: python benches/analysis.py <database.db> <experiment key>   (prints JSON on standard output)
"""

import json
import sqlite3
import sys
import time

import numpy as np
import pandas as pd
from scipy import stats

DAY = 86400
ALPHA = 0.05


def load(path, experiment):
    conn = sqlite3.connect(path)
    (experiment_id,) = conn.execute("SELECT id FROM experiments WHERE key = ?", (experiment,)).fetchone()
    units = pd.read_sql_query(
        "SELECT i.profile_id AS profile, e.variation_index AS variation, "
        "CAST(strftime('%s', e.first_exposed_at) AS INTEGER) AS exposed "
        "FROM exposures e JOIN identities i ON i.id = e.unit_id WHERE e.experiment_id = ?",
        conn,
        params=(experiment_id,),
    )
    orders = pd.read_sql_query(
        "SELECT profile_id AS profile, CAST(strftime('%s', at) AS INTEGER) AS at, revenue FROM orders", conn
    )
    events = pd.read_sql_query(
        "SELECT profile_id AS profile, event, CAST(strftime('%s', timestamp) AS INTEGER) AS at, "
        "json_extract(properties, '$.percent') AS percent FROM events WHERE type IN ('track', 'page', 'screen')",
        conn,
    )
    conn.close()
    return units, orders, events


def per_unit(units, rows, days, value):
    """Each unit's aggregate of `rows` (profile, at, ...) inside [exposed, exposed + days)."""
    joined = rows.merge(units[["profile", "exposed"]], on="profile")
    delta = joined["at"] - joined["exposed"]
    inside = joined[(delta >= 0) & (delta < days * DAY)]
    aggregated = value(inside.groupby("profile"))
    return aggregated.reindex(units["profile"]).fillna(0).to_numpy()


def cap(values):
    nonzero = values[values != 0]
    return np.minimum(values, np.quantile(nonzero, 0.99)) if len(nonzero) else values


def welch(a, b):
    """Relative lift of b over a; a and b are (n, mean, variance)."""
    (na, ma, va), (nb, mb, vb) = a, b
    estimate = (mb - ma) / ma
    stddev = np.sqrt(vb / (ma**2 * nb) + va * mb**2 / (ma**4 * na))
    dof = (va / na + vb / nb) ** 2 / ((va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1))
    width = stats.t.ppf(1 - ALPHA / 2, dof) * stddev
    p_value = 2 * stats.t.sf(abs(estimate / stddev), dof)
    return {"estimate": estimate, "ci_low": estimate - width, "ci_high": estimate + width, "p_value": p_value}


def summary(kind, x, d=None):
    n = len(x)
    if kind == "conversion":
        p = x.mean()
        return n, p, p * (1 - p)
    if kind == "mean":
        return n, x.mean(), x.var(ddof=1)
    mx, md = x.mean(), d.mean()
    ratio = x.sum() / d.sum()
    covariance = np.cov(x, d, ddof=1)[0, 1]
    variance = x.var(ddof=1) / md**2 - 2 * covariance * mx / md**3 + mx**2 * d.var(ddof=1) / md**4
    return n, ratio, variance


def table(kind, variation, x, d=None):
    rows = []
    summaries = [summary(kind, x[variation == v], None if d is None else d[variation == v]) for v in (0, 1)]
    for v, (n, value, _) in enumerate(summaries):
        row = {"units": n, "value": value}
        if v > 0:
            row.update(welch(summaries[0], summaries[v]))
        rows.append(row)
    return rows


def analyse(units, orders, events):
    variation = units["variation"].to_numpy()
    count = lambda g: g.size()
    revenue = lambda g: g["revenue"].sum()
    orders_14 = per_unit(units, orders, 14, count)
    revenue_14 = per_unit(units, orders, 14, revenue)
    orders_30 = per_unit(units, orders, 30, count)
    revenue_30 = per_unit(units, orders, 30, revenue)
    watched = events[(events["event"] == "Video Watched") & (events["percent"] >= 75)]
    video = per_unit(units, watched, 14, count)
    return {
        "purchase": table("conversion", variation, (orders_14 >= 1).astype(float)),
        "revenue": table("mean", variation, cap(revenue_14)),
        "orders": table("mean", variation, orders_14),
        "aov": table("ratio", variation, cap(revenue_14), orders_14),
        "video-75": table("conversion", variation, (video >= 1).astype(float)),
        "repeat-purchase": table("conversion", variation, (orders_30 >= 2).astype(float)),
        "ltv-30": table("mean", variation, cap(revenue_30)),
    }


def main():
    path, experiment = sys.argv[1], sys.argv[2]
    started = time.perf_counter()
    frames = load(path, experiment)
    loaded = time.perf_counter()
    timings = []
    for _ in range(3):
        begin = time.perf_counter()
        metrics = analyse(*frames)
        timings.append(time.perf_counter() - begin)
    print(
        json.dumps(
            {
                "load_seconds": loaded - started,
                "compute_seconds": min(timings),
                "metrics": metrics,
                "versions": {"pandas": pd.__version__, "numpy": np.__version__, "scipy": __import__("scipy").__version__},
            },
            default=float,
        )
    )


if __name__ == "__main__":
    main()
