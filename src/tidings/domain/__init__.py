"""The pure core: values and decisions, no I/O. Everything here is tested without a database."""
