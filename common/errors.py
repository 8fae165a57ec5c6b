"""Errors the domain services raise; the API layer maps them to responses
(``config.api.exception_handler``), so services stay free of HTTP and DRF."""

from __future__ import annotations

from typing import Any


class InvalidInput(ValueError):
    """Input a service refuses: ``errors`` maps each field to its messages (or, for a
    nested field, to a mapping of the same shape). Answered as 400 with that body."""

    def __init__(self, errors: dict[str, Any]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{field}: {messages}" for field, messages in errors.items()))
