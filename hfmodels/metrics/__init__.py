"""`evaluate` metric modules that ship with the package and work offline (no Hub download).
Import from the submodules and instantiate directly, e.g. `hfmodels.metrics.exact_match.ExactMatch()`."""
