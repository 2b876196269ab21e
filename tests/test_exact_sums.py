"""Exact sums: a batch's summary is the same, bit for bit, for any chunk size, worker count
or order; the sums are exact (checked against fractions); old aggregates still load."""

from __future__ import annotations

import base64
import io
import json
import math
import random
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import sim
from sim.batch import exact
from sim.batch.aggregate import Aggregate, summarise
from sim.batch.exact import SQUARE_SCALE, SUM_SCALE
from sim.results.summary import Summary

RUNS, SEED = 3000, 7


@pytest.fixture(scope="module")
def bryansk():
    from conftest import ROOT

    return sim.load_scenario(ROOT / "scenarios" / "bryansk_atacms_2024.yaml")


def _text(summary: Summary) -> str:
    return json.dumps(summary.as_dict(), sort_keys=True)


# --- 1. the Bryansk base case: one summary for every chunking and worker count ----------

def test_bryansk_summary_is_bit_identical_for_chunk_sizes_and_workers(bryansk, tmp_path):
    """Chunks of 188 and 375 runs are the defaults of two workers and one (3,000 runs);
    before the sums were exact, mean_end_time and metric sds differed in the last digits."""
    texts = {}
    for size in (188, 375, 1000, 3000):
        res = sim.run_batch(bryansk, RUNS, SEED, execution=sim.Execution(
            executor="serial", chunk_size=size))
        texts[f"serial, chunks of {size}"] = _text(res.summary)
    files = {}
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        res = sim.run_batch(bryansk, RUNS, SEED, out=out, execution=sim.Execution(
            executor="processes", workers=workers))
        texts[f"{workers} workers"] = _text(res.summary)
        files[workers] = (out / "summary.json").read_bytes()
    assert json.loads((tmp_path / "w1" / "manifest.json").read_text())["chunk_size"] != \
        json.loads((tmp_path / "w2" / "manifest.json").read_text())["chunk_size"]
    assert len(set(texts.values())) == 1, texts.keys()
    assert files[1] == files[2]
    # and the mean is the exact mean of the runs table, rounded once
    table = res.runs_table().to_pandas()
    ends = table.loc[table["error"].isna(), "end_time"]
    assert res.summary.mean_end_time == float(sum(map(Fraction, ends)) / len(ends))


# --- 2. exact summation against fractions ---------------------------------------------

def _mixed(rng: random.Random, n: int) -> list[float]:
    """Doubles of mixed signs and magnitudes: subnormals, the smallest normals, ordinary
    values, integers, near the largest double, zeros of both signs."""
    out = []
    for _ in range(n):
        kind = rng.randrange(7)
        sign = rng.choice((-1.0, 1.0))
        if kind == 0:
            x = rng.randrange(1, 1 << 52) * 5e-324  # subnormal
        elif kind == 1:
            x = math.ldexp(rng.random() + 1.0, rng.randrange(-1022, -1000))
        elif kind == 2:
            x = math.ldexp(rng.random(), rng.randrange(-80, 80))
        elif kind == 3:
            x = float(rng.randrange(0, 1 << 53))
        elif kind == 4:
            x = math.ldexp(rng.random() + 1.0, rng.randrange(1000, 1024))  # up to ~1.8e308
        elif kind == 5:
            x = rng.uniform(0.0, 365.0)
        else:
            x = 0.0
        out.append(sign * x)
    return out


def _fraction_sums(values: list[float]) -> tuple[Fraction, Fraction]:
    fs = [Fraction(v) for v in values]
    return sum(fs, Fraction(0)), sum((f * f for f in fs), Fraction(0))


def _total_of(pieces: list[list[float]]) -> tuple[exact.Total, exact.Total]:
    s: exact.Total = 0
    q: exact.Total = 0
    for piece in pieces:
        (ps, pq), = exact.column_totals(np.asarray(piece, dtype=float).reshape(-1, 1))
        s, q = exact.add_totals(s, ps), exact.add_totals(q, pq)
    return s, q


