"""The WeCom sandbox's fake directory (staff, customers, tags, groups, transfers), kept in
Django's cache so the web process and the worker see the same corp; and the errcode refusal
every sandbox call raises, as WeCom would answer."""

from __future__ import annotations

import copy
from typing import Any, NoReturn

from django.core.cache import cache

from freshloop.messaging.errors import wecom_error

SANDBOX_CORP_ID = "ww_sandbox_corp"
DIRECTORY_CACHE_KEY = "wecom-sandbox:directory:v1"
WELCOME_CODE_PREFIX = "sandbox-welcome"

# staff → their customers; customers → name/unionid; tag groups; groups with owner and members.
SEED_DIRECTORY: dict[str, Any] = {
    "staff": ["fl_staff_lin", "fl_staff_zhou"],
    "contacts": {
        "wm_sandbox_0001": {"name": "王阿姨", "unionid": "o_sandbox_union_0001"},
        "wm_sandbox_0002": {"name": "李先生", "unionid": "o_sandbox_union_0002"},
        "wm_sandbox_0003": {"name": "陈小姐", "unionid": ""},
    },
    # (staff, external_userid) → remark, tag ids, createtime
    "follows": {
        "fl_staff_lin|wm_sandbox_0001": {"remark": "", "tags": ["et_sandbox_vip"], "at": 0},
        "fl_staff_lin|wm_sandbox_0002": {"remark": "", "tags": [], "at": 0},
        "fl_staff_zhou|wm_sandbox_0003": {"remark": "", "tags": [], "at": 0},
    },
    "tag_groups": [
        {
            "group_id": "etg_sandbox_level",
            "name": "客户等级",
            "tags": [["et_sandbox_vip", "VIP"], ["et_sandbox_new", "新客"]],
        }
    ],
    "groups": {
        "wr_sandbox_group_01": {
            "name": "鲜环福利群 1 群",
            "owner": "fl_staff_lin",
            "members": ["fl_staff_lin", "wm_sandbox_0001", "wm_sandbox_0002"],
        }
    },
}


def directory() -> dict[str, Any]:
    found = cache.get(DIRECTORY_CACHE_KEY)
    if found is None:
        found = copy.deepcopy(SEED_DIRECTORY)
        cache.set(DIRECTORY_CACHE_KEY, found, None)
    return dict(found)


def save(found: dict[str, Any]) -> None:
    cache.set(DIRECTORY_CACHE_KEY, found, None)


def refuse(errcode: int, errmsg: str) -> NoReturn:
    raise wecom_error(errcode, errmsg)
