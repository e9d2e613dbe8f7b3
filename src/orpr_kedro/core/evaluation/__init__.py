"""Evaluation: the closed-loop harness, comparison tables, the field trial with DiD, the report."""
