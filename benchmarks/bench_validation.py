"""Benchmark of step 3: 2,000 SQL through the validator vs a sequential one-connection baseline.

The data is built here: a realistic mix of question-SQL answers over the bundled demo database
(highway service areas): counts and group-bys over enum columns, top-N over measures, monthly
trends, joins along foreign keys (2-4 tables, the composite and self-referencing ones too),
CTEs, window functions, FILTER, EXISTS, Chinese literals; about 10 % invalid (unknown column or
table, syntax and type errors, GROUP BY mistakes, two statements in one string) and about 5 %
exact duplicates, as LLM output has.

* **ours**: ``SQLValidator`` at ``explain`` level with the default concurrency
  (``VALIDATION_MAX_CONCURRENCY``, 4): lexical guard + sqlglot only when needed, duplicates
  checked once, pooled connections set up once, one round trip per SQL.
* **baseline**: what the reference did per SQL, sequentially on one connection: a read-only
  transaction per SQL (``BEGIN READ ONLY``; ``SET LOCAL statement_timeout``;
  ``EXPLAIN <sql>``; ``ROLLBACK``), no static check (so it sends several statements in one
  string when the SQL has them — safe here only because the transaction is read-only).

Both run in the same process against the same server, alternately (who goes first alternates
too), best of ``--rounds`` (default 5); the median of the per-round ratios is printed as well,
as other work on the machine makes single rounds noisy.
Usage: ``python benchmarks/bench_validation.py [--dsn ADMIN_DSN] [--count 2000]``. Without
``--dsn`` an embedded PostgreSQL is started in a temporary folder; with it, the demo database
is created on that server if missing (nothing else is written). Ends with one line
``SUMMARY {json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg2

from app_config import Config
from core.demo_db import ensure_demo_database
from data_pipeline.sql_validation.sql_validator import SQLValidator

CITIES = ["南昌", "九江", "赣州", "上饶", "吉安", "宜春", "抚州", "萍乡", "景德镇", "鹰潭"]
REGIONS = ["赣北", "赣中", "赣南", "赣东", "赣西"]
PAYMENTS = ["wechat", "alipay", "cash", "bank_card"]
VEHICLES = ["passenger_car", "bus", "truck", "dangerous_goods"]
STATUSES = ["operating", "renovating", "closed"]
CATEGORIES = ["餐饮", "零售", "能源", "汽车服务"]


def _date(rng: random.Random) -> str:
    return f"2024-{rng.randint(1, 6):02d}-{rng.randint(1, 28):02d}"


def _valid_sql(rng: random.Random) -> str:
    n, k = rng.randint(3, 500), rng.randint(0, 4000)
    d1, d2 = sorted([_date(rng), _date(rng)])
    city, region, pm = rng.choice(CITIES), rng.choice(REGIONS), rng.choice(PAYMENTS)
    vt, st, cat = rng.choice(VEHICLES), rng.choice(STATUSES), rng.choice(CATEGORIES)
    templates = [
        f"SELECT status, COUNT(*) AS area_count FROM service_area WHERE parking_spaces > {k} GROUP BY status ORDER BY area_count DESC",
        f"SELECT s.stall_name, SUM(dr.revenue_amount) AS revenue FROM daily_revenue dr JOIN stall s ON s.stall_id = dr.stall_id WHERE dr.biz_date BETWEEN DATE '{d1}' AND DATE '{d2}' GROUP BY s.stall_name ORDER BY revenue DESC LIMIT {n}",
        f"SELECT date_trunc('month', biz_date) AS month, SUM(revenue_amount) AS revenue, SUM(order_count) AS orders FROM daily_revenue WHERE payment_method = '{pm}' AND order_count > {k // 10} GROUP BY 1 ORDER BY 1",
        f"SELECT oc.company_name, sa.area_name, SUM(dr.revenue_amount - dr.refund_amount) AS net FROM operating_company oc JOIN service_area sa ON sa.company_id = oc.company_id JOIN stall s ON s.area_id = sa.area_id JOIN daily_revenue dr ON dr.stall_id = s.stall_id WHERE oc.region = '{region}' AND dr.biz_date >= DATE '{d1}' GROUP BY oc.company_name, sa.area_name ORDER BY net DESC LIMIT {n}",
        f"SELECT area_name, city, parking_spaces FROM service_area WHERE city = '{city}' AND status = '{st}' AND parking_spaces >= {k // 10} ORDER BY parking_spaces DESC LIMIT {n}",
        f"WITH f AS (SELECT area_id, flow_date, SUM(vehicle_count) AS vehicles FROM vehicle_flow WHERE vehicle_type = '{vt}' GROUP BY area_id, flow_date) SELECT sa.area_name, f.flow_date, AVG(f.vehicles) OVER (PARTITION BY f.area_id ORDER BY f.flow_date ROWS BETWEEN 6 PRECEDING AND CURRENT ROW) AS avg_7d FROM f JOIN service_area sa ON sa.area_id = f.area_id ORDER BY sa.area_name, f.flow_date LIMIT {n * 10}",
        f"SELECT e.full_name, m.full_name AS manager_name, e.position FROM employee e LEFT JOIN employee m ON m.employee_id = e.manager_id WHERE e.monthly_salary > {k * 20} ORDER BY e.monthly_salary DESC LIMIT {n}",
        f"SELECT sc.contract_no, sc.tenant_name, s.stall_name, sc.monthly_rent FROM stall_contract sc JOIN stall s ON s.area_id = sc.area_id AND s.stall_no = sc.stall_no WHERE sc.end_date < DATE '{d2}' ORDER BY sc.monthly_rent DESC LIMIT {n}",
        f"SELECT sa.area_name FROM service_area sa WHERE EXISTS (SELECT 1 FROM stall s JOIN business_type bt ON bt.type_id = s.type_id WHERE s.area_id = sa.area_id AND bt.category = '{cat}' AND s.is_active AND s.floor_area_sqm > {k / 40}) ORDER BY sa.area_name LIMIT {n}",
        f"SELECT bt.category, COUNT(*) FILTER (WHERE s.is_active) AS active_stalls, ROUND(AVG(s.floor_area_sqm), 2) AS avg_area FROM stall s JOIN business_type bt ON bt.type_id = s.type_id GROUP BY bt.category HAVING COUNT(*) > {k // 4}",
        f"SELECT hr.route_name, COUNT(sa.area_id) AS areas, SUM(CASE WHEN sa.has_charging_station THEN 1 ELSE 0 END) AS with_charging FROM highway_route hr LEFT JOIN service_area sa ON sa.route_id = hr.route_id WHERE hr.length_km > {k * 3} GROUP BY hr.route_name ORDER BY areas DESC",
        f"SELECT vehicle_type, SUM(vehicle_count) AS vehicles FROM vehicle_flow WHERE flow_date BETWEEN '{d1}' AND '{d2}' GROUP BY vehicle_type ORDER BY vehicles DESC",
        f"SELECT sa.area_name, SUM(vf.vehicle_count) AS vehicles, SUM(dr.revenue_amount) AS revenue FROM service_area sa JOIN vehicle_flow vf ON vf.area_id = sa.area_id AND vf.flow_date = DATE '{d1}' JOIN stall s ON s.area_id = sa.area_id JOIN daily_revenue dr ON dr.stall_id = s.stall_id AND dr.biz_date = vf.flow_date GROUP BY sa.area_name ORDER BY revenue DESC NULLS LAST LIMIT {n}",
        f"SELECT payment_method, COUNT(DISTINCT stall_id) AS stalls, PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY revenue_amount) AS median_revenue FROM daily_revenue WHERE biz_date >= CURRENT_DATE - INTERVAL '{n} days' OR biz_date >= DATE '{d1}' GROUP BY payment_method",
        f"SELECT area_name, RANK() OVER (ORDER BY land_area_sqm DESC) AS size_rank FROM service_area WHERE area_type = '服务区' AND opened_date < DATE '20{rng.randint(10, 23)}-01-01' LIMIT {n};",
    ]
    return rng.choice(templates)


def _invalid_sql(rng: random.Random) -> str:
    n = rng.randint(3, 5000)
    city = rng.choice(CITIES)
    templates = [
        f"SELECT area_name, revenue FROM service_area WHERE city = '{city}' LIMIT {n}",  # unknown column
        f"SELECT COUNT(*) FROM service_areas WHERE parking_spaces > {n}",  # unknown table
        f"SELECT area_name city FROM service_area WHERE LIMIT {n}",  # syntax
        f"SELECT area_name FROM service_area WHERE area_name > {n}",  # type error
        f"SELECT area_name FROM service_area WHERE status = 'open{n}'",  # bad enum literal
        f"SELECT city, area_name, COUNT(*) FROM service_area GROUP BY city LIMIT {n}",  # grouping
        f"SELECT COUNT(*) FROM stall; SELECT {n}",  # two statements
        f"SELECT s.stall_name, dr.amount FROM stall s JOIN daily_revenue dr ON dr.stall_id = s.stall_id LIMIT {n}",
    ]
    return rng.choice(templates)


def build_workload(count: int, seed: int = 7) -> list[str]:
    """``count`` SQL: ~10 % invalid, ~5 % exact duplicates of earlier ones."""
    rng = random.Random(seed)
    sqls: list[str] = []
    while len(sqls) < count:
        roll = rng.random()
        if sqls and roll < 0.05:
            sqls.append(rng.choice(sqls))
        elif roll < 0.15:
            sqls.append(_invalid_sql(rng))
        else:
            sqls.append(_valid_sql(rng))
    return sqls


def run_ours(dsn: str, sqls: list[str], concurrency: int, timeout_ms: int) -> tuple[float, list]:
    started = time.perf_counter()
    with SQLValidator(
        dsn, max_concurrency=concurrency, statement_timeout_ms=timeout_ms, level="explain"
    ) as validator:
        results = validator.validate_many(sqls)
    return time.perf_counter() - started, [r.valid for r in results]


def run_baseline(dsn: str, sqls: list[str], timeout_ms: int) -> tuple[float, list]:
    started = time.perf_counter()
    conn = psycopg2.connect(dsn)
    conn.set_session(readonly=True)
    verdicts = []
    try:
        for sql in sqls:
            try:
                with conn.cursor() as cur:
                    cur.execute(f"SET LOCAL statement_timeout = {int(timeout_ms)}")
                    cur.execute(f"EXPLAIN {sql}")
                    cur.fetchall()
                verdicts.append(True)
            except psycopg2.Error:
                verdicts.append(False)
            finally:
                conn.rollback()
    finally:
        conn.close()
    return time.perf_counter() - started, verdicts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", help="admin DSN of a PostgreSQL server (default: embedded)")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=Config().validation_max_concurrency)
    args = parser.parse_args(argv)
    timeout_ms = Config().validation_statement_timeout_ms

    from core.embedded_pg import scratch_server

    with scratch_server(args.dsn, prefix="bench-validation-") as (admin, _):
        dsn = ensure_demo_database(admin)
        sqls = build_workload(args.count)
        print(f"workload: {len(sqls)} SQL, {len(set(sqls))} distinct, on the demo database")
        # Warm the server's catalog caches for both contenders alike.
        run_baseline(dsn, sqls[:200], timeout_ms)
        best_ours = best_base = float("inf")
        ours_v = base_v = None
        ratios = []
        for r in range(1, args.rounds + 1):
            # Alternate who goes first, so a burst of load elsewhere does not favour one side.
            if r % 2:
                t_ours, ours_v = run_ours(dsn, sqls, args.concurrency, timeout_ms)
                t_base, base_v = run_baseline(dsn, sqls, timeout_ms)
            else:
                t_base, base_v = run_baseline(dsn, sqls, timeout_ms)
                t_ours, ours_v = run_ours(dsn, sqls, args.concurrency, timeout_ms)
            best_ours, best_base = min(best_ours, t_ours), min(best_base, t_base)
            ratios.append(t_base / t_ours)
            print(
                f"round {r}: ours {len(sqls) / t_ours:8.0f} SQL/s ({t_ours:.3f} s)   "
                f"baseline {len(sqls) / t_base:8.0f} SQL/s ({t_base:.3f} s)   "
                f"ratio {t_base / t_ours:.2f}"
            )
        # Same verdicts, except where the baseline ran two statements in one string.
        disagree = sum(
            1 for s, a, b in zip(sqls, ours_v, base_v, strict=True) if a != b and ";" not in s
        )
        ours_rate, base_rate = len(sqls) / best_ours, len(sqls) / best_base
        print(f"valid (ours): {sum(ours_v)} / {len(sqls)}; verdicts differing: {disagree}")
        print(f"ours:     {ours_rate:8.0f} SQL/s  (explain level, concurrency {args.concurrency})")
        print(
            f"baseline: {base_rate:8.0f} SQL/s  (one connection, sequential, a read-only "
            "transaction + SET LOCAL statement_timeout + EXPLAIN per SQL)"
        )
        summary = {
            "ours_sql_per_s": round(ours_rate, 1),
            "baseline_sql_per_s": round(base_rate, 1),
            "ratio": round(ours_rate / base_rate, 2),
            "ratio_median_of_rounds": round(statistics.median(ratios), 2),
            "total": len(sqls),
            "distinct": len(set(sqls)),
            "valid": sum(ours_v),
            "verdicts_differing": disagree,
            "concurrency": args.concurrency,
            "cpus": os.cpu_count(),
        }
        print("SUMMARY " + json.dumps(summary))
        return 0


if __name__ == "__main__":
    sys.exit(main())
