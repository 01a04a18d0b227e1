"""Community (SC-2): WeCom groups and activities, abandoned live carts won back. Just below web,
so it may read live, group buying, food, the data hub and intelligence. Empty until the SCRM
issue builds it."""
