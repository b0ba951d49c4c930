"""Datasets, samplers and augmentation for images and face-track video clips."""
