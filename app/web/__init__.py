"""The HTTP side: the Quart app, its routes, errors and telemetry; it reaches the numbers through `Totals`."""
