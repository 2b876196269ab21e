"""``python -m sim``: the ``escalation`` command."""

from sim.cli import main

main()
