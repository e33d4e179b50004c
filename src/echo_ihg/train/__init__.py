"""Two-stage training of the ECHO motion generator (config, losses, checkpoints, trainer)."""
