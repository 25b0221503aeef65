"""Colorization engines behind one interface (``base.Colorizer``), created through ``registry``."""
