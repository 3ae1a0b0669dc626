"""cxpulse: consistency and dazzle / de-dazzle scores for contact centers, streamed."""
