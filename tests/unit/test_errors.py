"""The exception hierarchy: one root, every error says what, where and what to do."""

from __future__ import annotations

import inspect

import docflow
from docflow import errors


def test_every_error_is_exported_and_rooted_at_docflow_error() -> None:
    classes = [obj for _, obj in inspect.getmembers(errors, inspect.isclass)
               if obj.__module__ == errors.__name__]
    assert set(errors.__all__) == {cls.__name__ for cls in classes}
    for cls in classes:
        assert issubclass(cls, docflow.DocflowError)
        assert getattr(docflow, cls.__name__) is cls


def test_fault_codes_are_unique_and_stable() -> None:
    classes = [getattr(errors, name) for name in errors.__all__]
    codes = [cls.fault_code for cls in classes]
    assert len(set(codes)) == len(codes)
    assert all(code.startswith("docflow.") for code in codes)


def test_the_tree_in_the_docstring_names_every_error() -> None:
    assert errors.__doc__ is not None
    for name in errors.__all__:
        assert name in errors.__doc__


def test_message_where_hint() -> None:
    error = errors.SchemaError("missing Subject", path="/edXML/x", line=3, hint="add it")
    assert str(error) == "missing Subject (at /edXML/x, line 3). add it"
    assert (error.path, error.line, error.hint) == ("/edXML/x", 3, "add it")


def test_a_failure_keeps_the_error_apart() -> None:
    """Reports carry failures as objects (issue 28): the class, fault code, where and
    hint stay apart, the line an operator reads is the error's own."""
    from docflow.failure import Failure

    error = errors.SecurityError("the receipt does not prove this delivery",
                                 where="000.00.01.H41", hint="ask the recipient")
    failure = Failure.of(error, "000.00.01.H41")
    assert (failure.error, failure.fault_code, failure.retryable) == (
        "SecurityError", "docflow.security", False)
    assert failure.cause == "the receipt does not prove this delivery (at 000.00.01.H41)"
    assert str(failure) == f"000.00.01.H41: {error}"
    assert str(Failure.of(error, named=True)) == f"SecurityError: {error}"
    assert errors.TransportError("down").retryable and not errors.ModelError("x").retryable


def test_one_report_for_a_node_and_a_hub() -> None:
    from docflow.delivery import DeliveryReport, PassReport
    from docflow.failure import Failure
    from docflow.hub import HubReport

    assert DeliveryReport is PassReport is HubReport
    report = PassReport(2, 1, (Failure.of(errors.TransportError("down"), "X"),))
    assert report.forwarded == 2 and report.errors == ("X: down",)
