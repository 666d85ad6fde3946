"""`gracekit compat`: retrieval numbers equal gracekit.retrieval's, the clustered SE an independent computation,
identical models are compatible and an unrelated one is not, dimension mismatches are explicit, the backfill
curve runs from new->old to new/new, outputs parse, bad files exit 2 with one line."""
import json

import numpy as np
import pytest

from gracekit import retrieval
from gracekit.__main__ import main as cli
from gracekit.report.compat import backfill_order, check_compat, retrieval_scores
from gracekit.report.compat_scores import backfill_top1
from junit_check import check_junit


def _embeddings(n_ids=40, per=6, d=12, seed=0):
    """Old model: noisy identity centres; a compatible new model: the same space, less noise; an
    independent new model: the centres in a random rotation."""
    rng = np.random.default_rng(seed)
    ids = np.repeat(np.arange(n_ids), per)
    c = rng.normal(size=(n_ids, d))
    old = c[ids] + 0.9 * rng.normal(size=(len(ids), d))
    new = c[ids] + 0.5 * rng.normal(size=(len(ids), d))
    rot, _ = np.linalg.qr(rng.normal(size=(d, d)))
    indep = (c @ rot)[ids] + 0.5 * rng.normal(size=(len(ids), d))
    return ids, old, new, indep


def test_scores_equal_retrieval_module_split_and_leave_one_out():
    ids, old, new, _ = _embeddings()
    q, g = np.arange(len(ids)) % 3 == 0, np.arange(len(ids)) % 3 != 0
    s = retrieval_scores(new[q], old[g], ids[q], ids[g])
    ref = retrieval.cmc(new[q], old[g], ids[q], ids[g], topk=(1, 5))
    assert s["top1"].mean() == pytest.approx(ref[1]) and s["top5"].mean() == pytest.approx(ref[5])
    assert s["map"].mean() == pytest.approx(retrieval.mean_average_precision(new[q], old[g], ids[q], ids[g]))
    loo = retrieval_scores(new, old, ids, ids, leave_one_out=True)
    ref = retrieval.leave_one_out_cmc(new, old, ids, topk=(1, 5))
    assert loo["top1"].mean() == pytest.approx(ref[1]) and loo["top5"].mean() == pytest.approx(ref[5])


def test_decision_and_clustered_se_by_hand():
    ids, old, new, indep = _embeddings()
    r = check_compat(old, new, ids, ids)
    assert r.protocol == "loo" and r.verdict == "compatible" and r.exit_code == 0
    # independent computation: per-query top-1 from the full similarity matrix, SE from identity sums
    def top1(q, g):
        S = (q / np.linalg.norm(q, axis=1, keepdims=True)) @ (g / np.linalg.norm(g, axis=1, keepdims=True)).T
        np.fill_diagonal(S, -np.inf)
        return (ids[S.argmax(1)] == ids).astype(float)
    diff = top1(new, old) - top1(old, old)
    sums = np.array([(diff[ids == c] - diff.mean()).sum() for c in np.unique(ids)])
    G = len(sums)
    se = np.sqrt(G / (G - 1) * (sums ** 2).sum()) / len(diff)
    assert r.criterion["difference"] == pytest.approx(diff.mean()) and r.criterion["se"] == pytest.approx(se)
    assert r.criterion["low"] == pytest.approx(diff.mean() - 1.959964 * se, abs=1e-6)
    assert r.criterion["bct_criterion"] == (diff.mean() > 0)
    bad = check_compat(old, indep, ids, ids)
    assert bad.verdict == "not_compatible" and bad.exit_code == 1 and bad.criterion["high"] < 0


