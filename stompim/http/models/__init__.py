"""The declared models of the REST API, one module per area (base.py: the base classes)."""
