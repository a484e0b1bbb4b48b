"""End-to-end recipes, one module each."""
