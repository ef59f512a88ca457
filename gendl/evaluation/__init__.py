"""Evaluation of trained models: importance-sampled log-likelihood and anomaly-detection AUC."""
