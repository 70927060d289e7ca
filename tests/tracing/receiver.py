"""A real OTLP receiver: the rotel collector (bench.collector) writing every span it receives to
its debug log, which `spans` reads; its exporter is the black hole, nothing is sent on."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.collector import rotel
from tests.processes import ServerProcess


@dataclass
class ReceivedSpan:
    """One span as the collector received it, with its resource's attributes."""

    resource: dict[str, str]
    trace_id: str = ""
    parent_id: str = ""
    span_id: str = ""
    name: str = ""
    kind: str = ""
    attributes: dict[str, str] = field(default_factory=dict)
    # Each link's trace id and span id.
    links: list[tuple[str, str]] = field(default_factory=list)


# The span's own lines in the log, and the fields they fill.
_FIELDS = {"Trace ID": "trace_id", "Parent ID": "parent_id", "ID": "span_id", "Name": "name", "Kind": "kind"}
_VALUE = re.compile(r"^(?P<type>\w+)\((?P<value>.*)\)$")


def _value(text: str) -> str:
    """`Str(GET)`, `Int(200)`, `Bool(true)` as their text: GET, 200, true."""
    match = _VALUE.match(text)
    return match.group("value") if match else text


def parse(log: str) -> list[ReceivedSpan]:
    """The spans of the collector's debug log (its `detailed` verbosity, the Collector's format)."""
    spans: list[ReceivedSpan] = []
    resource: dict[str, str] = {}
    span: ReceivedSpan | None = None
    section = ""
    link: dict[str, str] = {}
    for line in log.splitlines():
        stripped = line.strip()
        if line.startswith("ResourceSpans #"):
            resource, span, section = {}, None, "resource"
        elif line.startswith("Span #"):
            span = ReceivedSpan(dict(resource))
            spans.append(span)
            section = "span"
        elif stripped == "Attributes:" and span is not None:
            section = "attributes"
        elif stripped == "Links:" and span is not None:
            section = "links"
        elif line.startswith("SpanLink #"):
            link = {}
        elif stripped.startswith("-> "):
            key, _, text = stripped.removeprefix("-> ").partition(": ")
            if section == "resource":
                resource[key] = _value(text)
            elif section == "attributes" and span is not None:
                span.attributes[key] = _value(text)
            elif section == "links" and span is not None:
                link[key] = text
                if key == "ID":
                    span.links.append((link["Trace ID"], text))
        elif span is not None and section == "span" and " : " in line:
            key, _, text = (part.strip() for part in line.partition(" : "))
            if key in ("Trace ID", "Parent ID", "ID", "Name", "Kind"):
                setattr(
                    span,
                    {"Trace ID": "trace_id", "Parent ID": "parent_id", "ID": "span_id"}.get(key, key.lower()),
                    text,
                )
    return spans


class Receiver:
    """The collector, running; `url` is the base OTEL_EXPORTER_OTLP_ENDPOINT to give the service."""

    def __init__(self, process: ServerProcess) -> None:
        self.process = process
        self.url = process.url

    def spans(self) -> list[ReceivedSpan]:
        return parse(self.process.stdout())

    def wait_for_spans(self, count: int, timeout: float = 10.0) -> list[ReceivedSpan]:
        """Every span received once there are at least `count`, or once `timeout` has passed."""
        deadline = time.monotonic() + timeout
        while len(received := self.spans()) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return received


@contextmanager
def receiver(log_dir: Path) -> Iterator[Receiver]:
    """rotel writing every span it receives to its output, until the block ends."""
    with rotel(log_dir, ["--debug-log", "traces", "--debug-log-verbosity", "detailed"]) as process:
        yield Receiver(process)
