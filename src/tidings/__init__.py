"""Tidings: a durable, queryable, access-controlled event log that reacts to what happens."""

__version__ = "0.1.0"
