"""Food features (FD-1…FD-6): subscriptions, pantry, traceability, recipes, regional pools,
seasonal calendar. A sibling of live and groupbuy: it never imports them. Empty until the food
issue builds it."""
