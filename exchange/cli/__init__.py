"""The `exchange` command line (Typer + Rich). Each command owns its database transaction."""
