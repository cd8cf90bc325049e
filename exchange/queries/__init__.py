"""The exchange itself: signed query and verify requests, answered with signed, audited evidence."""
