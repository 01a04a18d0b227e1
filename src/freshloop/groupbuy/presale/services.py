"""The writes of presale (GB-4), re-exported from the feature files: operators set presales up
(`setup`) and launch them in live rooms (`live_cards`), buyers pay deposits and balances
(`buying`), the periodic job moves presales through their windows and settles them
(`closing`)."""

from __future__ import annotations

from freshloop.groupbuy.presale.buying import (  # noqa: F401
    PurchaseResult,
    presale_balance_pay,
    presale_deposit_pay,
)
from freshloop.groupbuy.presale.closing import (  # noqa: F401
    REFUND_EFFECT,
    AdvanceResult,
    balance_reminders_send,
    presale_close,
    presale_deposit_refund,
    presale_purchases_settle,
    presales_advance,
    purchase_settle,
)
from freshloop.groupbuy.presale.live_cards import (  # noqa: F401
    presale_live_launch,
    presale_live_withdraw,
)
from freshloop.groupbuy.presale.setup import (  # noqa: F401
    PresaleTerms,
    presale_cancel,
    presale_create,
    presale_update,
)
