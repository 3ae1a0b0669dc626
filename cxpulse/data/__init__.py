"""Data files shipped with cxpulse (the starter lexicon)."""
