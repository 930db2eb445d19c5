"""How packets travel between nodes: one :class:`Transport` port, several adapters.

Nothing above this port knows which adapter it talks to. Adapters: :class:`InMemoryTransport`
(tests, the simulator), SOAP over HTTP (:class:`SoapClient` to send, :class:`SoapApp`,
a WSGI application, to receive; :func:`serve` runs it under waitress), and the national
axis's HTTP API (:class:`VxpClient`; ``docflow.emulators`` emulates the axis). The
transport holds clients and the SOAP endpoint only: it never imports the store.
"""

from docflow.transport._check import Check, check_channel
from docflow.transport._lgsp_token import LgspItem, TokenLgspClient
from docflow.transport._port import (
    AxisChannel,
    ChannelItem,
    CopyTrace,
    Endpoint,
    InMemoryTransport,
    Mailbox,
    Pending,
    PullOperation,
    PullTransport,
    StatusTrace,
    TraceReport,
    Transport,
)
from docflow.transport._serve import Listening, listen, serve, serve_processes, shutdown
from docflow.transport._soap_client import SoapClient
from docflow.transport._soap_server import SoapApp
from docflow.transport._vxp import VxpClient, VxpItem, VxpSent, sign_headers
from docflow.transport._wso2 import Wso2Client, Wso2Item, Wso2Profile

__all__ = [
    "AxisChannel",
    "ChannelItem",
    "Check",
    "CopyTrace",
    "Endpoint",
    "InMemoryTransport",
    "LgspItem",
    "Listening",
    "Mailbox",
    "Pending",
    "PullOperation",
    "PullTransport",
    "SoapApp",
    "SoapClient",
    "StatusTrace",
    "TokenLgspClient",
    "TraceReport",
    "Transport",
    "VxpClient",
    "VxpItem",
    "VxpSent",
    "Wso2Client",
    "Wso2Item",
    "Wso2Profile",
    "check_channel",
    "listen",
    "serve",
    "serve_processes",
    "shutdown",
    "sign_headers",
]
