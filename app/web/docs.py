"""The API description: /openapi.json (OpenAPI 3.1, generated from the routes by quart-schema)
and /docs (Swagger UI, served by the service itself from swagger-ui-py's packaged copy, so
that the page works with no internet)."""

from __future__ import annotations

import importlib.resources
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, Field, RootModel
from quart import Blueprint, Quart
from quart_schema import QuartSchema, document_response
from quart_schema.openapi import OpenAPIProvider
from werkzeug.routing import Rule

T = TypeVar("T", bound=Callable[..., Any])

# Swagger UI's scripts, styles and licence, as swagger-ui-py ships them.
SWAGGER_UI_FILES = Path(str(importlib.resources.files("swagger_ui") / "static"))

assets = Blueprint("docs_assets", __name__, static_folder=SWAGGER_UI_FILES, static_url_path="/docs/assets")

DESCRIPTION = """The exact sum of a list of numbers held by a backend service.

Every number counts as the exact decimal it was written as. The total of integers is an
exact integer of any width. Once any number is written with a fraction or an exponent, the
total is the float nearest the exact decimal sum, rounded once at the end: `[0.1, 0.2]`
gives `0.3`. A total of zero from decimals is `0.0`, never `-0.0`.

Every response the service answers carries `X-Request-ID`. Errors are RFC 9457
`application/problem+json`; besides those listed with each operation, a path not listed
here answers 404, and a method a path does not take 405 with `Allow` (the `NotFound` and
`MethodNotAllowed` responses among the components)."""


class Total(BaseModel):
    """The exact sum of the backend's numbers."""

    total: int | float = Field(
        description="An integer when every number is one (exact, any width); otherwise the "
        "float nearest the exact decimal sum.",
        examples=[50000005000000],
    )


class Problem(BaseModel):
    """An error, as RFC 9457 problem details."""

    media_type: ClassVar[str] = "application/problem+json"
    type: str = Field(examples=["about:blank"])
    title: str = Field(examples=["Bad data from the numbers backend"])
    status: int = Field(examples=[502])
    detail: str = Field(examples=["item 2 is a string, not a number"])


class Health(BaseModel):
    """The service is alive; the backend is not asked."""

    status: str = Field(examples=["ok"])


class Ready(BaseModel):
    """The instance takes traffic; the backend is not asked."""

    status: str = Field(examples=["ready"])


class Metrics(RootModel[str]):
    """Every metric in the Prometheus text format."""

    media_type: ClassVar[str] = "text/plain"


class TotalHeaders(BaseModel):
    server_timing: str
    x_fetch_id: str
    # With the freshness windows set (TOTAL_MAX_AGE, TOTAL_STALE_WHILE_REVALIDATE) only.
    cache_control: str | None = None
    age: str | None = None
    etag: str | None = None


class RetryHeaders(BaseModel):
    retry_after: str


# Headers of responses, by name: what each holds.
HEADERS = {
    "X-Request-ID": "The request's id: the client's if well-formed (letters, digits, -._; up to 128), "
    "or a new one",
    "Server-Timing": "wait;dur=<ms waiting for the fetch>, sum;dur=<ms adding up>, "
    "fetch;desc=started|joined|fresh|stale",
    "Cache-Control": "With TOTAL_MAX_AGE or TOTAL_STALE_WHILE_REVALIDATE set: max-age=<TOTAL_MAX_AGE> and, "
    "if set, stale-while-revalidate=<TOTAL_STALE_WHILE_REVALIDATE>, in whole seconds",
    "Age": "With Cache-Control: whole seconds since the total's fetch ended; the total may be reused "
    "while Age is below max-age",
    "ETag": "With Cache-Control: a strong tag of the body, the same for the same total on every instance",
    "X-Fetch-ID": "The fetch whose total (or failure) answered: its id in the service's logs; a shared "
    "fetch's requests all name it",
    "Retry-After": "Seconds after which asking again may succeed",
    "Allow": "The methods the path takes",
}


# What each status means, for the description of every response with it.
STATUSES = {
    200: "",
    304: "If-None-Match named the total's ETag: the total has not changed; no body.",
    413: "The request has a body: no route takes one. The connection is closed.",
    431: "The request has more than 100 headers. The connection is closed.",
    500: "An unexpected error in the service (its log has the traceback).",
    502: "The backend could not be reached, answered a non-2xx status, or sent a body that is "
    "not a JSON array of numbers in the accepted range.",
    503: "The backend keeps failing (the circuit breaker answers for it), or the service is shutting "
    "down; from /readyz: the instance drains before shutting down (DRAIN_SECONDS).",
    504: "The backend did not deliver within NUMBERS_API_TIMEOUT.",
}
# Statuses any route may answer.
EVERY_ROUTE = (413, 431, 500)


def documented(
    model: type[BaseModel], *problems: int, headers: type[BaseModel] | None = None
) -> Callable[[T], T]:
    """Document a route's 200 `model` (with `headers`) and the problem statuses it may answer
    besides EVERY_ROUTE's."""

    def decorate(view: T) -> T:
        view = document_response(model, 200, headers)(view)
        for status in (*problems, *EVERY_ROUTE):
            view = document_response(Problem, status, RetryHeaders if status == 503 else None)(view)
        return view

    return decorate


