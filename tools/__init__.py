"""Tools beside the service, kept out of its image: the reference numbers backend."""
