"""Use cases. Each owns its transaction; storage functions below never commit."""
