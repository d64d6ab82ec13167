"""Development-machine tooling shared by the tests, the benchmarks and local environments."""
