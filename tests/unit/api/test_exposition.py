"""The text exposition format, read back by prometheus-client's parser (a test dependency
only)."""

from __future__ import annotations

import math

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ringleader.api.exposition import Family, format_value, render


def test_help_type_and_samples_with_labels_in_name_order() -> None:
    family = Family("jobs_done_total", "Jobs done", "counter", ("worker", "queue"))
    family.add(("w1", "fast"), 3)
    family.add(("w2", "slow"), 0)
    plain = Family("temperature", "Temperature")
    plain.add((), 21.5)
    assert render([family, plain]) == (
        b"# HELP jobs_done_total Jobs done\n"
        b"# TYPE jobs_done_total counter\n"
        b'jobs_done_total{queue="fast",worker="w1"} 3.0\n'
        b'jobs_done_total{queue="slow",worker="w2"} 0.0\n'
        b"# HELP temperature Temperature\n"
        b"# TYPE temperature gauge\n"
        b"temperature 21.5\n")


def test_label_values_and_help_are_escaped() -> None:
    awkward = 'back\\slash "quoted"\nnew line, {braces} and = é'
    family = Family("m", "help with \\ and\nnewline", labels=("v",))
    family.add((awkward,), 1)
    (parsed,) = text_string_to_metric_families(render([family]).decode())
    assert parsed.documentation == "help with \\ and\nnewline"
    assert parsed.samples[0].labels == {"v": awkward}


@pytest.mark.parametrize("value", [0.0, -1.5, 1e-9, 2**53 + 1.0, 24035328.0, 1e300,
                                   math.inf, -math.inf])
def test_values_read_back_exactly(value: float) -> None:
    family = Family("m", "h")
    family.add((), value)
    (parsed,) = text_string_to_metric_families(render([family]).decode())
    assert parsed.samples[0].value == value


def test_special_values_have_go_spellings() -> None:
    assert [format_value(v) for v in (math.nan, math.inf, -math.inf, 2)] == \
        ["NaN", "+Inf", "-Inf", "2.0"]


def test_empty_family_and_no_family() -> None:
    assert render([]) == b""
    assert render([Family("m", "h")]) == b"# HELP m h\n# TYPE m gauge\n"


def test_label_values_must_match_the_label_names() -> None:
    with pytest.raises(ValueError, match="m: 2 label values expected, got 1"):
        Family("m", "h", labels=("a", "b")).add(("x",), 1)
