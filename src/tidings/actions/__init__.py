"""Built-in action runners (http, slack, email, …), used by workers only."""
