"""nlc train (see nlc/train/cli.py for the commands)."""
