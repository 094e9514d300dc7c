"""The process engine: pure values and rules, no I/O."""
