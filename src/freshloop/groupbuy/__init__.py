"""Community group buying (GB-1…GB-4): leaders, commission, tiered group deals, presale.
A sibling of live and food: it never imports them. GB-1's first slice (leaders, levels,
customers attaching to a leader) is built; docs/groupbuy.md says what comes next."""
