"""The `ftscale` command: one dispatch table (`main.py`) over the subcommands, one parser style
(`parsing.py`, shared options defined once), and the LightningCLI subclass behind fit/validate/test."""
