"""The load generator: open-loop sender, outcome receiver, and the run that ties them together."""
