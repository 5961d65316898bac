"""The ``hematoma-expansion`` command line: argument parsing and dispatch only."""
