"""envs stage."""
