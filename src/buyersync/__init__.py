"""buyersync: keep a database table of buyers in step with a spreadsheet, and prove it."""

__version__ = "0.1.0"
