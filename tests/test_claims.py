"""The README's promises, each tied to the tests that would fail if it broke.

A promise is what README.md's "API" and "Configuration" sections say: each row of their tables,
named by its first cell (the request, the status, the variable), and each paragraph of their
prose, named by its bold lead-in or else by its opening words. CLAIMS names the tests that check
each one, and what each proves. The tests here fail on a promise with no entry (a sentence added
to the README without a test), on an entry for a promise the README no longer makes, and on a
named test that does not exist or that neither `make test` nor a check target of the Makefile runs.
"""

from __future__ import annotations

import ast
import functools
import re
import tomllib
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
SECTIONS = ("API", "Configuration")

# Promise -> [(test node id, what that test proves)]. A test of a marked module (make reliability-test
# and the like) says which target runs it.
CLAIMS: dict[str, list[tuple[str, str]]] = {
    # The API table, by request.
    "GET /total (and HEAD)": [
        (
            "tests/e2e/test_service.py::test_total_of_the_default_numbers",
            "200 application/json, the exact total",
        ),
        ("tests/e2e/test_service.py::test_head_total", "HEAD: 200, GET's type and length, no body"),
    ],
    "GET /healthz": [
        ("tests/e2e/test_service.py::test_healthz", '200 {"status":"ok"} from a real process'),
        ("tests/web/test_api.py::test_healthz_never_touches_the_backend", "a failing source is never asked"),
    ],
    "GET /readyz": [
        (
            "tests/web/test_api.py::test_readyz_503_while_draining",
            '200 {"status":"ready"}, 503 once draining',
        ),
        (
            "tests/e2e/test_service.py::test_sigterm_drain_fails_readiness",
            "503 after SIGTERM, a real process",
        ),
    ],
    "GET /metrics": [
        ("tests/web/test_metrics.py::test_prometheus_text_format", "Prometheus's text format, the families"),
        ("tests/prometheus/test_scrape.py::test_prometheus_sees_requests", "make prometheus-check: scraped"),
    ],
    "GET /openapi.json, GET /docs": [
        ("tests/web/test_docs.py::test_the_document_is_valid_openapi", "a valid OpenAPI 3.1.0 document"),
        ("tests/web/test_docs.py::test_swagger_ui_is_self_hosted", "every file /docs loads is the service's"),
        (
            "tests/browser/test_docs_page.py::test_runs_total_and_shows_it",
            "make browser-test: Swagger UI works",
        ),
    ],
    # The prose of "API".
    "The sum is exact": [
        ("tests/web/test_api.py::test_wide_total_written_exactly", "ten 4,300-digit nines: 4,301 digits"),
        (
            "tests/numbers/test_json_array.py::test_examples_from_the_contract",
            "[0.1, 0.2] is 0.3, [1e100, 1.0, -1e100] is 1.0, 1e-1100 accepted",
        ),
        ("tests/numbers/test_json_array.py::test_a_zero_total_is_positive_zero", "0.0, never -0.0"),
        (
            "tests/numbers/test_json_array.py::test_out_of_range_is_bad_data",
            "beyond a float or 10**-1100: refused",
        ),
        ("tests/numbers/test_json_array.py::test_any_cut_sums_exactly", "any array, cut anywhere: exact"),
        (
            "tests/numbers/test_json_array.py::test_too_long_item_named_at_its_index",
            "an item over 64 KiB refused at its index, whole or cut",
        ),
        (
            "tests/numbers/test_json_array.py::test_item_length_leaves_out_whitespace_around",
            "64 KiB not counting the whitespace around it",
        ),
        (
            "tests/numbers/test_json_array.py::test_beyond_digit_limit_is_exact",
            "items of the longest length, exact",
        ),
    ],
    "No backend answer can hang the service": [
        ("tests/numbers/test_work_bound.py::test_zero_with_any_exponent", "[0e999999999] is 0.0"),
        (
            "tests/numbers/test_work_bound.py::test_hazard_body_work_is_bounded",
            "chunks and memory bounded by the length",
        ),
        (
            "tests/numbers/test_content_coding.py::test_every_step_is_bounded",
            "a thousandfold expansion, in bounded steps",
        ),
        (
            "tests/numbers/test_http_backend.py::test_gzip_bomb_refused_at_limit",
            "2 GiB of gzip: refused at 100 MB",
        ),
        ("tests/numbers/test_http_backend.py::test_the_limit_counts_every_body", "one byte over: refused"),
        (
            "tests/e2e/test_service.py::test_sigterm_after_hostile_body",
            "a real process stops in time after one",
        ),
    ],
    "Requests that arrive while a fetch runs share it": [
        ("tests/numbers/test_single_flight.py::test_callers_during_a_run_share_it", "500 callers, one run"),
        (
            "tests/e2e/test_service.py::test_requests_share_one_fetch",
            "50 requests, one fetch, a real process",
        ),
        (
            "tests/numbers/test_conditional_fetch.py::test_conditions_from_validators",
            "ETag: If-None-Match, Last-Modified: If-Modified-Since",
        ),
        (
            "tests/numbers/test_conditional_fetch.py::test_unchanged_list_not_fetched",
            "304: the total, no body",
        ),
        (
            "tests/numbers/test_conditional_fetch.py::test_304_reuses_total_exactly",
            "a 5,001-digit total reused",
        ),
        ("tests/web/test_api.py::test_server_timing", "Server-Timing: the wait, started or joined"),
        (
            "tests/web/test_caching.py::test_fresh_total_max_age_and_age",
            "Server-Timing: fresh, with a max age",
        ),
    ],
    "Errors": [
        (
            "tests/web/test_api.py::test_unknown_path_is_a_404_problem",
            "problem+json: type, title, status, detail",
        ),
        ("tests/e2e/test_service.py::test_404_and_405_are_problem_json", "no HTML, from a real process"),
        ("tests/web/test_api.py::test_unexpected_error_is_500", "no traceback nor internals in the body"),
        (
            "tests/numbers/test_http_backend.py::test_faulty_backend_names_fault",
            "no total in a failed answer",
        ),
        (
            "tests/e2e/test_service.py::test_faulty_backend_gets_502",
            "the example's detail, from a real process",
        ),
    ],
    # The errors table, by status.
    "304": [
        ("tests/web/test_caching.py::test_if_none_match_gets_304", "If-None-Match with the tag (or *): 304"),
        ("tests/e2e/test_service.py::test_total_reused_and_revalidated", "304 with TOTAL_MAX_AGE, no fetch"),
    ],
    "404": [
        ("tests/web/test_api.py::test_unknown_path_is_a_404_problem", "an unknown path: a 404 problem"),
        (
            "tests/reliability/test_hostile_clients.py::test_unusual_paths_have_a_defined_answer",
            "make reliability-test: case-sensitive, no trailing slash, query ignored",
        ),
    ],
    "405": [
        (
            "tests/web/test_api.py::test_wrong_method_is_405_problem",
            "no body: 405 with exactly the right Allow",
        ),
        ("tests/web/test_api.py::test_405_before_413", "with a body, on every path: 405 with Allow"),
    ],
    "413": [
        ("tests/web/test_api.py::test_body_refused_413", "a body: 413, Connection: close"),
        (
            "tests/e2e/test_service.py::test_refused_unread_and_closed",
            "1 GB announced, never sent: 413, closed",
        ),
    ],
    "431": [
        ("tests/e2e/test_service.py::test_refused_unread_and_closed", "101 headers: 431, closed"),
        ("tests/e2e/test_service.py::test_a_hundred_headers_served", "100 headers: 200"),
        ("tests/web/test_api.py::test_too_many_headers_431", "a problem, Connection: close"),
    ],
    "500": [
        (
            "tests/web/test_api.py::test_unexpected_error_is_500",
            "an unforeseen error in a fetch: 500 problem",
        ),
        ("tests/numbers/test_totals.py::test_unexpected_error_is_a_counted_failure", "and a counted failure"),
    ],
    "502": [
        (
            "tests/numbers/test_http_backend.py::test_unreachable_retried_then_502",
            "unreachable, after 2 retries",
        ),
        (
            "tests/numbers/test_http_backend.py::test_faulty_backend_names_fault",
            "a status named, not an array",
        ),
        (
            "tests/numbers/test_http_backend.py::test_bad_data_is_502",
            "the bad item's index, a sum beyond a float",
        ),
        (
            "tests/numbers/test_json_array.py::test_bad_body_same_error_however_cut",
            "the same error, the same index, wherever the body is cut",
        ),
        (
            "tests/numbers/test_json_array.py::test_out_of_range_is_bad_data",
            "a number out of range: bad data",
        ),
        (
            "tests/numbers/test_http_backend.py::test_the_limit_counts_every_body",
            "over NUMBERS_API_MAX_BYTES",
        ),
        ("tests/numbers/test_http_backend.py::test_unasked_coding_is_502", "xyz, br, zstd: named"),
        ("tests/numbers/test_http_backend.py::test_broken_connection_hides_address", "broken mid-body"),
    ],
    "503": [
        (
            "tests/numbers/test_http_backend.py::test_breaker_answers_503_at_once",
            "the breaker: 503, Retry-After",
        ),
        ("tests/numbers/test_breaker.py::test_opens_after_threshold", "Retry-After: the seconds left"),
        ("tests/e2e/test_service.py::test_grace_period_ends_in_503", "shutting down: 503, Retry-After: 1"),
        ("tests/e2e/test_service.py::test_sigterm_drain_fails_readiness", "/readyz while draining"),
    ],
    "504": [
        ("tests/numbers/test_http_backend.py::test_faulty_backend_names_fault", "a backend stalled mid-body"),
        ("tests/numbers/test_http_backend.py::test_retries_stay_inside_the_deadline", "retries within it"),
    ],
    "One exception": [
        (
            "tests/e2e/test_service.py::test_hypercorn_answers_malformed_http",
            "400 and 431, empty body, closed",
        ),
    ],
    # The prose of "Configuration".
    "Environment variables": [
        ("tests/e2e/test_service.py::test_bad_setting_stops_start_up", "one line naming it, exit code 2"),
        (
            "tests/e2e/test_service.py::test_settings_that_cannot_work_together_stop_start_up",
            "credentials in the URL and a token: one line, exit code 2",
        ),
        ("tests/test_config.py::test_bad_value_names_variable", "every variable's bad values"),
    ],
    "Keep NUMBERS_API_TIMEOUT below GRACEFUL_TIMEOUT": [
        ("tests/test_config.py::test_default_fetch_within_grace", "as the defaults do"),
        (
            "tests/e2e/test_service.py::test_sigterm_finishes_requests",
            "a fetch under way at SIGTERM: answered",
        ),
        (
            "tests/reliability/test_faults_under_load.py::test_faults_get_documented_answers",
            "make reliability-test: an HTTPS backend of a private CA trusted through SSL_CERT_FILE",
        ),
    ],
    "A real backend": [
        ("tests/numbers/test_http_backend.py::test_exact_sums_through_http", "JSON arrays, any whitespace"),
        ("tests/numbers/test_http_backend.py::test_compressed_numbers", "gzip and deflate"),
        (
            "tests/e2e/test_service.py::test_total_from_reference_backend",
            "0..10,000,000 from the reference one",
        ),
    ],
    "It also serves other kinds of bodies": [
        ("tests/numbers/test_http_backend.py::test_faulty_backend_names_fault", "its faults, on demand"),
        ("tests/numbers/test_http_backend.py::test_compression_ratio_alone_is_no_error", "kinds, compressed"),
    ],
    # The settings table, by variable (tests/test_readme.py keeps each default equal to Config's).
    "PORT": [
        ("tests/test_config.py::test_defaults_when_nothing_is_set", "5000"),
        ("tests/e2e/test_service.py::test_address_in_use_stops_start_up", "a real process binds PORT"),
    ],
    "HOST": [
        ("tests/test_config.py::test_a_host_is_a_name_or_an_address", "IPv4, IPv6, names"),
        ("tests/test_config.py::test_ipv6_bind_in_brackets", "each bound as Hypercorn needs it"),
        ("tests/test_deploy_files.py::test_image_settings", "the Dockerfile sets 0.0.0.0"),
    ],
    "WORKERS": [
        ("tests/e2e/test_workers.py::test_one_scrape_counts_all", "two processes serve the port"),
        ("tests/e2e/test_workers.py::test_dead_worker_replaced", "a killed one replaced"),
        ("tests/test_kubernetes.py::test_one_worker_per_pod", "not in Kubernetes"),
    ],
    "NUMBERS_API_URL": [
        ("tests/e2e/test_service.py::test_total_from_reference_backend", "a real backend's total"),
        ("tests/test_config.py::test_empty_url_means_simulated", "unset: the simulated one"),
        ("tests/test_config.py::test_values_at_the_edges", "https:// accepted"),
        ("tests/test_config.py::test_a_password_in_a_url_is_shown_masked", "the password as ***"),
        ("tests/numbers/test_http_backend.py::test_url_password_masked_in_log", "... in the log too"),
    ],
    "NUMBERS_API_TOKEN": [
        (
            "tests/numbers/test_http_backend.py::test_bearer_token_is_sent",
            "a backend that asks for it answers",
        ),
        ("tests/numbers/test_http_backend.py::test_refused_token_shown_nowhere", "not in the log nor answer"),
        ("tests/test_config.py::test_token_kept_out_of_repr", "not in the configuration's repr"),
        ("tests/test_config.py::test_malformed_token_not_quoted", "not in the error refusing it"),
    ],
    "NUMBERS_API_DELAY": [
        (
            "tests/e2e/test_service.py::test_json_logs_trace_shared_fetch",
            "0.5: the fetch takes at least 0.5 s",
        ),
    ],
    "NUMBERS_API_COUNT": [
        ("tests/e2e/test_service.py::test_requests_share_one_fetch", "1000: 0..999, total 499500"),
        ("tests/e2e/test_service.py::test_total_of_the_default_numbers", "the default: 50000005000000"),
    ],
    "NUMBERS_API_TIMEOUT": [
        ("tests/numbers/test_http_backend.py::test_faulty_backend_names_fault", "a stalled body: 504"),
        ("tests/numbers/test_http_backend.py::test_retries_stay_inside_the_deadline", "retries included"),
    ],
    "NUMBERS_API_RETRIES": [
        ("tests/numbers/test_http_backend.py::test_unreachable_retried_then_502", "connection failures"),
        ("tests/numbers/test_http_backend.py::test_503_answers_are_retried", "503"),
        ("tests/numbers/test_http_backend.py::test_gateway_errors_are_retried", "502 and 504"),
        ("tests/numbers/test_http_backend.py::test_other_statuses_not_retried", "not 500, 404, 429"),
        ("tests/numbers/test_http_backend.py::test_retries_give_up", "no more than the setting"),
    ],
    "NUMBERS_API_MAX_BYTES": [
        ("tests/numbers/test_http_backend.py::test_the_limit_counts_every_body", "decompressed, to the byte"),
        ("tests/numbers/test_http_backend.py::test_gzip_bomb_refused_at_limit", "as it crosses it"),
        ("tests/numbers/test_http_backend.py::test_announced_length_over_limit", "or before, if announced"),
    ],
    "NUMBERS_API_BREAKER_FAILURES": [
        ("tests/numbers/test_http_backend.py::test_breaker_answers_503_at_once", "3 failures, then 503"),
        ("tests/numbers/test_breaker.py::test_threshold_zero_never_opens", "0: never"),
    ],
    "NUMBERS_API_BREAKER_SECONDS": [
        (
            "tests/numbers/test_http_backend.py::test_breaker_answers_503_at_once",
            "the backend asked after it",
        ),
        ("tests/numbers/test_breaker.py::test_opens_after_threshold", "open for the cooldown, then not"),
    ],
    "GRACEFUL_TIMEOUT": [
        ("tests/e2e/test_service.py::test_grace_period_ends_in_503", "answered within it"),
        ("tests/e2e/test_service.py::test_grace_period_follows_the_drain", "counted after the drain"),
        ("tests/e2e/test_workers.py::test_ctrl_c_reaches_supervisor_alone", "SIGINT as SIGTERM"),
    ],
    "DRAIN_SECONDS": [
        ("tests/e2e/test_service.py::test_sigterm_drain_fails_readiness", "/readyz 503, requests served"),
        ("tests/e2e/test_workers.py::test_sigterm_drains_all", "every worker drains"),
    ],
    "TOTAL_MAX_AGE": [
        ("tests/numbers/test_totals.py::test_within_max_age_no_fetch", "no fetch within it, one after"),
        ("tests/e2e/test_service.py::test_total_reused_and_revalidated", "one fetch, a real process"),
        ("tests/web/test_api.py::test_later_request_starts_new_fetch", "0: a fetch each time"),
    ],
    "TOTAL_STALE_WHILE_REVALIDATE": [
        ("tests/numbers/test_totals.py::test_stale_window_answers_at_once", "at once, one refresh"),
        ("tests/numbers/test_totals.py::test_failed_refresh_keeps_good_total", "for this long, no more"),
    ],
    "LOG_LEVEL": [
        ("tests/e2e/test_service.py::test_log_level_keeps_warnings_drops_info", "WARNING: no info lines"),
    ],
    "LOG_FORMAT": [
        ("tests/e2e/test_service.py::test_requests_share_one_fetch", "text: readable lines"),
        (
            "tests/e2e/test_service.py::test_json_logs_trace_shared_fetch",
            "json: each line one object, stdout",
        ),
        ("tests/test_deploy_files.py::test_image_settings", "json in the Dockerfile"),
    ],
    "ACCESS_LOG": [
        ("tests/e2e/test_service.py::test_access_log_on_stdout", "on: one line a request"),
        ("tests/e2e/test_service.py::test_metrics_and_access_log_off", "off: none"),
    ],
    "METRICS": [
        ("tests/e2e/test_service.py::test_metrics_and_access_log_off", "off: /metrics 404, a real process"),
        ("tests/web/test_metrics.py::test_metrics_off_times_nothing", "off: no timing, no loop sampling"),
    ],
    "OTEL_EXPORTER_OTLP_ENDPOINT": [
        ("tests/test_config_tracing.py::TestSwitch::test_off_by_default", "unset: no traces"),
        (
            "tests/test_config_tracing.py::TestSwitch::test_base_endpoint_gets_the_traces_path",
            "<URL>/v1/traces",
        ),
        (
            "tests/web/test_traces.py::test_tracing_off_loads_no_opentelemetry",
            "off: OpenTelemetry not loaded",
        ),
        (
            "tests/tracing/test_receiver.py::test_traces_reach_a_real_collector",
            "make tracing-check: a real collector gets the spans",
        ),
    ],
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": [
        (
            "tests/test_config_tracing.py::TestSwitch::test_traces_endpoint_used_as_given",
            "the whole URL, as given",
        ),
    ],
    "OTEL_EXPORTER_OTLP_HEADERS": [
        (
            "tests/web/test_traces.py::TestExport::test_otlp_http_with_the_configured_headers",
            "sent with each export",
        ),
        ("tests/test_config_tracing.py::TestHeaders::test_kept_out_of_repr", "never shown"),
        ("tests/test_config_tracing.py::TestHeaders::test_malformed_not_quoted", "nor quoted in an error"),
    ],
    "OTEL_SDK_DISABLED": [
        ("tests/test_config_tracing.py::TestSwitch::test_sdk_disabled_wins", "true: off, whatever the rest"),
    ],
    "OTEL_SERVICE_NAME": [
        (
            "tests/tracing/test_receiver.py::test_traces_reach_a_real_collector",
            "make tracing-check: the spans' service.name",
        ),
        ("tests/test_config_tracing.py::TestValues::test_bad_value_names_variable", "a bad name refused"),
    ],
    "OTEL_TRACES_SAMPLER": [
        (
            "tests/web/test_traces.py::TestSampling::test_ratio_decides_roots_and_follows_callers",
            "parentbased_",
        ),
        ("tests/web/test_traces.py::TestSampling::test_plain_ratio_ignores_callers", "the rest of the name"),
        ("tests/web/test_traces.py::TestSampling::test_default_samples_every_root", "the default"),
    ],
    "OTEL_TRACES_SAMPLER_ARG": [
        ("tests/test_config_tracing.py::TestValues::test_ratio_at_the_edges", "a share from 0 to 1"),
        (
            "tests/web/test_traces.py::TestSampling::test_unsampled_root_exports_nothing_sampled_caller_its_request",
            "the ratio decides what is exported",
        ),
    ],
}


