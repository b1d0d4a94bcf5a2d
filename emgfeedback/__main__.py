"""``python -m emgfeedback`` runs the command line."""

from emgfeedback.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
