"""The command-line interface: a thin layer over the services (see main.py)."""