def blocks(lines: list[str]) -> list[list[str]]:
    """The tables and paragraphs of `lines`, code blocks left out."""
    found: list[list[str]] = [[]]
    in_code = False
    for line in lines:
        if line.startswith("```"):
            in_code = not in_code
            found.append([])
        elif in_code or not line.strip() or line.startswith("#"):
            found.append([])
        else:
            if found[-1] and found[-1][0].startswith("|") != line.startswith("|"):
                found.append([])
            found[-1].append(line)
    return [block for block in found if block]


def opening(text: str) -> str:
    """A paragraph's opening words: up to its first punctuation mark, code marks dropped."""
    return re.split(r"[:,.;](?:\s|$)", text.replace("`", "").strip(), maxsplit=1)[0]


def lead_ins(paragraph: str) -> list[tuple[str, str]]:
    """The paragraph's promises: each bold lead-in (bold at its start or a bold sentence) with
    the text it leads; text before the first, by its opening words."""
    starts = [
        match
        for match in re.finditer(r"\*\*(.+?)\*\*", paragraph)
        if match.start() == 0 or match.group(1).endswith((".", ":"))
    ]
    bounds = [match.start() for match in starts] + [len(paragraph)]
    promises = [(opening(paragraph[: bounds[0]]), paragraph[: bounds[0]])] if bounds[0] > 0 else []
    for match, end in zip(starts, bounds[1:], strict=True):
        promises.append((match.group(1).rstrip(".:"), paragraph[match.start() : end]))
    return promises


