"""Redis repositories. `keys` is the only module that knows key names."""
