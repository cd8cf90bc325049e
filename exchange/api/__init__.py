"""The hub's HTTP layer: routes only; logic lives in the domain services."""
