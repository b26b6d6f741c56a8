"""Reactions to selling and payments (connected by InvoicingConfig.ready())."""
