"""queries stage."""
