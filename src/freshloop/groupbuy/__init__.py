"""Community group buying (GB-1…GB-4): leaders, commission, tiered group deals, presale.
A sibling of live and food: it never imports them. Empty until the group-buying issue builds it."""