def test_identical_embeddings_are_compatible_and_noise_is_undecided():
    ids, old, new, _ = _embeddings()
    same = check_compat(old, old.copy(), ids, ids)
    assert same.verdict == "compatible" and same.criterion["difference"] == 0 and same.criterion["se"] == 0
    rng = np.random.default_rng(5)
    jitter = old + 0.25 * rng.normal(size=old.shape)   # a slightly different model: no clear change
    r = check_compat(old, jitter, ids, ids)
    assert r.verdict == "undecided" and r.exit_code == 0
    assert check_compat(old, jitter, ids, ids, strict=True).verdict in ("compatible", "not_compatible")


def test_split_protocol_needs_old_queries():
    ids, old, new, _ = _embeddings()
    q, g = np.arange(len(ids)) % 3 == 0, np.arange(len(ids)) % 3 != 0
    with pytest.raises(ValueError, match="old_query"):
        check_compat(old[g], new[q], ids[g], ids[q])
    r = check_compat(old[g], new[q], ids[g], ids[q], old_query=old[q], new_gallery=new[g])
    assert r.protocol == "split" and r.table["new/new"]["top1"] >= r.table["old/old"]["top1"]


def test_dimension_mismatch_is_an_error_unless_projected():
    ids, old, new, _ = _embeddings()
    wide = np.hstack([new, np.zeros((len(new), 4))])
    with pytest.raises(ValueError, match="16 dimensions but old_gallery has 12.*--project"):
        check_compat(old, wide, ids, ids)
    r = check_compat(old, wide, ids, ids, project_dims=True, new_gallery=wide)
    plain = check_compat(old, new, ids, ids, new_gallery=new)
    assert r.table == plain.table and "truncated" in r.notes[0]


def test_backfill_curve_ends_and_informed_order():
    ids, old, new, indep = _embeddings(n_ids=60)
    for emb in (new, indep):
        r = check_compat(old, emb, ids, ids, new_gallery=emb, n_orders=3)
        b = r.backfill
        assert b["fractions"][0] == 0 and b["fractions"][-1] == 1
        for k in ("informed", "random"):
            assert b[k][0] == pytest.approx(r.table["new->old"]["top1"])
            assert b[k][-1] == pytest.approx(r.table["new/new"]["top1"])
        # on these seeded embeddings the informed order beats random ones over the whole curve
        assert b["area_informed"] > b["area_random"]
        assert b["needed_informed"] is not None and b["needed_random"] is not None
    order = backfill_order(old, ids, indep, ids, leave_one_out=True)
    assert sorted(order.tolist()) == list(range(len(ids)))
    assert len(set(ids[order[:60]].tolist())) == 60       # one item per identity per round


def _save(tmp, **arrays):
    out = {}
    for k, a in arrays.items():
        np.save(tmp / f"{k}.npy", a)
        out[k] = str(tmp / f"{k}.npy")
    return out


