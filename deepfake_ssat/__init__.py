"""deepfake-ssat: ViTs trained jointly on classification and masked reconstruction (SSAT)."""

__version__ = "0.1.0"
