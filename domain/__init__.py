"""Pure domain rules of the e-consultation: working-day calendar and co-payment."""
