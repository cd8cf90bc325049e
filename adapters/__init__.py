"""Department adapters: each wraps one department's legacy system behind one protocol.

The hub reaches departments only through :mod:`adapters.registry`.
"""
