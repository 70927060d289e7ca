"""What can go wrong with the numbers backend, raised where it is known.

BackendError                    502, the fetch failed
├── BackendDataError            502, the body is not a JSON array of numbers
├── BackendStatusError          502, a non-2xx answer (retryable: 502, 503, 504)
├── BackendConnectionError      502, unreachable (retryable), or broken mid-body
├── BackendTimeoutError         504, the whole fetch outlasted its deadline
├── BackendUnavailableError     503, the circuit breaker answers for the backend
└── UnexpectedFetchError        500, anything else: a fault of the service's own
FetchFailedError                a fetch's failure, with its report, for every request that waited
"""

from __future__ import annotations

from http import HTTPStatus

# Answers worth asking again: the backend or a proxy in front of it is briefly unavailable.
RETRY_STATUSES = frozenset({502, 503, 504})


class BackendError(Exception):
    """The backend failed us; `status` is what the client of /total gets.

    The message is the client's, in the service's words; `cause`, what a library said
    (it can name the backend's host and port), goes to the log only. `retryable`: asking
    the backend again may succeed (said only of failures before a body was read).
    """

    status = HTTPStatus.BAD_GATEWAY
    title = "Numbers backend failed"
    # The fetch's outcome in metrics and logs.
    outcome = "failed"

    def __init__(self, message: str, cause: str = "", retryable: bool = False) -> None:
        super().__init__(message)
        self.cause = cause
        self.retryable = retryable

    @property
    def headers(self) -> dict[str, str]:
        """Headers of the answer to the client."""
        return {}

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
        super().__init__(f"the numbers backend answered HTTP {status}", retryable=status in RETRY_STATUSES)


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
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class UnexpectedFetchError(BackendError):
    """A fetch failed in a way the service did not foresee: its own fault, counted like the others."""

    status = HTTPStatus.INTERNAL_SERVER_ERROR
    title = "Unexpected error in a fetch"
    outcome = "error"

    def __init__(self, error: Exception) -> None:
        super().__init__("the fetch failed unexpectedly; the service's log says why", cause=repr(error))
        # The traceback goes to the log with the failure.
        self.__cause__ = error
