"""Native resources, one module each."""
