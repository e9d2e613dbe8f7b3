"""Optimisation: the simulation-augmented multiple-choice model, solver backends and labeling."""