def promises_in(lines: list[str]) -> dict[str, str]:
    """The promises of `lines`, by name: their text (that of all, for a name given twice)."""
    promises: dict[str, str] = {}
    for block in blocks(lines):
        if block[0].startswith("|"):
            named = [(row.split("|")[1].strip().replace("`", ""), row) for row in block[2:]]
        else:
            named = lead_ins(" ".join(block))
        for name, text in named:
            promises[name] = f"{promises[name]} / {text}" if name in promises else text
    return promises


@functools.cache
def readme_promises() -> dict[str, str]:
    """Every promise of the README's API and Configuration sections."""
    lines = (PROJECT / "README.md").read_text().splitlines()
    promises: dict[str, str] = {}
    for title in SECTIONS:
        start = lines.index(f"## {title}") + 1
        end = next((n for n in range(start, len(lines)) if lines[n].startswith("## ")), len(lines))
        promises |= promises_in(lines[start:end])
    return promises


def markers_of(decorators: list[ast.expr]) -> set[str]:
    """The names of the pytest marks among `decorators` (pytest.mark.NAME, called or not)."""
    names = set()
    for decorator in decorators:
        mark = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(mark, ast.Attribute) and ast.unparse(mark.value) == "pytest.mark":
            names.add(mark.attr)
    return names


