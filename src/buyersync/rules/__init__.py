"""Pure decision functions: they take facts and return values, and never do I/O."""
