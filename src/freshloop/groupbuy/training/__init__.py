"""Training courses for group leaders (GB-1): lessons, progress and a short quiz."""
