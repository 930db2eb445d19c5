"""Emulators of the national axis and the provincial LGSPs: application services over a
docflow store, for testing a node or a province without the real platforms.

One queue model (:class:`AxisQueue`, its registrations in :class:`Agencies`) and one
module per dialect: :mod:`vdxp` (the national axis's API, as its official Java SDK
speaks it), :mod:`lgsp_token` (a token-login REST LGSP, as its real vendor client
speaks it), :mod:`wso2` (Quảng Nam's "Trục liên thông" on WSO2 API Manager: OAuth2
client credentials, per-unit secrets).
Services, not transport adapters: they meet the store and the core here;
``docflow.transport`` holds the clients.
"""

from docflow.emulators._queue import AxisQueue, Queued, RefusalError
from docflow.emulators._systems import AxisSystem
from docflow.emulators.lgsp_token import LgspAccount, TokenLgspApp
from docflow.emulators.vdxp import AxisApp, sdk_timestamp
from docflow.emulators.wso2 import Wso2App, Wso2Consumer
from docflow.store import Agencies, Agency, Registration

__all__ = ["Agencies", "Agency", "AxisApp", "AxisQueue", "AxisSystem", "LgspAccount", "Queued",
           "RefusalError", "Registration", "TokenLgspApp", "Wso2App", "Wso2Consumer",
           "sdk_timestamp"]
