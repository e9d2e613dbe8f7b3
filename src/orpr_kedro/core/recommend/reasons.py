"""The reason sentence next to each order: where the coverage came from and how the order was computed.

Units and days print with one decimal (none for whole numbers).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from orpr_kedro.core import order_list


def _number(value: float) -> str:
    """Units and days in a reason: one decimal, none for whole numbers."""
    text = f"{value:.1f}"
    if text.endswith(".0"):
        text = text[:-2]
    return "0" if text == "-0" else text


def _zero_cover_why(dates: int, zero_dates: int, median_days: float) -> str:
    """Why a lane got 0 days of cover, from the OR labels it had in training."""
    if dates == 0:
        return "no OR labels for this lane to compare with: check before accepting"
    if 2 * zero_dates >= dates:
        return (
            f"the OR labels gave this lane 0 d on {zero_dates} of {dates} dates: no stock was the cheapest choice "
            "within its category's service budget"
        )
    share = "none" if zero_dates == 0 else f"only {zero_dates}"
    return (
        f"the OR labels gave this lane 0 d on {share} of {dates} dates (median {_number(median_days)} d): "
        "the policy departs from them, check before accepting"
    )


_REASON_INPUTS = (
    "reason_code", "cold_start", "history_days", "coverage_days", "incumbent_coverage_days", "order_up_to_units",
    "on_hand", "on_order", "forecast_to_review_units", "inventory_position", "raw_order_units", "order_units",
    "case_pack", "moq", "promo_days_ahead", "expert_coverage_days_ahead",
)  # fmt: skip


def _reasons(frame: pd.DataFrame, labels: order_list.LabelHistory, min_history_days: int, days_to_review: np.ndarray):
    """One sentence per row: where the coverage came from and how the order was computed."""
    texts = []
    rows = zip(
        *(frame[column].to_numpy().tolist() for column in _REASON_INPUTS),
        np.asarray(days_to_review).tolist(),
        labels.dates.tolist(),
        labels.zero_dates.tolist(),
        labels.median_days.tolist(),
        strict=True,
    )
    for (
        code,
        cold,
        history,
        cover,
        incumbent,
        level,
        on_hand,
        on_order,
        to_review,
        position,
        raw,
        order,
        pack,
        moq,
        promo,
        expert,
        to_review_days,
        label_dates,
        zero_dates,
        median_days,
    ) in rows:
        if not cold:
            source = f"aligned policy: {_number(cover)} d cover (incumbent {_number(incumbent)} d)"
        elif history == 0:
            source = f"cold start (no sales history, zero forecast: plan the launch quantity by hand): incumbent rule, {_number(cover)} d cover"
        else:
            source = (
                f"cold start ({history} of {min_history_days} history days): incumbent rule, {_number(cover)} d cover"
            )
        state = f"on hand {_number(on_hand)} + on order {_number(on_order)}"
        if to_review_days:
            state += f" - {_number(to_review)} forecast over {to_review_days} d to review"
        if order > 0:
            text = f"order {_number(order)} = level {_number(level)} - position {_number(position)} ({state}) = {_number(raw)}"
            cased = math.ceil(raw / pack) * pack
            if order > cased:
                text += f", rounded up to case pack {pack}, raised to MOQ {moq}"
            elif order > raw and pack > 1:
                text += f", rounded up to case pack {pack}"
        elif code == order_list.NO_ORDER_ZERO_COVER:
            text = (
                f"no order: zero cover chosen ({_zero_cover_why(label_dates, zero_dates, median_days)}); "
                f"position {_number(position)} ({state})"
            )
        else:
            text = f"no order: position {_number(position)} ({state}) >= level {_number(level)}"
        if promo > 0:
            text += f"; promotion ahead ({_number(promo)} d, expert cover {_number(expert)} d)"
        texts.append(f"{source}; {text}")
    return texts
