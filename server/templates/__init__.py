"""Ready-to-use entities and processes, as definition files."""
