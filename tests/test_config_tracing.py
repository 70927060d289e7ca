"""The OTEL_* settings: tracing on only when a collector is named and the SDK is not disabled,
each value checked at start-up like every other setting."""

from __future__ import annotations

import pytest

from app.config import Config, ConfigError


class TestSwitch:
    def test_off_by_default(self) -> None:
        assert Config.from_env({}).otel_traces_url is None

    def test_base_endpoint_gets_the_traces_path(self) -> None:
        for base in ("http://collector:4318", "http://collector:4318/"):
            config = Config.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": base})
            assert config.otel_traces_url == "http://collector:4318/v1/traces"

    def test_traces_endpoint_used_as_given(self) -> None:
        config = Config.from_env(
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://vendor.example/otlp/spans",
            }
        )
        assert config.otel_traces_url == "https://vendor.example/otlp/spans"

    @pytest.mark.parametrize("disabled", ["true", "TRUE", "True"])
    def test_sdk_disabled_wins(self, disabled: str) -> None:
        config = Config.from_env(
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": disabled}
        )
        assert config.otel_traces_url is None

    def test_sdk_enabled_explicitly(self) -> None:
        config = Config.from_env(
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "false"}
        )
        assert config.otel_traces_url == "http://collector:4318/v1/traces"

    def test_other_settings_alone_leave_it_off(self) -> None:
        config = Config.from_env(
            {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}
        )
        assert config.otel_traces_url is None
        assert config.otel_traces_sampler_arg == 0.1


class TestValues:
    @pytest.mark.parametrize(
        ("name", "value", "expected"),
        [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318", "an http:// or https:// URL"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "grpc://collector", "an http:// or https:// URL"),
            ("OTEL_SDK_DISABLED", "yes", "true or false"),
            ("OTEL_SERVICE_NAME", "tab\there", "1 to 255 printable characters"),
            ("OTEL_SERVICE_NAME", "x" * 256, "1 to 255 printable characters"),
            ("OTEL_TRACES_SAMPLER", "jaeger_remote", "one of parentbased_always_on"),
            ("OTEL_TRACES_SAMPLER_ARG", "1.5", "a number from 0 to 1"),
            ("OTEL_TRACES_SAMPLER_ARG", "nan", "a number from 0 to 1"),
            ("OTEL_TRACES_SAMPLER_ARG", "ten percent", "a number from 0 to 1"),
        ],
    )
    def test_bad_value_names_variable(self, name: str, value: str, expected: str) -> None:
        with pytest.raises(ConfigError, match=f"^{name} must be {expected}"):
            Config.from_env({name: value})

    def test_every_sampler_accepted(self) -> None:
        for sampler in ("always_on", "always_off", "parentbased_always_off", "traceidratio"):
            assert Config.from_env({"OTEL_TRACES_SAMPLER": sampler}).otel_traces_sampler == sampler

    @pytest.mark.parametrize("ratio", ["0", "1", "0.25"])
    def test_ratio_at_the_edges(self, ratio: str) -> None:
        config = Config.from_env({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": ratio})
        assert config.otel_traces_sampler_arg == float(ratio)

    def test_argument_for_a_sampler_without_one_refused(self) -> None:
        """A share set with the default sampler would sample every request: refused."""
        with pytest.raises(ConfigError) as raised:
            Config.from_env({"OTEL_TRACES_SAMPLER_ARG": "0.1"})
        assert str(raised.value) == (
            "OTEL_TRACES_SAMPLER_ARG is set but OTEL_TRACES_SAMPLER (parentbased_always_on) takes no "
            "argument: set it to parentbased_traceidratio or traceidratio"
        )


class TestHeaders:
    def test_pairs_read_and_percent_decoded(self) -> None:
        config = Config.from_env({"OTEL_EXPORTER_OTLP_HEADERS": "api-key=s3cr%20t, x-team = core"})
        assert config.otel_exporter_otlp_headers == (("api-key", "s3cr t"), ("x-team", "core"))

    def test_kept_out_of_repr(self) -> None:
        config = Config.from_env({"OTEL_EXPORTER_OTLP_HEADERS": "api-key=s3cret"})
        assert "s3cret" not in repr(config)

    @pytest.mark.parametrize("raw", ["api-key", "api key=s3cret", "=s3cret", "a=1,,b=2"])
    def test_malformed_not_quoted(self, raw: str) -> None:
        with pytest.raises(ConfigError) as raised:
            Config.from_env({"OTEL_EXPORTER_OTLP_HEADERS": raw})
        assert str(raised.value) == (
            "OTEL_EXPORTER_OTLP_HEADERS must be key=value pairs separated by commas, "
            f"got a value of {len(raw)} characters"
        )