@pytest.mark.parametrize("seed", range(6))
def test_exact_sums_equal_fraction_sums_in_any_split_and_order(seed):
    rng = random.Random(seed)
    values = _mixed(rng, 1500)
    want_s, want_q = _fraction_sums(values)
    results = set()
    for _ in range(4):
        shuffled = values[:]
        rng.shuffle(shuffled)
        cuts = sorted(rng.sample(range(1, len(values)), rng.randrange(0, 12)))
        pieces = [shuffled[a:b] for a, b in zip([0, *cuts], [*cuts, len(values)], strict=True)]
        s, q = _total_of(pieces)
        assert isinstance(s, int) and isinstance(q, int)
        assert Fraction(s, 1 << SUM_SCALE) == want_s
        assert Fraction(q, 1 << SQUARE_SCALE) == want_q
        results.add((s, q))
    assert len(results) == 1
    # one rounding, correctly: as the fraction rounds (or past the largest double)
    try:
        assert exact.to_float(s, SUM_SCALE) == float(want_s)
    except OverflowError:
        assert math.isinf(exact.to_float(s, SUM_SCALE))
    assert exact.mean_of(s, len(values)) == float(want_s / len(values))


def test_columns_blocks_and_a_float_sum_that_would_overflow(monkeypatch):
    """Several columns at once, and in many small blocks, give each column's own exact
    sums; a column whose float sum overflows still has its exact (finite) sum."""
    rng = random.Random(11)
    cols = [_mixed(rng, 700) for _ in range(3)]
    cols.append([1.7e308, 1.7e308, -1.7e308, 2.5])  # a float sum overflows to inf
    cols[3] += [0.0] * (700 - len(cols[3]))
    matrix = np.asarray(cols, dtype=float).T
    with np.errstate(over="ignore"):
        assert math.isinf(float(np.sum(matrix[:, 3])))
    whole = exact.column_totals(matrix)
    monkeypatch.setattr(exact, "_BLOCK", 7)  # one row per block
    assert exact.column_totals(matrix) == whole
    for j, col in enumerate(cols):
        s, q = _fraction_sums(col)
        assert Fraction(whole[j][0], 1 << SUM_SCALE) == s
        assert Fraction(whole[j][1], 1 << SQUARE_SCALE) == q
    assert exact.to_float(whole[3][0], SUM_SCALE) == 1.7e308 + 2.5


