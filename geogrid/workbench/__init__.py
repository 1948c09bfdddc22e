"""The workbench: a plan redrawn by hand — drafts, edits, their figures, proposals, changes.

:class:`Draft` holds a plan being edited as its units' grid codes and an edit log;
:func:`apply_edit` makes one edit; :func:`evaluate` gives every grid's figures and the
problems; :mod:`geogrid.workbench.proposals` lets the redraw and partition propose moves.
The HTTP side is ``api/routes/drafts.py``; the browser app is served at ``/workbench``.
"""

from geogrid.workbench.draft import Delta, Draft, tiling_plan
from geogrid.workbench.edits import Outcome, apply_edit, plan_edit
from geogrid.workbench.evaluate import Evaluation, evaluate

__all__ = [
    "Delta",
    "Draft",
    "Evaluation",
    "Outcome",
    "apply_edit",
    "evaluate",
    "plan_edit",
    "tiling_plan",
]
