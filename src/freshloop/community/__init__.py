"""Community (SC-2): WeCom customer groups synced to OneID, 群活码, welcome templates, topic
prompts, the keyword assistant, activities (check-in, lucky draw, group challenge) and group
health. Above `scrm`, just below `web`, so it may read live, group buying, food, the data hub
and intelligence."""
