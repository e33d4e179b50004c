"""Sessions: the on-disk dyadic session format, transcripts, cached derived features."""
