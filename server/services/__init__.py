"""Use cases: load, decide with the domain, save and audit in one transaction, publish after."""
