"""medsafe: medication-safety platform."""

__version__ = "0.1.0"