class ResponsesProvider(OpenAPIProvider):
    """quart-schema's provider, with each model's media type and headers where OpenAPI puts
    them, and each status's description."""

    def generate_rules(self) -> Any:
        return (rule for rule in super().generate_rules() if not _is_asset(rule))

    _document: dict[str, Any] | None = None

    def schema(self) -> dict[str, Any]:
        """The document, made at the first request for it: the routes are fixed by then."""
        if self._document is None:
            self._document = self._with_unlisted_answers(super().schema())
        return self._document

    @staticmethod
    def _with_unlisted_answers(document: dict[str, Any]) -> dict[str, Any]:
        """The answers no operation can list: to a path that does not exist (404) and to a
        method a path does not take (405, with Allow)."""
        problem = {"$ref": "#/components/schemas/Problem"}
        document["components"]["schemas"]["Problem"] = Problem.model_json_schema()
        document["components"]["responses"] = {
            name: {
                "description": description,
                "content": {Problem.media_type: {"schema": problem}},
                "headers": {
                    header: {"description": HEADERS[header], "schema": {"type": "string"}}
                    for header in headers
                },
            }
            for name, description, headers in (
                ("NotFound", "404: no route has this path.", ("X-Request-ID",)),
                ("MethodNotAllowed", "405: the path does not take this method.", ("X-Request-ID", "Allow")),
            )
        }
        return document

    def build_paths(self, rule: Rule) -> tuple[dict[str, Any], dict[str, Any]]:
        paths, components = super().build_paths(rule)
        for operations in paths.values():
            for operation in operations.values():
                for status, response in operation["responses"].items():
                    response["description"] = STATUSES[status] or response["description"]
            if "get" in operations:
                _add_not_modified(operations["get"])
                operations["head"] = _head_of(operations["get"])
            operations["options"] = _options_of(operations)
        return paths, components

    def build_response_object(
        self, model: type[Any], headers_model: type[Any] | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        response, definitions = super().build_response_object(model, headers_model)
        content = response["content"]
        named = content.pop("headers", {})
        content[getattr(model, "media_type", "application/json")] = content.pop("application/json")
        response["headers"] = {
            name: {"description": HEADERS[name], "schema": {"type": "string"}}
            for name in ["X-Request-ID", *(_header_name(key) for key in named)]
        }
        return response, definitions


def _add_not_modified(get: dict[str, Any]) -> None:
    """An operation whose 200 has an ETag takes If-None-Match and may answer 304."""
    ok = get["responses"][200]
    if "ETag" not in ok["headers"]:
        return
    get.setdefault("parameters", []).append(
        {
            "name": "If-None-Match",
            "in": "header",
            "required": False,
            "description": "ETags of totals the client holds; the current one gets 304 with no body",
            "schema": {"type": "string"},
        }
    )
    get["responses"][304] = {"description": STATUSES[304], "headers": ok["headers"]}


def _head_of(get: dict[str, Any]) -> dict[str, Any]:
    """HEAD: GET's statuses and headers, with no body."""
    responses = {
        status: {key: value for key, value in response.items() if key != "content"}
        for status, response in get["responses"].items()
    }
    return {**get, "operationId": "head" + get["operationId"].removeprefix("get"), "responses": responses}


def _options_of(operations: dict[str, Any]) -> dict[str, Any]:
    """OPTIONS: 204 with the methods the path takes in Allow, and the problems of every route."""
    get = next(iter(operations.values()))
    problems = {status: answer for status, answer in get["responses"].items() if status in EVERY_ROUTE}
    return {
        "summary": "The methods this path takes",
        "operationId": "options" + get["operationId"].removeprefix("get"),
        "responses": {
            204: {
                "description": "The methods this path takes, in Allow; no body.",
                "headers": {
                    name: {"description": HEADERS[name], "schema": {"type": "string"}}
                    for name in ("X-Request-ID", "Allow")
                },
            },
            **problems,
        },
    }


def _header_name(kebab: str) -> str:
    """`etag` as `ETag`: quart-schema names a headers model's fields in kebab case."""
    return {name.lower(): name for name in HEADERS}[kebab]


def _is_asset(rule: Rule) -> bool:
    endpoint: str = rule.endpoint
    return endpoint.startswith(f"{assets.name}.")


def init_app(app: Quart) -> None:
    """Serve /openapi.json and /docs, with Swagger UI's files from this service."""
    app.config["QUART_SCHEMA_SWAGGER_JS_URL"] = "/docs/assets/swagger-ui-bundle.js"
    app.config["QUART_SCHEMA_SWAGGER_CSS_URL"] = "/docs/assets/swagger-ui.css"
    # quart-schema wraps make_response to turn views' pydantic models into JSON, at a cost on
    # every response (docs/design.md, "The request path's own work"); no view here returns a
    # model, so Quart's own is kept and the models only describe the API.
    make_response = app.make_response
    QuartSchema(
        app,
        info={"title": "total-service", "version": "1.0.0", "description": DESCRIPTION},
        redoc_ui_path=None,
        scalar_ui_path=None,
        openapi_provider_class=ResponsesProvider,
    )
    app.make_response = make_response  # type: ignore[method-assign]
    app.register_blueprint(assets)
