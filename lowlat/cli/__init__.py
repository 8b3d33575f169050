"""The ``lowlat`` command line (also ``python -m lowlat``)."""
