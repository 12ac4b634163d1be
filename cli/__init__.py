"""The `ftscale` command: one dispatch table (`main.py`) over the subcommands, one parser style (typed functions,
`commands.py`; shared options defined once, `options.py`), and the LightningCLI subclass behind fit/validate/test."""
