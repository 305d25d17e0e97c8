"""``mlscale report``: a run's statistics (pure), its figures, one HTML page, thresholds."""
