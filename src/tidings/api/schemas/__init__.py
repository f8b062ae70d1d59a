"""Request and response shapes of the native API (`XCreate` in, plain dicts out)."""
