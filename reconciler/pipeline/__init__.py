"""The reconcile pipeline: observe, diff, plan, apply, and the status read from their records."""
