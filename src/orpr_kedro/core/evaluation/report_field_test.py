"""The report's section on the simulated field test: the DiD estimates and the covariate balance, in units.

Each outcome prints in its own unit: days of stock in days, the in-stock rate's effect
in percentage points, holding cost in the currency per SKU-DC and day; p-values to
three decimals (``< 0.001`` below).
"""

from __future__ import annotations

import pandas as pd

from orpr_kedro.core.evaluation.report_format import markdown_table, p_value, signed

__all__ = ["OUTCOME_UNITS", "field_test_section"]

# outcome -> (name, unit of its effects, factor from the panel's values to that unit)
OUTCOME_UNITS = {
    "days_of_stock": ("days of stock", "days", 1.0),
    "in_stock_rate": ("in-stock rate", "points", 100.0),
    "holding_cost": ("holding cost", "{currency} per SKU-DC and day", 1.0),
}
# covariate -> its name with unit
_COVARIATES = {
    "pre_turnover_days": "pre-period turnover (days)",
    "mean_demand": "mean daily demand (units)",
}


def _outcome(outcome: str, currency: str) -> tuple[str, str, float]:
    name, unit, factor = OUTCOME_UNITS.get(outcome, (outcome.replace("_", " "), "", 1.0))
    return name, unit.format(currency=currency), factor


def _relative(share: float) -> str:
    return "-" if pd.isna(share) else f"{signed(100 * share, 1)}%"


def effects_table(effects: pd.DataFrame, currency: str) -> pd.DataFrame:
    """The DiD estimates as printed: one row per outcome, effects in the outcome's unit (named in the first column).

    >>> row = {"outcome": "in_stock_rate", "effect": 0.0132, "ci_low": 3.88e-17, "ci_high": 0.02, "p_value": 3e-9,
    ...        "true_effect": 0.012, "relative_effect": 0.0135, "pre_trend_p_value": 0.41, "alpha": 0.05}
    >>> effects_table(pd.DataFrame([row]), "EUR").iloc[0].tolist()
    ['in-stock rate (points)', '+1.32', '[0.00, +2.00]', '< 0.001', '+1.20', '+1.4%', '0.410']
    """
    level = 1 - float(effects["alpha"].iloc[0]) if "alpha" in effects and len(effects) else 0.95
    rows = []
    for row in effects.itertuples():
        name, unit, factor = _outcome(str(row.outcome), currency)
        rows.append(
            {
                "outcome": f"{name} ({unit})" if unit else name,
                "estimated effect": signed(row.effect * factor),
                f"{level:.0%} interval": f"[{signed(row.ci_low * factor)}, {signed(row.ci_high * factor)}]",
                "p-value": p_value(row.p_value),
                "true effect": signed(row.true_effect * factor),
                "relative to the counterfactual": _relative(row.relative_effect),
                "pre-trend p-value": p_value(row.pre_trend_p_value),
            }
        )
    return pd.DataFrame(rows)


def balance_table(balance: pd.DataFrame) -> pd.DataFrame:
    """The covariate balance as printed: means in the covariate's unit, SMDs to two decimals."""
    table = pd.DataFrame(
        {
            "covariate": [_COVARIATES.get(c, c.replace("_", " ")) for c in balance["covariate"]],
            "rule-picked, before": balance["mean_treated_before"].map("{:,.1f}".format),
            "others, before": balance["mean_control_before"].map("{:,.1f}".format),
            "SMD before": balance["smd_before"].map(signed),
            "treated, matched": balance["mean_treated_after"].map("{:,.1f}".format),
            "controls, matched": balance["mean_control_after"].map("{:,.1f}".format),
            "SMD after": balance["smd_after"].map(signed),
        }
    )
    if "balanced" in balance:
        table["balanced"] = ["yes" if ok else "**no**" for ok in balance["balanced"].astype(bool)]
    return table


def field_test_section(effects: pd.DataFrame, balance: pd.DataFrame, units: pd.DataFrame, currency: str) -> list[str]:
    """The field-test section: design, estimates with units, figure, balance and one sentence per outcome."""
    n_treated, n_control = int(units["treated"].sum()), int(units["control"].sum())
    n_rule = int(units["selected_by_rule"].sum())
    lines = [
        "## Simulated field test (difference-in-differences)",
        "",
        f"As in the paper's field test: {n_rule} SKU-DCs were picked by a manager-like rule (high volume, stable supply) "
        f"and {n_treated} of them were matched 1:1 to {n_control} controls by propensity score on pre-period turnover and "
        "demand. Everyone runs the incumbent rule in the pre period; at the test start the treated pairs switch to ORPR. "
        "The effect is estimated by a regression with SKU-DC and day fixed effects, standard errors clustered by SKU-DC. "
        "Because this is a simulation, the same SKU-DCs were also run without the switch: the true effect is known. "
        "Effects are per SKU-DC and day, in the unit after each outcome (the in-stock rate's in percentage points).",
        "",
        markdown_table(effects_table(effects, currency)),
        "",
        "![Field test](figures/field_test.png)",
        "",
        "Covariate balance (means before matching: the SKU-DCs the rule picked against all others; after: the "
        "matched pairs; standardised mean differences below 0.1 are the usual bar):",
        "",
        markdown_table(balance_table(balance)),
        "",
    ]
    unbalanced = balance.loc[~balance["balanced"].astype(bool), "covariate"].tolist() if "balanced" in balance else []
    if unbalanced:
        named = ", ".join(_COVARIATES.get(c, c).split(" (")[0] for c in unbalanced)
        lines.append(
            f"After matching, {named} is still not balanced (|SMD| >= 0.1): the rule picks the highest-volume "
            "SKU-DCs and few controls are alike. The SKU-DC fixed effects absorb level differences, not different dynamics; "
            "the true effect below shows what that costs here."
        )
        lines.append("")
    for row in effects.itertuples():
        name, unit, factor = _outcome(str(row.outcome), currency)
        inside = "inside" if row.truth_inside_interval else "outside"
        if pd.isna(row.pre_trend_p_value):
            trend = "the pre-trend could not be tested (the outcome does not vary in the pre period)"
        elif row.parallel_trends_plausible:
            trend = f"no sign of different pre-trends (p = {p_value(row.pre_trend_p_value)})"
        else:
            trend = f"**different pre-trends: read this estimate with care** (p = {p_value(row.pre_trend_p_value)})"
        relative = "" if pd.isna(row.relative_effect) else f" ({_relative(row.relative_effect)} of the counterfactual)"
        lines.append(
            f"- {name}: estimated {signed(row.effect * factor, 2, unit)}{relative}, "
            f"true {signed(row.true_effect * factor, 2, unit)}, which is {inside} the interval; {trend}."
        )
    return [*lines, ""]