def _correct_sqrt(x: Fraction) -> float:
    """The double nearest sqrt(x), by bracketing with exact squares."""
    k = x.numerator.bit_length() - x.denominator.bit_length()
    k -= k % 2
    r = math.ldexp(math.sqrt(float(x / Fraction(2) ** k)), k // 2)  # near; then bracket
    for _ in range(100):
        lo, hi = math.nextafter(r, 0.0), math.nextafter(r, math.inf)
        if (Fraction(r) + Fraction(hi)) ** 2 / 4 < x:
            r = hi
        elif (Fraction(lo) + Fraction(r)) ** 2 / 4 > x:
            r = lo
        else:
            return r
    raise AssertionError("no convergence")


@pytest.mark.parametrize("scale", [1e-310, 1e-20, 1.0, 365.0, 1e12, 1e150])
def test_sd_is_the_correctly_rounded_root_of_the_exact_variance(scale):
    rng = random.Random(int(math.log2(scale)) + 2000)
    values = [scale * (1000.0 + rng.random()) for _ in range(500)]  # sd far below the mean
    values = [float(v) for v in values]
    (s, q), = exact.column_totals(np.asarray(values).reshape(-1, 1))
    fs, fq = _fraction_sums(values)
    n = len(values)
    variance = (n * fq - fs * fs) / (n * (n - 1))
    assert exact.sd_of(n, s, q) == _correct_sqrt(variance)
    assert exact.sd_of(1, s, q) != exact.sd_of(1, s, q)  # one value: NaN
    assert exact.sd_of(3, 3 << SUM_SCALE, 3 << SQUARE_SCALE) == 0.0  # 1, 1, 1


def test_non_finite_values_give_the_float_result_in_any_order():
    inf, nan = math.inf, math.nan
    for values, want in [([1.0, inf, 2.0], inf), ([-inf, 5.0], -inf), ([inf, 1.0, -inf], nan),
                         ([nan, 1.0], nan)]:
        for order in (values, values[::-1]):
            (s, q), = exact.column_totals(np.asarray(order).reshape(-1, 1))
            assert isinstance(s, float) and (s == want or (math.isnan(s) and math.isnan(want)))
            assert isinstance(q, float) and not math.isfinite(q)
            for split in range(len(order) + 1):
                a, b = _total_of([order[:split], order[split:]])
                assert (a == s) or (math.isnan(a) and math.isnan(s))
                assert isinstance(b, float) and (b == q or (math.isnan(b) and math.isnan(q)))
    assert exact.add_totals(5, inf) == inf and math.isnan(exact.add_totals(-inf, inf))


def test_totals_round_trip_as_text_and_damaged_text_is_refused():
    for total in (0, 1, -1, 12345 << 2000, -(7 << 1100), math.inf, -math.inf):
        assert exact.decode_total(exact.encode_total(total), SUM_SCALE) == total
    assert math.isnan(exact.decode_total(exact.encode_total(math.nan), SUM_SCALE))
    for bad in ("12", "0x", "0xZZ", " 0x1", "0x1_0", "1e5", "0x" + "f" * 1000, None, 5):
        with pytest.raises(ValueError):
            exact.decode_total(bad, SUM_SCALE)  # type: ignore[arg-type]


def test_aggregates_merged_in_any_split_and_order_summarise_alike():
    """Metrics with NaN (left out) and failed runs (left out): the same summary and the
    same stored aggregate for every split, merged in any order."""
    rng = random.Random(5)
    n = 400
    cols = {"run": list(range(n)),
            "error": [None if rng.random() > 0.05 else "boom" for _ in range(n)],
            "outcome": [rng.choice(["a", "b"]) for _ in range(n)],
            "time_to.l0": [0.0] * n,
            "path": ["l0 > a"] * n,
            "end_time": [rng.uniform(0, 10) for _ in range(n)],
            "metric.m": [rng.choice([math.nan, rng.uniform(-1e6, 1e6), rng.random() * 1e-9])
                         for _ in range(n)]}

    def aggregate(cuts: list[int], reverse: bool) -> Aggregate:
        parts = []
        for a, b in zip([0, *cuts], [*cuts, n], strict=True):
            part = Aggregate(["a", "b"], ["l0"], 10.0, ["m"])
            part.add_columns({k: v[a:b] for k, v in cols.items()})
            parts.append(part)
        total = Aggregate(["a", "b"], ["l0"], 10.0, ["m"])
        for part in reversed(parts) if reverse else parts:
            total.merge(part)
        return total

    seen = set()
    for cuts, reverse in [([], False), ([200], False), ([7, 8, 150, 399], True),
                          (list(range(1, n)), False), (list(range(13, n, 13)), True)]:
        agg = aggregate(cuts, reverse)
        s = summarise(agg)
        seen.add((json.dumps(s.as_dict()["metrics"]), s.mean_end_time,
                  agg.end_time_sum, tuple(agg.metric_stats[0].tolist())))
    assert len(seen) == 1
    ok = [i for i in range(n) if cols["error"][i] is None]
    ends = [Fraction(cols["end_time"][i]) for i in ok]
    assert s.mean_end_time == float(sum(ends) / len(ends))
    ms = [Fraction(cols["metric.m"][i]) for i in ok if not math.isnan(cols["metric.m"][i])]
    assert s.metrics["m"].n == len(ms) and s.metrics["m"].mean == float(sum(ms) / len(ms))
    back = Aggregate.loads(agg.dumps())
    assert back.exact and summarise(back).as_dict() == s.as_dict()


# --- 3. aggregates written before exact sums ------------------------------------------

# Aggregate(["a", "b"], ["l0", "l1"], 10.0, ["m"]) of four runs (one failed, one NaN
# metric: end times 3.1, 10.0, 7.3; metric 0.1, 0.7), as dumps() wrote it before exact
# sums (commit c7255d0)
OLD_AGGREGATE = """\
UEsDBC0AAAAIAAAAIQAWrbAc//////////8IABQAbWV0YS5ucHkBABAAPwEAAAAAAADJAAAAAAAAAJ2NMY7CQAxF
2ZZTjKYZkCKU2d0Gii23A9FsgRCKJomjRJqJkWdCQcgpuDB2uMG6sPzf/9Z/Hv72x9PH4rYYTQ2xIrNT5jFYkynT
ICVyfYFUg/Bf5yMwj627AuuV3dpsnalJ/XuWo8YhVRgg6p06a6czpUt94e3hBv5NfS7Y25m3SN0dezZsvskZBEjU
Ve9kmCM09CK/+Gxc56GWMAvo6yJ1AYo4BEaf+eab6dWlVuIj96gf5cSROhGlfE7ySoQ0d5zFLBG56jK9AFBLAwQt
AAAACAAAACEAHU9bTv//////////EgAUAG91dGNvbWVfY291bnRzLm5weQEAEACQAAAAAAAAAEoAAAAAAAAAm+wX
6hsQychQxlCtnpJanFykbqWgbpNpoa6joJ6WX1RSlJgXn1+UkgoSd0vMKU4FihdnJBakAvkaRjqaOgq1ChQALiYG
CGCE0gBQSwMELQAAAAgAAAAhAG/ZvG7//////////xAAFAByZWFjaF9jb3VudHMubnB5AQAQAJAAAAAAAAAASgAA
AAAAAACb7BfqGxDJyFDGUK2eklqcXKRupaBuk2mhrqOgnpZfVFKUmBefX5SSChJ3S8wpTgWKF2ckFqQC+RpGOpo6
CrUKFAAuZgYIYILSAFBLAwQtAAAACAAAACEAEt6ZLP//////////DgAUAHJlYWNoX3plcm8ubnB5AQAQAJAAAAAA
AAAASAAAAAAAAACb7BfqGxDJyFDGUK2eklqcXKRupaBuk2mhrqOgnpZfVFKUmBefX5SSChJ3S8wpTgWKF2ckFqQC
+RpGOpo6CrUKFAAuZgZUAABQSwMELQAAAAgAAAAhAGoeUtj//////////w4AFAByZWFjaF9oaXN0Lm5weQEAEACA
AAEAAAAAALIAAAAAAAAA7dsxDgFRAATQ3eic4nefZAsREUStIxqFSjZ2hUSQXdGIU7gwrqARvNfNVHOBuc8W0/ky
TS7JNRZlva7iKMTxbhCzEDfH6lzlh9WxKspXP8n3dfns621+Kp+51c1CrzPst7NwC+9pNhIAAAAAAAAAAAAAAAAA
AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAD4fumnBwAAAAAAAAAAAAAAAAAAAD/HjxkAAAAAAAAAgH/0AFBLAwQt
AAAACAAAACEAkBpzVP//////////EAAUAG1ldHJpY19zdGF0cy5ucHkBABAAqAAAAAAAAABdAAAAAAAAAJvsF+ob
EMnIUMZQrZ6SWpxcpG6loG6TZqGuo6Cell9UUpSYF59flJIKEndLzClOBYoXZyQWpAL5GoY6CqaaOgq1CmQDLgYI
cJgJBi/t/4PBfftZYP5O+zQweGYPAFBLAwQtAAAACAAAACEA8m5TZf//////////DQAUAG9jY3VwYW5jeS5ucHkB
ABAA4AEAAAAAAABMAAAAAAAAAJvsF+obEMnIUMZQrZ6SWpxcpG6loG6TaaGuo6Cell9UUpSYF59flJIKEndLzClO
BYoXZyQWpAL5GiY6CoaGmjoKtQrkAi6GUUBTAABQSwECLQMtAAAACAAAACEAFq2wHMkAAAA/AQAACAAAAAAAAAAA
AAAAgAEAAAAAbWV0YS5ucHlQSwECLQMtAAAACAAAACEAHU9bTkoAAACQAAAAEgAAAAAAAAAAAAAAgAEDAQAAb3V0
Y29tZV9jb3VudHMubnB5UEsBAi0DLQAAAAgAAAAhAG/ZvG5KAAAAkAAAABAAAAAAAAAAAAAAAIABkQEAAHJlYWNo
X2NvdW50cy5ucHlQSwECLQMtAAAACAAAACEAEt6ZLEgAAACQAAAADgAAAAAAAAAAAAAAgAEdAgAAcmVhY2hfemVy
by5ucHlQSwECLQMtAAAACAAAACEAah5S2LIAAACAAAEADgAAAAAAAAAAAAAAgAGlAgAAcmVhY2hfaGlzdC5ucHlQ
SwECLQMtAAAACAAAACEAkBpzVF0AAACoAAAAEAAAAAAAAAAAAAAAgAGXAwAAbWV0cmljX3N0YXRzLm5weVBLAQIt
Ay0AAAAIAAAAIQDyblNlTAAAAOABAAANAAAAAAAAAAAAAACAATYEAABvY2N1cGFuY3kubnB5UEsFBgAAAAAHAAcA
pQEAAMEEAAAAAA==
"""


def test_an_aggregate_written_before_exact_sums_loads_with_its_float_sums():
    old = Aggregate.loads(base64.b64decode(OLD_AGGREGATE))
    assert not old.exact and old.runs == 3 and old.failed == 1
    s = summarise(old)
    assert s.mean_end_time == (3.1 + 10.0 + 7.3) / 3  # its float sum, as before
    m = s.metrics["m"]
    assert (m.n, m.mean, m.min, m.max) == (2, (0.1 + 0.7) / 2, 0.1, 0.7)
    assert m.sd == pytest.approx(math.sqrt(0.18), rel=1e-12)
    # merged with new chunks it stays on float sums (no exact sum to add to), and
    # stores none: a resumed folder never claims exact sums it does not have
    new = Aggregate(["a", "b"], ["l0", "l1"], 10.0, ["m"])
    new.add_columns({"run": [4], "error": [None], "outcome": ["b"], "time_to.l0": [0.0],
                     "time_to.l1": [1.0], "path": ["l0 > b"], "end_time": [4.0],
                     "metric.m": [0.5]})
    assert new.exact
    total = Aggregate(["a", "b"], ["l0", "l1"], 10.0, ["m"])
    total.merge(new)
    total.merge(old)
    assert not total.exact and total.runs == 4
    assert summarise(total).mean_end_time == (4.0 + (3.1 + 10.0 + 7.3)) / 4
    assert summarise(total).metrics["m"].n == 3
    with np.load(io.BytesIO(total.dumps())) as npz:
        assert "exact_sums" not in json.loads(npz["meta"].tobytes())
    assert not Aggregate.loads(total.dumps()).exact


def _strip_exact_sums(path: Path) -> None:
    """Rewrite a chunk file as the previous version wrote it: its aggregate without exact
    sums (identity and checksum recomputed)."""
    from sim.results import chunkfile

    ident, table, data = chunkfile.read_chunk(path)
    with np.load(io.BytesIO(data)) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(arrays["meta"].tobytes())
    del meta["exact_sums"]
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    sink = io.BytesIO()
    np.savez_compressed(sink, **arrays)
    path.write_bytes(chunkfile.encode_chunk(table, ident, sink.getvalue()))


def test_a_folder_of_old_chunks_resumes_on_float_sums(bryansk, tmp_path):
    out = tmp_path / "r"
    ref = sim.run_batch(bryansk, 600, 3, out=out, execution=sim.Execution(
        executor="serial", chunk_size=100))
    chunks = sorted((out / "runs").glob("chunk-*.parquet"))
    for path in chunks[:3]:
        _strip_exact_sums(path)
    chunks[-1].unlink()
    res = sim.resume_batch(out, sim.Execution(executor="serial"))
    assert not res.aggregate.exact and res.computed == 100
    a, b = res.summary.as_dict(), ref.summary.as_dict()
    assert a["outcomes"] == b["outcomes"] and a["paths"] == b["paths"]
    assert res.summary.mean_end_time == pytest.approx(ref.summary.mean_end_time, rel=1e-13)
    for name, m in res.summary.metrics.items():
        assert m.mean == pytest.approx(ref.summary.metrics[name].mean, rel=1e-12, abs=1e-12)
        assert m.sd == pytest.approx(ref.summary.metrics[name].sd, rel=1e-9, abs=1e-12)
    assert sim.load_results(out).batch_summary().runs == 600
