"""SCRM on WeCom (SC-1): contacts tied to OneID, SOP journeys, mass messages. Above
intelligence and the data hub; sends through messaging. Empty until the SCRM issue builds it."""
