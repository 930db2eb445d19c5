"""How packets travel between nodes: one :class:`Transport` port, several adapters.

Nothing above this port knows which adapter it talks to. Adapters: :class:`InMemoryTransport`
(tests, the simulator); SOAP over HTTP and the national axis's HTTP API come next.
"""

from docflow.transport._port import Endpoint, InMemoryTransport, Transport

__all__ = ["Endpoint", "InMemoryTransport", "Transport"]
