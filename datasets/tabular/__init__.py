"""Tabular dataset versions on the server: registration (inference), preview, profile.

Parsing lives in ``runyard.tabular`` (shared with the SDK, so a dataset reads the same in
a run as in the dashboard); this package wires it to versions, blobs and the API.
"""
