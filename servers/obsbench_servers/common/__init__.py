"""What every server shares: time ranges, errors, budgets, redaction, guards."""
