"""The package version (read by pyproject.toml and ``tbactviz --version``)."""

__version__ = "0.1.0"
