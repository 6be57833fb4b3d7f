"""The nemesis: faults and topologies, applied in the network around nodes that never know.

Public names are re-exported here; each lives in a small module named for what it is:
``topology`` (partition graphs), ``link_faults`` (the shared per-datagram fault model),
``faults`` (one object per fault kind: draw, check, apply, undo; the registry ``KINDS``),
``faulty_network`` (the in-process transport wrapper), ``udp_router`` (the same faults between
node processes), ``clock`` (per-node clock skew), ``schedule`` (fault schedules and the task that
runs them), ``control`` (an in-process ``ClusterControl``) and ``tap`` (an eavesdropper that
keeps what a client sends, for replay attacks).
"""

from nemesis.clock import SkewableClock as SkewableClock
from nemesis.control import InProcessControl as InProcessControl
from nemesis.faults import KINDS as KINDS
from nemesis.faults import ClusterControl as ClusterControl
from nemesis.faults import FaultKind as FaultKind
from nemesis.faults import NetworkFaultControl as NetworkFaultControl
from nemesis.faulty_network import FaultyNetwork as FaultyNetwork
from nemesis.faulty_network import FaultyTransport as FaultyTransport
from nemesis.link_faults import DelayDistribution as DelayDistribution
from nemesis.link_faults import FaultCounters as FaultCounters
from nemesis.link_faults import FaultModel as FaultModel
from nemesis.link_faults import LinkFaults as LinkFaults
from nemesis.schedule import CRASH_TARGETS as CRASH_TARGETS
from nemesis.schedule import FAULT_KINDS as FAULT_KINDS
from nemesis.schedule import FaultSchedule as FaultSchedule
from nemesis.schedule import ScheduledFault as ScheduledFault
from nemesis.schedule import check_recorded_schedule as check_recorded_schedule
from nemesis.schedule import expand_kinds as expand_kinds
from nemesis.schedule import run_schedule as run_schedule
from nemesis.topology import PARTITION_KINDS as PARTITION_KINDS
from nemesis.topology import Partition as Partition
from nemesis.topology import blocked_links as blocked_links
from nemesis.topology import graph_from_description as graph_from_description
from nemesis.topology import make_partition as make_partition
from nemesis.topology import partition_from_description as partition_from_description
from nemesis.udp_router import UdpRouter as UdpRouter
