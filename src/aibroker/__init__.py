"""aibroker: an AI mortgage-broker chat for lead-generation businesses."""

__version__ = "0.1.0"
