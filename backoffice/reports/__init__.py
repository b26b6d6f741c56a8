"""The back office's reports: sales, payouts to be, external platform sales history.

Each returns a `Table`. Money is summed per currency, never across currencies.

Sales count what was sold in the period (bookings by their confirmation time; one
cancelled since counts only if a provider took its money, see `sold.py`): "at list
price" is before discounts; gross is
what was paid, tax included, less refunds; refunds are the succeeded refunds of
those bookings (a booking's refund is shared among its lines in proportion to
their totals, to the cent, as its credit note shares it), so that every column
sums to its total. Comps count as tickets, with no money. Platform sales are the
orders the syncs imported, at the totals the platform reported (a platform that
reports none gives tickets only).
Provider fees are not reported by any provider integration yet: the column says so
rather than showing zero. Tax is each line's tax as priced (the invoice's) less
the tax its refunds' credit notes take back (`refund_tax.py`); net = gross - tax.

One module per report, imported directly (this package re-exports nothing):
`sales`, `payouts` and `sync_history`; `filters` holds what they share, the
period and filters of a report page and the imported platform orders they select.
"""
