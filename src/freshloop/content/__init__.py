"""Content library (BM-6): recipes, posters, videos and copy that live, group buying and SCRM
reuse. Sits beside catalog's siblings (inventory, promotions, membership) so every selling module
may read it. Empty until the food issue builds it."""