@functools.cache
def defined_tests(path: Path) -> dict[str, set[str]]:
    """The tests a module defines ("name", "Class::name") and the marks each carries."""
    module = ast.parse(path.read_text())
    module_marks: set[str] = set()
    for statement in module.body:
        if isinstance(statement, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "pytestmark" for target in statement.targets
        ):
            value = statement.value
            module_marks |= markers_of(list(value.elts) if isinstance(value, ast.List) else [value])
    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    found: dict[str, set[str]] = {}
    for statement in module.body:
        if isinstance(statement, functions) and statement.name.startswith("test"):
            found[statement.name] = module_marks | markers_of(statement.decorator_list)
        elif isinstance(statement, ast.ClassDef) and statement.name.startswith("Test"):
            class_marks = module_marks | markers_of(statement.decorator_list)
            for method in statement.body:
                if isinstance(method, functions) and method.name.startswith("test"):
                    found[f"{statement.name}::{method.name}"] = class_marks | markers_of(
                        method.decorator_list
                    )
    return found


def marked_targets() -> dict[str, tuple[str, str]]:
    """The Makefile's targets that run marked tests: mark -> (target, the directory it runs)."""
    targets: dict[str, tuple[str, str]] = {}
    target = ""
    for line in (PROJECT / "Makefile").read_text().splitlines():
        if named := re.match(r"([a-z][a-z-]*):", line):
            target = named.group(1)
        elif run := re.search(r"-m pytest -m (\w+) (\S+)", line):
            targets[run.group(1)] = (target, run.group(2))
    return targets


