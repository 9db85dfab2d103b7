"""Decoding and scoring of trained models, analyses and ensembles."""
