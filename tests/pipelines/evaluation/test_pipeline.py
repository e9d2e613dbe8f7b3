"""The evaluation pipeline on an in-memory catalog (tiny data, conf/test parameters)."""

import base64
import logging
import re
import subprocess

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from orpr_kedro.core.evaluation.report import POLICY_LABELS
from orpr_kedro.core.figure_style import POLICY_COLOURS
from orpr_kedro.core.learning.baseline import BaselineLearner
from orpr_kedro.core.learning.samples import build_samples
from orpr_kedro.core.optimization import GurobiLicence
from orpr_kedro.core.params import EvaluationParams
from orpr_kedro.pipelines.evaluation import create_pipeline, nodes
from orpr_kedro.pipelines.evaluation.labels import overlapping_texts, text_boxes
from orpr_kedro.pipelines.evaluation.nodes import FIGURE_DPI
from tests.conftest import PROJECT_ROOT
from tests.core.learning.test_pretraining import TINY as TINY_PRETRAINING
from tests.core.rl.test_alignment import OR_PARAMS, SEED, one_torch_thread, rl_params, rl_tables, tiny_calibration  # noqa: F401 (autouse fixture)
from tests.test_viz import CHROMIUM, CHROMIUM_FLAGS, require_chromium

POLICIES = [
    "incumbent",
    "base_stock",
    "tuned_base_stock",
    "or_policy",
    "baseline_learner",
    "pretrained",
    "orpr",
    "aligned",  # the aligned network runs apart from ORPR, without the service floor
    "or_hindsight",
]


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# The recommend pipeline's summaries as the catalog reads them back (CSV: the values are text).
RECOMMEND_SUMMARY = pd.DataFrame(
    {
        "metric": [
            "as_of_date",
            "review_date",
            "currency",
            "lanes",
            "lanes_recommended",
            "lanes_without_state",
            "incumbent_fallback",
            "orders",
            "order_units",
            "order_value",
            "reason_order",
            "reason_no_order_enough_stock",
            "reason_no_order_zero_cover",
            "reason_cold_start",
            "reason_no_state",
            "mean_stockout_risk",
        ],
        "value": ["2025-10-27", "2025-10-28", "EUR", "24", "23", "1", "1", "15", "1234", "15910.37"]
        + ["15", "6", "1", "1", "1", "0.087"],
    }
)
RECOMMEND_BY_DC = pd.DataFrame(
    {
        "dc_id": ["DC01", "DC01", "DC02", "DC02", "all"],
        "category": ["beverages", "all", "dairy", "all", "all"],
        "lanes": [12, 12, 12, 12, 24],
        "orders": [8, 8, 7, 7, 15],
        "order_units": [700, 700, 534, 534, 1234],
        "order_value": [9000.12, 9000.12, 6910.25, 6910.25, 15910.37],
        "currency": "EUR",
        "mean_stockout_risk": [0.05, 0.05, 0.124, 0.124, 0.087],
        "max_stockout_risk": [0.3, 0.3, 0.61, 0.61, 0.61],
    }
)


class KeptDataset(MemoryDataset):
    """A memory dataset the runner does not release, so the test can read intermediate outputs."""

    def _release(self) -> None:
        pass


def evaluation_params() -> EvaluationParams:
    """conf/base with the conf/test overrides (as the test environment sees them)."""
    values = yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_evaluation.yml").read_text())["evaluation"]
    test = yaml.safe_load((PROJECT_ROOT / "conf/test/parameters_evaluation.yml").read_text())["evaluation"]
    for key, value in test.items():
        values[key] = {**values[key], **value} if isinstance(value, dict) else value
    return EvaluationParams.model_validate(values)


