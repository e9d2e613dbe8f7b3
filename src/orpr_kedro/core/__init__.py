"""Domain logic of ORPR in plain Python: no Kedro imports anywhere in this package.

Modules: ``demo_data`` (raw data generator), ``contract`` (raw data contract and its
validation), ``costs``, ``forecasting``, ``features``, ``splits``; later stages add
``simulation``, ``kpi``, ``policies``, ``optimization``, ``models`` and ``rl``.
"""