def test_cli_formats(tmp_path, capsys):
    ids, old, new, indep = _embeddings()
    f = _save(tmp_path, old=old, new=new, indep=indep, ids=ids)
    (tmp_path / "ids.csv").write_text("identity\n" + "".join(f"p{i}\n" for i in ids))
    args = ["compat", "--old-gallery", f["old"], "--gallery-ids", str(tmp_path / "ids.csv"),
            "--query-ids", str(tmp_path / "ids.csv")]
    assert cli(args + ["--new-query", f["new"], "--new-gallery", f["new"]]) == 0
    out = capsys.readouterr().out
    assert "verdict: compatible: new queries can search the old index" in out and "partial backfill" in out
    assert cli(args + ["--new-query", f["indep"], "--format", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "gracekit.compat/1" and doc["verdict"] == "not_compatible" and doc["backfill"] is None
    assert set(doc["table"]) == {"old/old", "new->old"}
    xml = tmp_path / "c.xml"
    assert cli(args + ["--new-query", f["indep"], "--format", "junit", "--output", str(xml)]) == 1
    assert "verdict: not compatible" in capsys.readouterr().out
    root = check_junit(xml.read_text())
    assert len(root.findall(".//failure")) == 1 and len(root.findall(".//skipped")) == 1
    assert cli(args + ["--new-query", f["indep"], "--format", "markdown"]) == 1
    assert capsys.readouterr().out.startswith("### ❌ gracekit compat: not compatible: backfill needed")


@pytest.mark.parametrize("case", ["missing", "not npy", "nan", "one-d", "int dtype", "rows vs ids", "no old query",
                                  "width", "ids csv columns"])
def test_bad_files_exit_2_with_one_line(case, tmp_path, capsys):
    ids, old, new, _ = _embeddings()
    f = _save(tmp_path, old=old, new=new, ids=ids)
    nan = new.copy()
    nan[7, 2] = np.nan
    bad = {"missing": ("--new-query", str(tmp_path / "gone.npy"), "gone.npy"),
           "not npy": ("--new-query", str(tmp_path / "emb.csv"), "emb.csv"),
           "nan": ("--new-query", _save(tmp_path, nanq=nan)["nanq"], "row 7"),
           "one-d": ("--new-query", _save(tmp_path, flat=new[:, 0])["flat"], "flat.npy"),
           "int dtype": ("--new-query", _save(tmp_path, ints=np.ones((len(ids), 3), int))["ints"], "ints.npy"),
           "rows vs ids": ("--new-query", _save(tmp_path, short=new[:10])["short"], "short.npy"),
           "no old query": ("--query-ids", _save(tmp_path, qids=ids[::-1])["qids"], "old_query"),
           "width": ("--new-query", _save(tmp_path, wide=np.hstack([new, new]))["wide"], "--project"),
           "ids csv columns": ("--gallery-ids", str(tmp_path / "two.csv"), "two.csv")}
    (tmp_path / "emb.csv").write_text("a,b\n1,2\n")
    (tmp_path / "two.csv").write_text("x,y\n1,2\n")
    opt, value, needle = bad[case]
    args = {"--old-gallery": f["old"], "--new-query": f["new"], "--gallery-ids": f["ids"], "--query-ids": f["ids"]}
    args[opt] = value
    assert cli(["compat", *[x for kv in args.items() for x in kv]]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gracekit compat: error:") and len(err.splitlines()) == 1 and needle in err


def test_backfill_curve_equals_brute_force():
    """The one-pass prefix/suffix computation against a mixed similarity matrix built per fraction."""
    ids, old, new, _ = _embeddings(n_ids=15, per=4)
    wide = np.hstack([new, np.random.default_rng(2).normal(size=(len(new), 3))])   # new model 3 dims wider
    order = np.random.default_rng(1).permutation(len(ids))
    fr = np.array([0, 0.3, 0.5, 1])
    got = backfill_top1(wide[:, :12], wide, old, wide, ids, ids, True, [order], fr)[0]

    def unit(x):
        return x / np.linalg.norm(x, axis=1, keepdims=True)
    s_old, s_new = unit(wide[:, :12]) @ unit(old).T, unit(wide) @ unit(wide).T
    want = []
    for f in fr:
        done = np.zeros(len(ids), bool)
        done[order[:int(round(f * len(ids)))]] = True
        S = np.where(done[None, :], s_new, s_old)
        np.fill_diagonal(S, -np.inf)
        want.append(np.mean(ids[S.argmax(1)] == ids))
    assert got == pytest.approx(want)


def test_cli_project_option(tmp_path, capsys):
    ids, old, new, _ = _embeddings()
    f = _save(tmp_path, old=old, wide=np.hstack([new, np.zeros((len(new), 4))]), ids=ids)
    args = ["compat", "--old-gallery", f["old"], "--new-query", f["wide"], "--gallery-ids", f["ids"],
            "--query-ids", f["ids"]]
    assert cli(args) == 2 and "--project" in capsys.readouterr().err
    assert cli(args + ["--project", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["verdict"] == "compatible" and "truncated from 16 to 12" in doc["notes"][0]
