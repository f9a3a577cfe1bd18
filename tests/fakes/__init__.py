"""Local stand-ins for remote services (LLM and embedding APIs) that speak their real protocols."""
