"""``python -m nlx`` (also ``torchrun -m nlx train ...``)."""

from nlx.cli import main

main()
