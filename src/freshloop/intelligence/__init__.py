"""Intelligence (DH-7, DH-8, SC-3): churn, propensity, lifetime value, demand forecast.
Above the data hub; writes its results as data (traits, predictions) that lower modules read.
Empty until the intelligence issue builds it."""
