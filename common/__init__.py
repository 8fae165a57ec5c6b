"""Code shared by the domain + API side and the worker side."""