@pytest.fixture(scope="module")
def evaluation_run(tiny_processed, fast_params, tmp_path_factory, one_torch_thread):  # noqa: F811
    """The evaluation pipeline run once on the tiny data: its catalog and its free outputs."""
    tmp_path = tmp_path_factory.mktemp("evaluation")
    tables = rl_tables(tiny_processed, fast_params)
    grid = np.asarray(OR_PARAMS.coverage_grid.values())
    samples = build_samples(tables["features"], tables["labels"], tiny_processed["daily_sales"], grid, 7)
    baseline = BaselineLearner.fit(samples, grid, TINY_PRETRAINING, seed=1)
    payload = tables["policy"].to_payload()
    calibration = tiny_calibration(tiny_processed)
    alignment = pd.DataFrame({"metric": ["total_cost_change_pct"], "value": [-1.0], "note": ["validation"]})
    curves = pd.DataFrame(
        {
            "epoch": [1, 2],
            "reward": [-1.0, -0.9],
            "total_cost": [5.0, 4.5],
            "kl": [0.0, 0.01],
            "entropy": [2.0, 1.9],
            "holding_cost": [1.0, 1.0],
            "lost_sales_cost": [3.0, 2.5],
            "order_cost": [1.0, 1.0],
        }
    )
    kept = [
        "mo_evaluation_decisions",
        "mo_evaluation_lane_kpis",
        "mo_evaluation_trajectories",
        "rpt_evaluation_decision_time",
        "rpt_evaluation_solver_log",
        "rpt_tuned_base_stock",
        "rpt_or_calibration",
        "rpt_evaluation_kpis",
        "rpt_evaluation_kpi_intervals",
        "rpt_evaluation_targets",
        "rpt_evaluation_transfer",
        "rpt_evaluation_tradeoff",
        "mo_field_test_daily",
        "mo_field_test_units",
        "rpt_field_test_balance",
        "mo_field_test_panel",
        "rpt_field_test_did",
        "rpt_report_images",
    ]
    catalog = DataCatalog(
        datasets={
            "mdl_foundation_model": MemoryDataset(payload),
            "mdl_orpr_policy": MemoryDataset({**payload, "metadata": {"orpr_network": "pretrained"}}),
            # the gate kept the pretrained network: the aligned one (here the same weights) runs for the record
            "mdl_aligned_policy": MemoryDataset(payload),
            "mdl_baseline_learner": MemoryDataset(baseline, copy_mode="assign"),
            "gurobi_licence": MemoryDataset(GurobiLicence(), copy_mode="assign"),
            "mi_scenario_calibration": MemoryDataset(calibration),
            "mi_training_features": MemoryDataset(tables["features"]),
            "mi_or_labels": MemoryDataset(tables["labels"]),
            "mi_training_lanes": MemoryDataset(tiny_processed["lanes"]),
            "mi_training_sales": MemoryDataset(tiny_processed["daily_sales"]),
            "mi_training_forecast": MemoryDataset(tiny_processed["forecasts"]),
            "time_splits": MemoryDataset(tiny_processed["splits"].to_dict()),
            "rpt_rl_alignment_summary": MemoryDataset(alignment),
            "rpt_rl_training_curves": MemoryDataset(curves),
            "rpt_recommend_summary": MemoryDataset(RECOMMEND_SUMMARY),
            "rpt_recommend_by_dc_category": MemoryDataset(RECOMMEND_BY_DC),
            **{name: KeptDataset() for name in kept},
        }
    )
    catalog["params:evaluation"] = evaluation_params().model_dump(mode="json")
    catalog["params:or_labeling"] = OR_PARAMS.model_dump(mode="json")
    catalog["params:rl_alignment"] = rl_params(tmp_path).model_dump(mode="json")
    catalog["params:execution"] = {"executor": {"kind": "serial"}}
    catalog["params:seed"] = SEED
    catalog["params:data_is_demo"] = True
    catalog["params:currency"] = "EUR"
    outputs = SequentialRunner().run(create_pipeline(), catalog)
    result = {name: value.load() if hasattr(value, "load") else value for name, value in outputs.items()}
    return catalog, result


