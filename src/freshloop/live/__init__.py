"""The live room (SPEC LV-1…LV-4). Its public face: `live.models`, `live.events`, and the skeleton
files of its sub-packages `room`, `host`, `flash_sale` and `streams` (docs/live.md)."""
