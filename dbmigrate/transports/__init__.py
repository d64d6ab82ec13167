"""Transport implementations, one module per driver so that importing one needs no other."""
