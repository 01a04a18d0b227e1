"""Chinese names of the person traits the system itself writes, and of their known values:
shared by the segment builder's menus and the profile page. They live with the person, in
identity (identity.selectors), so the back office's person page reads the same names."""

from __future__ import annotations

from freshloop.identity.selectors import KNOWN_TRAITS, trait_label, trait_value_label

__all__ = ["KNOWN_TRAITS", "trait_label", "trait_value_label"]
