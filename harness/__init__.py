"""What the tests and the benchmarks share: real service processes on 127.0.0.1, sample images, the
overload scenario. Neither imports the other; both import this."""