def left_out_of_make_test() -> set[str]:
    """The marks pytest's default options deselect: tests `make test` does not run."""
    options = tomllib.loads((PROJECT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    return set(re.findall(r"not (\w+)", options["addopts"]))


def problems_of(node: str, proves: str) -> list[str]:
    """What is wrong with naming `node` as a test that proves `proves`."""
    file, _, name = node.partition("::")
    path = PROJECT / file
    if not (file.startswith("tests/") and Path(file).name.startswith("test_") and path.suffix == ".py"):
        return [f"{node}: not a test module pytest collects"]
    if not path.is_file():
        return [f"{node}: no such file"]
    if name not in defined_tests(path):
        return [f"{node}: no such test"]
    problems = [] if proves.strip() else [f"{node}: says nothing of what it proves"]
    targets = marked_targets()
    for mark in defined_tests(path)[name] & left_out_of_make_test():
        target, directory = targets.get(mark, ("", ""))
        if not target or not file.startswith(directory.rstrip("/") + "/"):
            problems.append(f"{node}: marked {mark}, which no target of the Makefile runs there")
        elif f"make {target}" not in proves:
            problems.append(f"{node}: run by `make {target}` only, which its entry does not say")
    return problems


def test_every_promise_has_a_test() -> None:
    missing = {name: text for name, text in readme_promises().items() if name not in CLAIMS}
    assert missing == {}, "README promises with no entry in CLAIMS"


def test_every_entry_is_a_promise() -> None:
    assert sorted(CLAIMS.keys() - readme_promises().keys()) == [], "entries the README no longer makes"


def test_every_named_test_runs() -> None:
    """Each named test exists, and `make test` or the Makefile target its entry names runs it."""
    problems = [
        problem
        for tests in CLAIMS.values()
        for node, proves in tests
        for problem in problems_of(node, proves)
    ]
    assert problems == []


def test_how_promises_are_read() -> None:
    """Rows by their first cell, not the header's; bold lead-ins where they start a sentence, other
    paragraphs by their opening words; code left out."""
    lines = [
        "| request | answer |",
        "|---|---|",
        "| `GET /x` | 200 |",
        "Plain words, `code`: more.",
        "",
        "**Bold.** Its text, **not a lead-in**, then.",
        "**Also bold:** more",
        "```",
        "| code | not a row |",
        "```",
        "**Again**, in a paragraph of its own",
    ]
    assert promises_in(lines) == {
        "GET /x": "| `GET /x` | 200 |",
        "Plain words": "Plain words, `code`: more.",
        "Bold": "**Bold.** Its text, **not a lead-in**, then. ",
        "Also bold": "**Also bold:** more",
        "Again": "**Again**, in a paragraph of its own",
    }
