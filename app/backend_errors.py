"""What can go wrong with the numbers backend, raised where it is known."""

from __future__ import annotations

from http import HTTPStatus


class BackendError(Exception):
    """The backend failed us; `status` is what the client of /total gets."""

    status = HTTPStatus.BAD_GATEWAY
    title = "Numbers backend failed"


class BackendDataError(BackendError):
    """The backend's body is not a JSON array of numbers, or is cut short."""

    title = "Bad data from the numbers backend"


class BackendStatusError(BackendError):
    """The backend answered with a status other than 2xx."""

    title = "Numbers backend answered with an error"

    def __init__(self, status: int) -> None:
        super().__init__(f"the numbers backend answered HTTP {status}")


class BackendConnectionError(BackendError):
    """The backend could not be reached, or the connection broke during the answer."""

    title = "Numbers backend unreachable"


class BackendTimeoutError(BackendError):
    """The whole fetch, body included, took longer than the deadline."""

    status = HTTPStatus.GATEWAY_TIMEOUT
    title = "Numbers backend too slow"
