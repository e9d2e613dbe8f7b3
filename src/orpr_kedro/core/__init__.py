"""Domain logic of ORPR in plain Python: no Kedro imports anywhere in this package.

Sub-packages in the order of the method (``docs/architecture.md`` has the map):

* ``data``: the raw data contract, the demo generator, primary tables, time splits;
* ``forecasting``: the global demand model, its uncertainty and accuracy;
* ``simulation``: the vectorised inventory simulator, rule policies, KPIs;
* ``optimization``: the multiple-choice OR model, its solver backends, labeling;
* ``learning``: model-input features, the foundation network, pretraining;
* ``rl``: the simulator as an environment, PPO and RLOO alignment;
* ``evaluation``: the closed-loop harness, intervals, field trial, DiD, report.

``params`` (typed parameters), ``executor`` (serial, process and Dask fan-out) and
``recommend`` (today's orders) serve all of them.
"""
