"""Where replicas live. Commands talk to a ``Backend`` and never ask which one they have."""
