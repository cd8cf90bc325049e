"""Who may use the hub's management API: staff and consumer tokens bound to one role."""
