"""Announcing committed events to live subscribers."""
