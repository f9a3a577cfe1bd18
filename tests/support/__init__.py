"""Helpers shared by the tests: free ports, starting the real service as a subprocess."""
