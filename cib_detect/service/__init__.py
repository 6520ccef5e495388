"""The gRPC service ``cib.v1``: thin servicers over the store and the engine."""
