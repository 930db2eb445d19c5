"""``python -m docflow ...``: the ``docflow`` command, where its script is not on PATH."""

from docflow.cli import main

main()
