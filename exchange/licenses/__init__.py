"""The shared electronic-license store: certificates synced from departments, sealed as SD-JWT VCs."""
