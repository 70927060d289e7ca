"""What can go wrong with the numbers backend, raised where it is known."""

from __future__ import annotations

from http import HTTPStatus


class BackendError(Exception):
    """The backend failed us; `status` is what the client of /total gets.

    The message is the client's, in the service's words; `cause`, what a library said
    (it can name the backend's host and port), goes to the log only.
    """

    status = HTTPStatus.BAD_GATEWAY
    title = "Numbers backend failed"
    # The fetch's outcome in the metrics (numbers_backend_fetches).
    outcome = "failed"

    def __init__(self, message: str, cause: str = "") -> None:
        super().__init__(message)
        self.cause = cause
        self.headers: dict[str, str] = {}
        # The fetch that failed, named in the access log of every request it answered.
        self.fetch_id: str | None = None

    def for_log(self) -> str:
        return f"{self} ({self.cause})" if self.cause else str(self)


class BackendDataError(BackendError):
    """The backend's body is not a JSON array of numbers, or is cut short."""

    title = "Bad data from the numbers backend"
    outcome = "bad_data"


class BackendStatusError(BackendError):
    """The backend answered with a status other than 2xx."""

    title = "Numbers backend answered with an error"
    outcome = "bad_status"

    def __init__(self, status: int) -> None:
        super().__init__(f"the numbers backend answered HTTP {status}")


class BackendConnectionError(BackendError):
    """The backend could not be reached, or the connection broke during the answer."""

    title = "Numbers backend unreachable"
    outcome = "unreachable"


class BackendTimeoutError(BackendError):
    """The whole fetch, body included, took longer than the deadline."""

    status = HTTPStatus.GATEWAY_TIMEOUT
    title = "Numbers backend too slow"
    outcome = "timeout"


class BackendUnavailableError(BackendError):
    """The backend failed too often in a row: the circuit breaker answers for it for a while."""

    status = HTTPStatus.SERVICE_UNAVAILABLE
    title = "Numbers backend unavailable"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.headers["Retry-After"] = str(retry_after)
