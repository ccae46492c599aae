"""Robustness campaign (issue #13): fuzz targets for every parser, and the soak run.

Not part of the shipped packages and not collected by pytest (``testpaths = ["tests"]``).
Entry point: ``python -m fuzz`` (see ``fuzz/README.md``). Modules:

* ``targets``: one function per parser, with the exceptions it is documented to raise;
* ``engine``: runs a target under atheris (libFuzzer, coverage-guided) in a child
  process, or under hypothesis when atheris is not installed, and collects the figures;
* ``seeds``: writes the seed corpora ``fuzz/corpus/<target>/`` from ``tests/vectors``;
* ``soak``: 100 000 APDUs through the host library, a paced pty and ``cpsdi sim``.
"""