def test_evaluation_on_an_in_memory_catalog(evaluation_run):
    catalog, result = evaluation_run

    per_lane = catalog.load("mo_evaluation_lane_kpis")
    assert list(dict.fromkeys(per_lane["policy"])) == POLICIES
    # every policy saw the same demand on every lane
    assert per_lane.groupby("lane_id")["demand_units"].nunique().eq(1).all()
    kpis = catalog.load("rpt_evaluation_kpis")
    overall = kpis[kpis["scope"] == "all"].set_index("policy")
    assert (overall["total_cost_ci_low"] <= overall["total_cost"]).all() and (
        overall["total_cost"] <= overall["total_cost_ci_high"]
    ).all()
    # the network and the aligned policy are the same payload here: identical decisions and KPIs
    assert overall.loc["orpr", "total_cost"] == overall.loc["pretrained", "total_cost"]
    timing = catalog.load("rpt_evaluation_decision_time").set_index("policy")
    assert (timing["ms_per_1000_decisions"] > 0).all() and set(timing.index) == set(POLICIES)
    baseline = kpis["reference_policy"].iloc[0]
    assert baseline in ("incumbent", "base_stock", "tuned_base_stock")
    cheapest = overall.loc[["incumbent", "base_stock", "tuned_base_stock"], "total_cost"].idxmin()
    assert baseline == cheapest  # the strictest classic bar
    assert overall.loc[baseline, "total_cost_change_vs_reference"] == 0.0
    or_calibration = catalog.load("rpt_or_calibration").set_index("category")
    assert or_calibration.loc["all", "realised_cost"] == pytest.approx(
        or_calibration.drop(index="all")["realised_cost"].sum()
    )
    assert (or_calibration["expected_cost"] > 0).all()
    tuning = catalog.load("rpt_tuned_base_stock")
    assert tuning.groupby("category")["chosen"].sum().eq(1).all() and tuning["orpr_network"].eq("pretrained").all()
    targets = catalog.load("rpt_evaluation_targets")
    assert len(targets) == 9 and targets["met"].dtype == bool
    assert targets["target"].tolist()[:4] == [
        f"total cost vs {baseline}",
        f"in-stock vs {baseline}",
        f"OR teacher vs {baseline}",
        "aligned vs pretrained",
    ]
    # the aligned network is evaluated apart from ORPR, without the service floor, and the target reads it
    alignment = targets.set_index("target").loc["aligned vs pretrained"]
    assert not alignment["met"] and alignment["measured"] == (
        "+0.0% [+0.0%, +0.0%] (both networks without ORPR's service floor)"
    )
    assert {"orpr", "aligned", "pretrained"} <= set(catalog.load("mo_evaluation_lane_kpis")["policy"])
    assert (
        "On the test period the aligned network cost +0.0% [+0.0%, +0.0%] against the pretrained one"
        in (result["rpt_report_markdown"])
    )
    assert catalog.load("rpt_evaluation_transfer").empty  # no holdout categories in the tiny data
    sweep = catalog.load("rpt_evaluation_tradeoff")
    assert sweep["alpha"].tolist() == [0.9, 0.99]
    # a stricter service level buys in-stock with stock
    assert sweep["in_stock_rate"].iloc[1] >= sweep["in_stock_rate"].iloc[0]
    log = catalog.load("rpt_evaluation_solver_log")
    assert set(log["policy"]) == {"or_policy", "or_hindsight"}

    units = catalog.load("mo_field_test_units")
    assert units["treated"].sum() == units["control"].sum() > 0
    effects = catalog.load("rpt_field_test_did")
    assert effects["outcome"].tolist() == ["days_of_stock", "in_stock_rate", "holding_cost"]
    assert effects["true_effect"].notna().all()

    figures = result["rpt_report_figures"]
    assert set(figures) == {"kpi_comparison.png", "tradeoff.png", "trajectories.png", "field_test.png", "rl_curves.png"}
    assert all(f"](figures/{name})" in result["rpt_report_markdown"] for name in figures)
    assert all(isinstance(figure, Figure) for figure in figures.values())
    text, page = result["rpt_report_markdown"], result["rpt_report_html"]
    assert text.startswith("# ORPR evaluation report") and "## Targets" in text and "Hindsight OR" in text
    assert "](figures/kpi_comparison.png)" in text and "<table>" in page
    assert "**Demo data.**" in text  # params:data_is_demo
    # the HTML embeds every figure (it can be mailed alone), the Markdown links them
    assert 'src="figures/' not in page
    assert page.count('src="data:image/png;base64,') == text.count("](figures/") == len(figures)
    images = catalog.load("rpt_report_images")
    assert set(images) == set(figures)
    assert all(base64.b64decode(data).startswith(PNG_SIGNATURE) for data in images.values())
    assert '<div class="table-scroll"><table>' in page and page.count("<table>") == page.count('table-scroll"')


def test_the_report_prints_numbers_in_their_units_and_summarises_the_orders(evaluation_run):
    text = evaluation_run[1]["rpt_report_markdown"]
    # no scientific notation, no four-decimal effects: money with separators and the currency, effects in units
    assert not re.search(r"\de[+-]\d", text) and not re.search(r"\d\.\d{4}\b", text)
    assert "| policy | total cost (EUR) | holding (EUR) | lost sales (EUR) | ordering (EUR) |" in text
    assert "| outcome | estimated effect | 95% interval | p-value | true effect |" in text
    assert "| days of stock (days) |" in text and "| in-stock rate (points) |" in text
    assert "| holding cost (EUR per SKU-DC and day) |" in text
    # this run's orders: totals, links to the files beside the report, per DC
    assert "## This run's orders" in text
    assert (
        "For the review date 2025-10-28 (inventory snapshot of 2025-10-27): 15 orders for 1,234 units worth "
        "15,910 EUR, over 23 SKU-DCs with a snapshot row (and 1 without one: no order was computed for it); 1 of "
        "them, without enough sales history, ordered by the incumbent rule. Mean stock-out risk until the next "
        "review: 8.7%."
    ) in text
    assert "[orders.csv](../07_model_output/orders.csv)" in text
    assert "[recommendations.csv](../07_model_output/recommendations.csv)" in text
    assert "| DC01 | 12 | 8 | 700 | 9,000 | 5.0% | 30.0% |" in text and "| **all DCs** | 24 | 15 |" in text
    # right after the verdict, before the targets
    assert text.index("**Verdict:") < text.index("## This run's orders") < text.index("## Targets")


