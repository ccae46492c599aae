"""``python -m cpsdi``."""

from cpsdi.cli import main

main()
