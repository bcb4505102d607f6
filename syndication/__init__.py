"""syndication: take news from partner agencies and republish it, properly credited, to subscribers."""

__version__ = "0.1.0"
