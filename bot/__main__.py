"""``python -m bot``: the command-line entry point (run / check / imagine / migrate)."""

from bot.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
