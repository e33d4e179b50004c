"""Audio front end: log-mel features aligned to 25 fps and per-frame voice activity."""
