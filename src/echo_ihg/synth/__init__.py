"""Synthetic dyadic conversations with known ground truth (docs/architecture.md component 5, docs/synth.md).

espeak.py (speech + phoneme timing) · grammar.py / dialogue.py (scripts) · timeline.py (turn layout,
backchannels, transcript) · visemes.py · behaviour.py (planted dependencies) · rig.py (controls →
landmarks) · generate.py (sessions, corpus, splits) · detectors.py (metrics of the planted dependencies).
"""
