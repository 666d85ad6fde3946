"""One style for every figure of the kit: colours per method, per model and per kind of flip.

Every ``plots`` module (flips, pct, bct, edge, lqf, report, chain) takes its colours from here, so a
method, a model or a kind of flip looks the same in every notebook.

* Flips: negative flips (old right, new wrong) are red, positive flips (old wrong, new right) green.
  Red and green are kept for flips: no method uses them.
* Models: the old model is blue, the new model orange.
* Methods: one colour per method name (``METHOD_COLORS``). The unconstrained baseline ("none" in PC
  training, "independent" in the embedding notebooks) is dark grey everywhere; focal distillation with
  the logit-matching distance (FD-LM, and the chain's "fd") is purple, with the KL distance (FD-KL)
  cyan with square markers, so the two never read as one family; BCT is blue.
* Trade-off axes: **error of the new model on x, negative flip rate on y**, both in percent, in every
  trade-off figure (the blend curve of notebook 01 and the PC-training sweep of notebook 02). Lower
  left is better on both axes. Use ``tradeoff_axes`` to label such an axes.

This module imports no plotting library: it only holds names and hex colours.
"""
import re

__all__ = ["FLIP_COLORS", "MODEL_COLORS", "CLASS_COLORS", "CLASS_FILLS", "METHOD_COLORS", "METHOD_MARKERS",
           "HIGHLIGHT", "BAND", "REFERENCE", "ERR_LABEL", "NFR_LABEL", "method_color", "method_marker",
           "tradeoff_axes"]

FLIP_COLORS = {"negative": "#d62728", "positive": "#2ca02c"}
MODEL_COLORS = {"old": "#1f77b4", "new": "#ff7f0e"}
CLASS_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd"]   # points of the 2-D toy classes
CLASS_FILLS = ["#c6dbef", "#fdd0a2", "#d9f0d3", "#e5d8ed"]    # light fills of their decision regions
HIGHLIGHT = "#000000"   # rings and markers that point at the current selection
BAND = "#ffd54f"        # a highlighted class band or matrix cell
REFERENCE = "#555555"   # reference lines and single curves without a method (a bar to beat, chance)

METHOD_COLORS = {
    # unconstrained baselines
    "none": "#444444", "independent": "#444444",
    # notebook 02: positive-congruent training
    "naive": "#a0a0a0", "kd": "#ff7f0e", "fd_lm": "#9467bd", "fd_kl": "#17becf", "ensemble": "#8c564b",
    # notebooks 03, 04 and 06: compatible embeddings and chains of updates
    "bct": "#1f77b4", "bct_all": "#e377c2", "l2": "#bcbd22", "fd": "#9467bd", "finetune": "#7f7f00",
    "bcwi": "#8c564b", "l2_all": "#d62728",
    # notebook 05: fine-tuning methods
    "lqf": "#1f77b4", "probe": "#ff7f0e", "nonlinear": "#9467bd",
}
METHOD_MARKERS = {"none": "o", "independent": "o", "naive": "v", "kd": "^", "fd_lm": "o", "fd_kl": "s",
                  "ensemble": "D", "bct": "o", "bct_all": "s", "l2": "^", "fd": "D", "finetune": "v",
                  "bcwi": "P", "l2_all": "X", "lqf": "o", "probe": "s", "nonlinear": "^"}

ERR_LABEL = "error of the new model, Err_new (%)"
NFR_LABEL = "negative flip rate, NFR (%)"

_ALIASES = {"unconstrained": "none", "fd-lm": "fd_lm", "fd-kl": "fd_kl", "new*": "independent",
            "fine-tune": "finetune", "focal distillation": "fd", "plain distillation": "kd",
            "linear probe": "probe", "nonlinear fine-tuning": "nonlinear", "ensembles": "ensemble"}


def _key(name):
    """The method key a name or a legend label refers to, or None.

    A key itself ("fd_lm"), an alias ("FD-LM", "unconstrained"), or a label that contains one of them
    as a word ("edge->cloud, BCT (cloud classifier)" -> "bct"); the longest match wins.
    """
    text = str(name).lower()
    if text in METHOD_COLORS:
        return text
    if text in _ALIASES:
        return _ALIASES[text]
    found = [(len(k), v) for k, v in [*_ALIASES.items(), *((k, k) for k in METHOD_COLORS)]
             if re.search(rf"(?<![\w-]){re.escape(k)}(?![\w-])", text)]
    return max(found)[1] if found else None


def method_color(name, default=None):
    """The colour of a method, given its key or a label naming it; ``default`` when none matches.

    Examples
    --------
    >>> method_color("fd_lm") == method_color("FD-LM") == METHOD_COLORS["fd_lm"]
    True
    >>> method_color("edge->cloud, BCT (cloud classifier)") == METHOD_COLORS["bct"]
    True
    """
    key = _key(name)
    return METHOD_COLORS[key] if key else default


def method_marker(name, default="o"):
    """The marker of a method, given its key or a label naming it (see ``method_color``)."""
    key = _key(name)
    return METHOD_MARKERS.get(key, default) if key else default


def tradeoff_axes(ax, xlabel=ERR_LABEL, ylabel=NFR_LABEL):
    """Label a trade-off axes the kit's way: error of the new model on x, NFR on y (percent)."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax
