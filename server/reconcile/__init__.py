"""Reconciliation: the only place that decides which CI a fact belongs to."""

from cmdb.server.reconcile.engine import ReconcileError, ReconcileResult, reconcile

__all__ = ["ReconcileError", "ReconcileResult", "reconcile"]
