"""The writes of community group buying (SPEC GB-1…GB-4): the module's public face, re-exported
from the feature files (one block per feature)."""

from __future__ import annotations

from freshloop.groupbuy.attachments import (  # noqa: F401
    AttachResult,
    customer_attach,
    groupbuy_person_erase,
    groupbuy_person_merge,
)

# --- group leaders (GB-1) ---
from freshloop.groupbuy.idcard import id_number_check_character  # noqa: F401
from freshloop.groupbuy.leaders import (  # noqa: F401
    leader_apply,
    leader_approve,
    leader_level_save,
    leader_level_set,
    leader_levels_ensure_defaults,
    leader_reinstate,
    leader_reject,
    leader_suspend,
)