def test_the_report_opens_against_the_strongest_baseline_and_breaks_it_down(evaluation_run):
    catalog, result = evaluation_run
    text = result["rpt_report_markdown"]
    kpis = catalog.load("rpt_evaluation_kpis")
    baseline = kpis["reference_policy"].iloc[0]
    label = POLICY_LABELS[baseline].lower()
    # the first paragraphs: the demo banner, then ORPR against the strongest classic policy, then the verdict
    paragraphs = [block for block in text.split("\n\n")[1:] if block.strip()]
    assert paragraphs[0].startswith("> **Demo data.**")
    assert paragraphs[1].startswith("On held-out demand") and f"against {label}, the strongest policy" in paragraphs[1]
    assert paragraphs[2].startswith("**Verdict: ")
    # per category: cost, in-stock and turnover, each for every policy and every category
    section = text.split("## Per category")[1].split("\n## ")[0]
    categories = sorted(set(kpis.loc[kpis["scope"] != "all", "scope"]))
    header = "| category | " + " | ".join(POLICY_LABELS[p] for p in POLICIES) + " |"
    for title in ("Total cost (EUR):", "In-stock:", "Turnover (days):"):
        table = section.split(title)[1].strip().split("\n\n")[0].splitlines()
        assert table[0] == header and [row.split(" | ")[0].lstrip("| ") for row in table[2:]] == categories
    # the SKU-DCs where ORPR does worst: at most ten, the largest extra cost first
    lane_kpis = catalog.load("mo_evaluation_lane_kpis")
    n_worst = min(10, lane_kpis["lane_id"].nunique())
    worst = text.split(f"## The {n_worst} SKU-DCs where ORPR does worst against {label}")[1].split("\n## ")[0]
    rows = [row for row in worst.splitlines() if row.startswith("| ") and not row.startswith("| SKU |")]
    extra = [float(row.split(" | ")[-1].rstrip(" |").replace(",", "")) for row in rows]
    assert len(rows) == n_worst and extra == sorted(extra, reverse=True), worst
    costs = lane_kpis.pivot_table(index="lane_id", columns="policy", values="total_cost")
    assert extra[0] == pytest.approx((costs["orpr"] - costs[baseline]).max(), abs=0.5)


def test_targets_and_the_field_test_are_one_console_line_each(evaluation_run, caplog):
    catalog, _ = evaluation_run
    params = catalog.load("params:evaluation")
    with caplog.at_level(logging.INFO, logger="orpr_kedro.pipelines.evaluation.nodes"):
        targets = nodes.check_targets(
            catalog.load("rpt_evaluation_kpis"), catalog.load("rpt_evaluation_decision_time"), params
        )
        nodes.estimate_field_test(
            catalog.load("mo_field_test_daily"),
            catalog.load("mo_field_test_units"),
            catalog.load("time_splits"),
            params,
            "EUR",
        )
    lines = [record.getMessage() for record in caplog.records if record.levelno >= logging.INFO]
    assert len(lines) == 2
    assert lines[0].startswith(f"Targets: {int(targets['met'].sum())} of {len(targets)} met")
    assert lines[1].startswith("Field test (difference-in-differences, per SKU-DC and day): days of stock (days) ")
    assert "EUR" in lines[1] and "currency" not in lines[1]
    assert "in-stock rate (points)" in lines[1] and not re.search(r"\d\.\d{4}", lines[1])


def test_the_report_figures_share_the_policy_colours_and_the_tradeoff_labels_do_not_overlap(evaluation_run):
    plots = evaluation_run[1]["rpt_report_figures"]
    bars = {p.get_label(): to_hex(p.get_facecolor()) for p in plots["kpi_comparison.png"].axes[1].patches}
    lines = {line.get_label(): to_hex(line.get_color()) for line in plots["trajectories.png"].axes[0].get_lines()}
    points = {c.get_label(): to_hex(c.get_facecolor()[0]) for c in plots["tradeoff.png"].axes[0].collections}
    for policy in POLICIES:
        label = POLICY_LABELS[policy]
        assert bars[label] == lines[label] == points[label] == POLICY_COLOURS[policy].lower()
    figure = plots["tradeoff.png"]
    alphas = [text.get_text() for text in figure.axes[0].texts]
    assert alphas == ["α 0.9", "α 0.99"]
    # no two texts overlap, the alpha labels included, as drawn on screen and as saved (the catalog's dpi)
    screen = figure.dpi
    for dpi in (screen, FIGURE_DPI):
        figure.set_dpi(dpi)
        canvas = FigureCanvasAgg(figure)
        canvas.draw()
        boxes = text_boxes(figure, canvas.get_renderer())
        assert len(boxes) > 10 and set(alphas) <= {text.get_text() for text, _ in boxes}
        assert [(a.get_text(), b.get_text()) for a, b in overlapping_texts(figure, canvas.get_renderer())] == []
    figure.set_dpi(screen)


