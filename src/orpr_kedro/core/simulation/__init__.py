"""Simulation: the vectorised daily inventory kernel, rule policies, KPIs and period backtests."""
