"""Settings: `base` is read from the environment; `test` adjusts it for the test suite."""
