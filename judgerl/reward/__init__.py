"""reward stage."""
