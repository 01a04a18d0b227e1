"""The writes of commission, attribution and pickup (GB-2), re-exported from the feature
files: the face other modules (the leader and operator consoles) call."""

from __future__ import annotations

from freshloop.groupbuy.commission.accruals import accruals_mature  # noqa: F401
from freshloop.groupbuy.commission.attribution import (  # noqa: F401
    order_attribute,
    order_refund_attributed,
    pickup_confirm,
)

# The statement files are reads, but exports imports selectors: re-exported here (no cycle)
# for the leader console's downloads.
from freshloop.groupbuy.commission.exports import statement_csv, statement_pdf  # noqa: F401
from freshloop.groupbuy.commission.relevel import RelevelChange, leaders_relevel  # noqa: F401
from freshloop.groupbuy.commission.rules import (  # noqa: F401
    commission_rule_create,
    commission_rule_end,
    commission_rule_save,
)
from freshloop.groupbuy.commission.settlement import (  # noqa: F401
    settlement_run_approve,
    settlement_run_cancel,
    settlement_run_create,
    statement_mark_paid,
)
