"""Demand forecasting: the global model with a negative-binomial spread, and its accuracy."""
