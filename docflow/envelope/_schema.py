"""Loading docflow's XSDs (shipped as ``docflow.schemas``) and validating trees.

Schemas are compiled once per process, on first use, and shared: an ``XMLSchema`` object
is safe to use from several threads. This module reads only the package's own schema
files, never the network.
"""

from __future__ import annotations

import enum
import threading
from importlib import resources
from pathlib import Path

from lxml import etree

from docflow.errors import SchemaError

__all__ = ["PacketKind", "schema_path", "validate_tree"]


class PacketKind(enum.Enum):
    """Which schema a packet is validated against."""

    DOCUMENT = "edxml.xsd"
    STATUS = "status.xsd"

    @property
    def legacy(self) -> str:
        """The schema of docflow's earlier layout of this kind (read, never written)."""
        return self.value.replace(".xsd", "-legacy.xsd")


_lock = threading.Lock()
_compiled: dict[str, etree.XMLSchema] = {}


def schema_path(name: str) -> Path:
    """Path of a schema or WSDL file shipped with docflow (e.g. ``"edxml.xsd"``)."""
    path = Path(str(resources.files("docflow.schemas").joinpath(name)))
    if not path.is_file():
        raise FileNotFoundError(f"docflow schema file {name!r} is missing from the installation")
    return path


def _schema(name: str) -> etree.XMLSchema:
    schema = _compiled.get(name)
    if schema is None:
        with _lock:
            schema = _compiled.get(name)
            if schema is None:
                # Our own trusted files: includes/imports resolve relative to the file.
                parser = etree.XMLParser(no_network=True, resolve_entities=False)
                doc = etree.parse(str(schema_path(name)), parser)
                schema = etree.XMLSchema(doc)
                _compiled[name] = schema
    return schema


def validate_tree(root: etree._Element, kind: PacketKind, *, legacy: bool = True) -> bool:
    """Validate ``root`` against the strict schema of ``kind`` (the official order), or,
    with ``legacy``, against docflow's earlier layout; raise :class:`SchemaError` (for
    the strict schema) when neither fits. Returns whether it was the legacy layout.

    The error names the XPath and line of the first offending element.
    """
    schema = _schema(kind.value)
    if schema.validate(root):
        return False
    if legacy and _schema(kind.legacy).validate(root):
        return True
    error = schema.error_log[0]
    raise SchemaError(
        _clean(error.message),
        path=error.path or None,
        line=error.line or None,
        hint=f"the packet must follow {kind.value} (see docflow's xsd/ folder)",
    )


def _clean(message: str) -> str:
    # lxml spells elements as {namespace}Name; the namespace is always edXML's here.
    return message.replace("{http://www.mic.gov.vn/TBT/QCVN_102_2016}", "edXML:")
