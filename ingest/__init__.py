"""Connectors, one small class per market operator with the same verbs: fetch, parse; and the shared load."""
