"""The regression report of one model update (notebook 06 and `gracekit report`).

core: ``UpdateReport``, ``update_report``, ``compare_models``; io: reading prediction files;
text / html: rendering; plots: its figures; explorer: the notebook widget; cli: the command line.
"""
from gracekit.report.core import REGIONS, UpdateReport, compare_models, model_outputs, update_report
from gracekit.report.io import load_labels, load_predictions, load_report_inputs

__all__ = ["UpdateReport", "update_report", "compare_models", "model_outputs", "load_predictions",
           "load_labels", "load_report_inputs", "REGIONS"]
