"""/openapi.json and /docs: a valid document of every route, and docs served by the service."""

from __future__ import annotations

import re
from typing import Any

from openapi_spec_validator import validate
from quart import Quart
from quart.typing import TestClientProtocol as QuartClient

from app.web.docs import EVERY_ROUTE

# Routes that serve the description itself and its page's files, not the API.
NOT_API = {"/openapi.json", "/docs", "/docs/assets/<path:filename>"}


async def document(client: QuartClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = await response.get_json()
    return body


async def test_the_document_is_valid_openapi(client: QuartClient) -> None:
    spec = await document(client)
    validate(spec)
    assert spec["openapi"] == "3.1.0"


async def test_every_route_documented(app: Quart, client: QuartClient) -> None:
    """Every route and method is documented."""
    paths = (await document(client))["paths"]
    for rule in app.url_map.iter_rules():
        if rule.rule in NOT_API:
            continue
        assert rule.rule in paths, f"{rule.rule} is not in /openapi.json"
        for method in rule.methods or set():
            operation = paths[rule.rule][method.lower()]
            statuses = {int(status) for status in operation["responses"]}
            assert statuses == {204, *EVERY_ROUTE} if method == "OPTIONS" else {200, *EVERY_ROUTE} <= statuses


async def test_total_is_documented(client: QuartClient) -> None:
    """/total documents its body, errors and headers."""
    spec = await document(client)
    responses = spec["paths"]["/total"]["get"]["responses"]
    assert {int(status) for status in responses} == {200, 304, 413, 431, 500, 502, 503, 504}
    ok = responses["200"]
    schema = ok["content"]["application/json"]["schema"]
    total = schema["properties"]["total"] if "properties" in schema else _component(spec, schema)
    assert {option["type"] for option in total["anyOf"]} == {"integer", "number"}
    expected = {"X-Request-ID", "X-Fetch-ID", "Server-Timing", "Cache-Control", "Age", "ETag"}
    assert set(ok["headers"]) == expected
    assert "content" not in responses["304"]
    assert set(responses["304"]["headers"]) == set(ok["headers"])
    (if_none_match,) = spec["paths"]["/total"]["get"]["parameters"]
    assert (if_none_match["name"], if_none_match["in"]) == ("If-None-Match", "header")
    for status in ("502", "503", "504"):
        assert list(responses[status]["content"]) == ["application/problem+json"]
    assert "Retry-After" in responses["503"]["headers"]
    assert "exact decimal" in spec["info"]["description"]


def _component(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    name = schema["$ref"].rsplit("/", 1)[1]
    total: dict[str, Any] = spec["components"]["schemas"][name]["properties"]["total"]
    return total


async def test_head_and_options_documented(client: QuartClient) -> None:
    """HEAD has GET's headers and no body, and OPTIONS names Allow."""
    operations = (await document(client))["paths"]["/total"]
    assert operations["head"]["responses"].keys() == operations["get"]["responses"].keys()
    assert all("content" not in response for response in operations["head"]["responses"].values())
    assert "Server-Timing" in operations["head"]["responses"]["200"]["headers"]
    assert "Allow" in operations["options"]["responses"]["204"]["headers"]
    response = await client.options("/total")
    assert response.status_code == 204
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}


async def test_404_and_405_are_components(client: QuartClient) -> None:
    """404 and 405 are documented among the components."""
    spec = await document(client)
    responses = spec["components"]["responses"]
    assert list(responses["NotFound"]["content"]) == ["application/problem+json"]
    assert "Allow" in responses["MethodNotAllowed"]["headers"]
    not_allowed = await client.post("/total")
    assert (not_allowed.status_code, not_allowed.content_type) == (405, "application/problem+json")
    assert "GET" in not_allowed.headers["Allow"]


async def test_readiness_documents_its_503(client: QuartClient) -> None:
    responses = (await document(client))["paths"]["/readyz"]["get"]["responses"]
    assert list(responses["503"]["content"]) == ["application/problem+json"]
    assert "drains" in responses["503"]["description"]


async def test_metrics_are_documented_as_text(client: QuartClient) -> None:
    responses = (await document(client))["paths"]["/metrics"]["get"]["responses"]
    assert list(responses["200"]["content"]) == ["text/plain"]


async def test_swagger_ui_is_self_hosted(client: QuartClient) -> None:
    """The docs page loads Swagger UI from the service itself."""
    page = await (await client.get("/docs")).get_data(as_text=True)
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources
    assert all(source.startswith("/") and not source.startswith("//") for source in sources)
    for source in sources:
        response = await client.get(source)
        assert response.status_code == 200, source
    licence = await client.get("/docs/assets/LICENSE")
    assert licence.status_code == 200
    assert "Apache License" in await licence.get_data(as_text=True)
