"""Faults: inject / verify / revert, journaled before they are injected (see base.py, journal.py)."""

from chaosctl.faults.base import FaultContext, FaultRecord
from chaosctl.faults.catalogue import build_fault, fault_from_record
from chaosctl.faults.journal import Journal

__all__ = ["FaultContext", "FaultRecord", "Journal", "build_fault", "fault_from_record"]
