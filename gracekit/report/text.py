"""The update report as a terminal table."""
import numpy as np

__all__ = ["render_text", "short"]


def short(s, n):
    """``str(s)`` cut to ``n`` characters (a trailing ``~`` marks the cut)."""
    s = str(s)
    return s if len(s) <= n else s[:n - 1] + "~"


def render_text(report):
    """The terminal table of an ``UpdateReport``."""
    names = report.class_names
    lines = [report.title, "=" * len(report.title), report.flips.to_text(report.class_names), ""]
    lines.append(f"{'class':<16}{'n':>7}{'old err':>9}{'new err':>9}{'neg flips':>11}{'pos flips':>11}")
    for c, name in enumerate(names):
        m = report.y_true == c
        nc = int(m.sum())
        eo = f"{100 * np.mean(report.y_old[m] != c):.1f}%" if nc else "-"
        en = f"{100 * np.mean(report.y_new[m] != c):.1f}%" if nc else "-"
        pc = report.flips.per_class[c]
        lines.append(f"{short(name, 15):<16}{nc:>7}{eo:>9}{en:>9}{pc['negative_flips']:>11}"
                     f"{pc['positive_flips']:>11}")
    pairs = report.confusion_pairs(5)
    if pairs:
        lines += ["", "negative flips, true class -> new label: " + ", ".join(
            f"{short(a, 15)} -> {short(b, 15)}: {n}" for a, b, n in pairs)]
    bw = report.masks["both_wrong"]
    same = int((bw & (report.y_old == report.y_new)).sum())
    lines.append(f"both wrong: {int(bw.sum())} ({same} with the same wrong label, "
                 f"{int(bw.sum()) - same} with different ones)")
    top = report.top_negative_flips()
    if top:
        has_conf = report.p_new is not None
        lines += ["", "most confident negative flips" if has_conf else "negative flips (no scores given)",
                  f"{'id':>10}  {'true':<15}{'old':<15}{'new':<15}" + ("conf" if has_conf else "")]
        for t in top:
            lines.append(f"{short(t['id'], 10):>10}  {short(t['true'], 14):<15}{short(t['old'], 14):<15}"
                         f"{short(t['new'], 14):<15}" + (f"{t['confidence']:.3f}" if has_conf else ""))
    lines += ["", "verdict: " + report.verdict]
    return "\n".join(lines)
