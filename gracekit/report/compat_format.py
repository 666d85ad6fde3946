"""Rendering a ``CompatResult``: terminal text, Markdown for a pull request, JUnit XML (JSON is its
``to_dict()``, schema ``gracekit.compat/1``, documented in docs/gate.md)."""
from gracekit.report.gate_format import junit_xml

__all__ = ["compat_text", "compat_markdown", "compat_junit"]

ROWS = [("old/old", "old queries, old gallery"), ("new->old", "new queries, old gallery"),
        ("new/new", "new queries, new gallery")]


def _f(v, fmt=".3f"):
    return "n/a" if v is None or v != v else format(v, fmt)


def _criterion_line(r):
    c = r.criterion
    return (f"M(new, old) - M(old, old) on {c['metric']}: {c['difference']:+.3f} "
            f"(SE {_f(c['se'])} clustered over {c['n_identities']} query identities, {c['n_queries']} queries; "
            f"{100 * r.confidence:g}% interval [{_f(c['low'], '+.3f')}, {_f(c['high'], '+.3f')}])")


def _backfill_lines(b):
    if not b:
        return []
    fr = b["fractions"]
    pick = [i for i, f in enumerate(fr) if round(f * 100) % 10 == 0] or list(range(len(fr)))
    lines = [f"partial backfill, top-1 as a fraction of the old gallery is re-embedded "
             f"(informed: {b['informed_order']}; random: mean of {b['n_random_orders']} orders):",
             "  fraction  " + "".join(f"{fr[i]:>7.0%}" for i in pick),
             "  informed  " + "".join(f"{b['informed'][i]:>7.3f}" for i in pick),
             "  random    " + "".join(f"{b['random'][i]:>7.3f}" for i in pick)]
    lines.append(f"  mean top-1 over the backfill: informed {b['area_informed']:.3f}, random {b['area_random']:.3f}")
    for k in ("informed", "random"):
        need = b[f"needed_{k}"]
        lines.append(f"  {k} order reaches new/new - {b['tolerance']:g} (top-1 {b['target']:.3f}) at "
                     + ("no fraction" if need is None else f"{need:.0%} of the gallery"))
    return lines


def compat_text(r):
    """Terminal text of a CompatResult."""
    lines = [f"gracekit compat: {r.n_queries:,} queries, {r.n_gallery:,} gallery items, {r.n_identities:,} "
             f"identities; protocol {'leave-one-out (queries are the gallery items)' if r.protocol == 'loo' else 'query/gallery split'}",
             "", f"{'':<28}{'top-1':>8}{'top-5':>8}{'mAP':>8}"]
    for key, label in ROWS:
        if key in r.table:
            t = r.table[key]
            lines.append(f"{label:<28}{t['top1']:>8.3f}{t['top5']:>8.3f}{t['map']:>8.3f}")
    c = r.criterion
    lines += ["", _criterion_line(r),
              f"BCT criterion M(new, old) > M(old, old): {'met' if c['bct_criterion'] else 'not met'} "
              f"({c['new_old']:.3f} vs {c['old_old']:.3f})"]
    if r.gain is not None:
        lines.append(f"update gain (M(new,old) - M(old,old)) / (M(new,new) - M(old,old)) = {r.gain:+.2f}")
    lines += [f"note: {n}" for n in r.notes]
    bl = _backfill_lines(r.backfill)
    lines += ([""] + bl if bl else [])
    lines += ["", f"verdict: {r.verdict_text}" + (" (strict: point estimate)" if r.strict else "")]
    return "\n".join(lines)


def compat_markdown(r):
    """A pull-request comment for a CompatResult."""
    icon = {"compatible": "✅", "not_compatible": "❌", "undecided": "⚠️"}[r.verdict]
    lines = [f"### {icon} gracekit compat: {r.verdict_text}", "", "| | top-1 | top-5 | mAP |", "|---|---:|---:|---:|"]
    for key, label in ROWS:
        if key in r.table:
            t = r.table[key]
            lines.append(f"| {label} | {t['top1']:.3f} | {t['top5']:.3f} | {t['map']:.3f} |")
    c = r.criterion
    lines += ["", _criterion_line(r) + ".", "",
              f"BCT criterion M(new, old) > M(old, old): **{'met' if c['bct_criterion'] else 'not met'}**."]
    if r.gain is not None:
        lines.append(f"Update gain: {r.gain:+.2f}.")
    lines += [f"Note: {n}." for n in r.notes]
    b = r.backfill
    if b:
        lines += ["", f"Partial backfill reaches new/new within {b['tolerance']:g} at "
                      f"{'never' if b['needed_informed'] is None else format(b['needed_informed'], '.0%')} "
                      f"(informed order) vs {'never' if b['needed_random'] is None else format(b['needed_random'], '.0%')}"
                      f" (random order) of the gallery."]
    return "\n".join(lines) + "\n"


def compat_junit(r):
    """Two test cases: the compatibility decision and BCT's strict criterion (reported, never failing)."""
    c = r.criterion
    cases = [{"name": "new queries search the old gallery", "classname": "gracekit.compat",
              "status": "fail" if r.verdict == "not_compatible" else "pass",
              "message": f"{r.verdict_text}: " + _criterion_line(r)},
             {"name": "BCT criterion M(new, old) > M(old, old)", "classname": "gracekit.compat",
              "status": "pass" if c["bct_criterion"] else "skipped",
              "message": f"{c['new_old']:.3f} vs {c['old_old']:.3f} on {c['metric']} "
                         f"({'met' if c['bct_criterion'] else 'not met; reported only'})"}]
    return junit_xml("gracekit compat", cases, {"schema": "gracekit.compat/1", "verdict": r.verdict})
