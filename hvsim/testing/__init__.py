"""Running guest images as tests, the way xtf-runner does.

* hvsim.testing.runner: the `hvsim test` command (discovery, a process pool
  of `hvsim run` subprocesses, progress, summary, JUnit XML).
* hvsim.testing.pytest_plugin: `pytest --hvsim-guests DIR` runs the same
  guests as pytest items through the same runner code.
"""
