"""What a person watches during a load test: the Rich view for a terminal, a line per second otherwise."""