@pytest.mark.browser
def test_the_html_report_renders_in_headless_chromium(evaluation_run, tmp_path):
    """The self-contained report, alone in a folder, renders in Chromium with its images and no overflow."""
    require_chromium()
    page = evaluation_run[1]["rpt_report_html"]
    assert 'src="figures/' not in page and 'src="data:image/png;base64,' in page
    (tmp_path / "report.html").write_text(page, encoding="utf-8")  # no figures/ folder beside it
    screenshot = tmp_path / "report.png"
    run = [CHROMIUM, *CHROMIUM_FLAGS, "--window-size=1280,4000", "--virtual-time-budget=5000"]
    subprocess.run(
        [
            *run,
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={screenshot}",
            (tmp_path / "report.html").as_uri(),
        ],
        check=True,
        timeout=120,
        capture_output=True,
    )
    image = plt.imread(screenshot)  # raises unless it is a PNG
    assert image.shape[:2] == (4000, 1280)
    pixels = image[..., :3].reshape(-1, 3)
    # not blank: text, tables and the figures' colours, not one background colour
    assert len(np.unique(np.round(pixels * 255).astype(np.uint8), axis=0)) > 200
    assert (pixels.std(axis=1) > 0.1).mean() > 0.001  # coloured pixels: the embedded plots were drawn
    # every embedded image decoded (a broken one has naturalWidth 0) and no table widens the page
    script = (
        "<script>window.onload=()=>{const broken=[...document.images].filter(i=>!i.naturalWidth).length;"
        "document.title='images='+document.images.length+' broken='+broken+' overflow='"
        "+(document.documentElement.scrollWidth>document.documentElement.clientWidth)}</script>"
    )
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", script + "</body>"), encoding="utf-8")
    dom = subprocess.run(
        [*run, f"--user-data-dir={tmp_path / 'profile2'}", "--dump-dom", probe.as_uri()],
        check=True,
        timeout=120,
        capture_output=True,
        text=True,
    ).stdout
    n_images = page.count('src="data:image/png;base64,')
    assert f"<title>images={n_images} broken=0 overflow=false</title>" in dom


def test_decisions_at_each_review_day_leave_the_rules_unchanged(evaluation_run):
    """``decision_cadence: review`` on the same inputs: the rules' KPIs are the weekly run's, lane by lane,
    and a lane decides once per review day (a daily lane on every day of the week)."""
    catalog, _ = evaluation_run
    node = create_pipeline().filter(node_names=["evaluate_policies"]).nodes[0]
    params = catalog.load("params:evaluation") | {"decision_cadence": "review"}
    inputs = {name: params if name == "params:evaluation" else catalog.load(name) for name in node.inputs}
    outputs = node.run(inputs)
    weekly, review = catalog.load("mo_evaluation_lane_kpis"), outputs["mo_evaluation_lane_kpis"]
    rules = ["incumbent", "base_stock", "tuned_base_stock"]

    def of_rules(table: pd.DataFrame) -> pd.DataFrame:
        return table[table["policy"].isin(rules)].sort_values(["policy", "lane_id"]).reset_index(drop=True)

    pd.testing.assert_frame_equal(of_rules(review), of_rules(weekly))
    decisions = outputs["mo_evaluation_decisions"]
    incumbent = decisions[decisions["policy"] == "incumbent"]
    per_week = incumbent.groupby("lane_id").size() / incumbent["decision_date"].dt.to_period("W").nunique()
    lanes = catalog.load("mi_training_lanes").set_index("lane_id")
    expected = np.ceil(7 / lanes.loc[per_week.index, "review_period"])
    assert (per_week.to_numpy() >= np.floor(7 / lanes.loc[per_week.index, "review_period"]).to_numpy()).all()
    assert (per_week.to_numpy() <= expected.to_numpy()).all()
    assert (incumbent["decision_date"].dt.dayofweek != 0).any()
