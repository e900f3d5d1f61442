"""nlc verify (see nlc/verify/cli.py for the commands)."""
