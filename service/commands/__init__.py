"""`nestvec` subcommands too big for `service/cli.py`, one module each (cli.py lists them)."""
