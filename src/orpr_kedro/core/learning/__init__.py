"""Learning: model-input features, the foundation network and its staged pretraining."""
