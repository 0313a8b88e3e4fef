"""Image references: resolving tags to digests, and reading images back out of UserData."""
