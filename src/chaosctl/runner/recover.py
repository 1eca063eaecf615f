"""`chaosctl recover`: revert whatever the journal says may still be in place.

Newest first (reverse injection order, as the run would have), each revert
idempotent, each success journaled, so running it twice is harmless. Returns how
many faults were reverted when nothing is left; raises RunFailed when a revert failed
(what failed is printed; run it again once the component answers: the CLI's exit 4,
never 1, which CI reads as "an SLO failed"). A SIGINT/SIGTERM waits until every revert
was tried (then Interrupted). The caller holds the run lock (chaosctl.runner.entry.recover).
"""

from __future__ import annotations

from typing import Callable

from chaosctl.errors import Interrupted, RunFailed
from chaosctl.faults.base import FaultContext
from chaosctl.faults.catalogue import fault_from_record
from chaosctl.faults.journal import Journal
from chaosctl.settings import Settings

from .signals import SignalGuard


def recover_faults(settings: Settings, echo: Callable[[str], None] = print, ctx: FaultContext | None = None) -> int:
    stop_orphans(settings, echo)
    journal = Journal(settings.journal_path)
    pending = journal.pending()
    if not pending:
        journal.clear_if_done()
        echo(f"nothing to recover: the journal {journal.path} has no fault in place")
        return 0
    ctx = ctx or FaultContext.for_settings(settings)
    failed = 0
    try:
        with SignalGuard() as guard:  # no interruptible block: a signal waits for every revert
            for record in reversed(pending):
                try:
                    fault_from_record(record, ctx).revert()
                except Exception as exc:  # noqa: BLE001 - report and go on with the others
                    failed += 1
                    echo(f"FAILED to revert {record.label} (id {record.id}): {exc}")
                    continue
                journal.record_reverted(record.id)
                echo(f"reverted {record.label} (id {record.id})")
    finally:
        ctx.close()
    journal.clear_if_done()
    if guard.received is not None:
        left = len(journal.pending())
        raise Interrupted(f"recover interrupted by {guard.signal_name} after its reverts; "
                          f"{left} fault(s) left in the journal" + (": run `chaosctl recover` again" if left else ""))
    if failed:
        raise RunFailed(f"{failed} fault(s) could not be reverted; they stay in the journal, run `chaosctl recover` again")
    echo(f"recovered {len(pending)} fault(s); nothing is left in place")
    return len(pending)


def stop_orphans(settings: Settings, echo: Callable[[str], None]) -> None:
    """The processes an interrupted run left behind: its Locust, its Toxiproxy, autoscaler replicas."""
    from chaosctl.faults.proxyserver import stop_orphans as stop_proxies
    from chaosctl.load.locust_run import stop_orphans as stop_locust
    from chaosctl.services.autoscaler.replicas import stop_orphans as stop_replicas

    from .engine import load_pidfile

    for pid in stop_locust(load_pidfile(settings)):
        echo(f"stopped Locust process group {pid} left by an interrupted run")
    for pid in stop_proxies(settings):  # its toxics go with it: those link reverts then find nothing to do
        echo(f"stopped chaosctl's Toxiproxy for a System's links (pid {pid}) left by an interrupted run")
    for name in stop_replicas(settings.state_dir, settings.port_base):
        echo(f"stopped autoscaler replica {name}: its autoscaler is not running")
