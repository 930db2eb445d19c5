"""The harness: a whole province simulated, with faults, and what it proves.

>>> from docflow.harness import Faults
>>> Faults.parse("drop=0.05,tamper=0.01,hub_down=3").describe()
'drop=0.05,tamper=0.01,hub_down=3'

Adapter layer: it builds nodes and hubs on stores and an in-memory transport.
"""

from docflow.harness.directory import quang_nam
from docflow.harness.faults import Faults, FaultStats, FaultyTransport
from docflow.harness.partition import PartitionedSimulation
from docflow.harness.processes import CrashReport, ProcessNetwork
from docflow.harness.proxy import FaultyProxy, ProxyStats
from docflow.harness.report import Latency, SimulationReport
from docflow.harness.simulator import Simulation, SimulationConfig

__all__ = [
    "CrashReport",
    "FaultStats",
    "Faults",
    "FaultyProxy",
    "FaultyTransport",
    "Latency",
    "PartitionedSimulation",
    "ProcessNetwork",
    "ProxyStats",
    "Simulation",
    "SimulationConfig",
    "SimulationReport",
    "quang_nam",
]
