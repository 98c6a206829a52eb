"""The package version (one place: the package, records and model cards read it from here)."""
__version__ = "0.2.0"
