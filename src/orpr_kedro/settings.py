"""Project settings: hooks, configuration loader and session store.

See the Kedro documentation on configuration for the defaults this file changes.
"""

import warnings

from kedro.config import OmegaConfigLoader

from orpr_kedro.hooks import (
    DemoDataHooks,
    ErrorHintHooks,
    ExperimentTrackingHooks,
    ParameterValidationHooks,
    PlannerOutputsHooks,
    QuietConsoleHooks,
    RunInputHooks,
)
from orpr_kedro.manifest import RunManifestHooks

# Kedro validates the parameter blocks against the pydantic models the nodes declare, before any
# node runs; ParameterValidationHooks adds the top-level key and currency checks.
# Every run stages its unversioned tables in <data_root>/.staging/<run_id> and publishes
# them when it completes, then its manifest in <data_root>/08_reporting/run_manifests
# (orpr_kedro.staging); it reads versioned inputs from completed runs only (orpr_kedro.manifest).
# RunManifestHooks puts the catalog's own datasets back before PlannerOutputsHooks names their files.
# A raw table read only at the end of a run (the inventory snapshot) is checked first.
# A failure to read a raw file gets a hint on the likely cause (encoding).
# Experiment tracking only acts inside an MLflow run (kedro-mlflow, `make tracking`).
# Whether the data is the demo generator's becomes the parameter data_is_demo (DemoDataHooks).
# Kedro's per-node "Running node"/"Completed node" lines stay off the console (QuietConsoleHooks).
# ParameterValidationHooks is the first to read context.params (where Kedro validates the
# typed parameter blocks), so Kedro's error reaches the user as one line per key path.
# pluggy calls the hooks of one event last-registered first: PlannerOutputsHooks comes
# first so that its lines naming the report and the orders are the run's last.
HOOKS = (
    PlannerOutputsHooks(),
    RunManifestHooks(),
    RunInputHooks(),
    ErrorHintHooks(),
    ExperimentTrackingHooks(),
    ParameterValidationHooks(),  # called second: validates before any other hook reads context.params
    QuietConsoleHooks(),
    DemoDataHooks(),  # last registered, first called: params:data_is_demo exists before any hook reads it
)

CONFIG_LOADER_CLASS = OmegaConfigLoader
# Kedro's own config loader registers its resolvers through an OmegaConf call that the
# pinned OmegaConf calls deprecated: four UserWarnings of about ten lines each at the top
# of every run, about Kedro's code, not the project's, and nothing a user can act on.
warnings.filterwarnings(
    "ignore", message=r"register_new_resolver\(\) is deprecated", category=UserWarning, module=r"kedro\.config"
)
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # An environment may override a single nested parameter key without
    # restating its siblings.
    "merge_strategy": {"parameters": "soft"},
    "config_patterns": {
        # Kedro's credential files, plus the committed, secret-free defaults
        # (conf/base/credential_defaults.yml) that let a run start without them.
        "credentials": ["credentials*", "credentials*/**", "**/credentials*", "credential_defaults*"],
        # Settings of the demo raw-data generator (`kedro demo-data`): kept out of
        # the parameters because no pipeline node reads them.
        "demo_data": ["demo_data*", "demo_data*/**"],
    },
}
