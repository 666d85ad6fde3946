"""Notebook 07: classifier updates after 2021 (ELODI ensemble distillation, churn as a constraint,
backward-compatible weight interpolation) on the PC-training toy of notebook 02."""
