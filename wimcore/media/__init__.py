"""Media layer: the monthly servicing routine on an installation media folder."""
